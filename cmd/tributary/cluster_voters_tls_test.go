package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testnet"
)

// TestClusterVoterCommandsOverTLS: against a voter whose CONTROLLER
// traffic is TLS with client certificates required, add-voter and
// remove-voter dial etcd with --etcd-cacert, --etcd-cert and --etcd-key
// (or the key in the certificate's file, a PEM keystore): add-voter adds
// the new node as a learner at an https peer URL, remove-voter reads the
// quorum. Without the flags neither reaches the quorum.
func TestClusterVoterCommandsOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	loop := net.ParseIP("127.0.0.1")
	pki.issue(t, "voter", "voter", []string{"localhost"}, loop)
	adminPEM := pki.issue(t, "admin", "admin", nil)
	files := &cluster.TLSFiles{CertFile: filepath.Join(pki.dir, "voter.crt"), KeyFile: filepath.Join(pki.dir, "voter.key"),
		TrustedCAFile: pki.caFile, ClientCertAuth: true}
	peer := testnet.FreePortPair(t, "127.0.0.1")
	m, err := cluster.StartEmbedded(context.Background(), cluster.EmbedConfig{
		NodeID: 1, DataDir: t.TempDir(), ControllerListen: "127.0.0.1:" + strconv.Itoa(peer),
		Voters:  []cluster.Voter{{NodeID: 1, Host: "127.0.0.1", Port: peer}},
		PeerTLS: files, ClientTLS: files, UnsafeNoFsync: true, StartTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	etcd := "127.0.0.1:" + strconv.Itoa(peer+1)
	newPeer := "127.0.0.1:" + strconv.Itoa(testnet.FreePortPair(t, "127.0.0.1"))
	tlsFlags := []string{"--etcd", etcd, "--etcd-cacert", pki.caFile, "--etcd-cert", filepath.Join(pki.dir, "admin.crt"), "--etcd-key", filepath.Join(pki.dir, "admin.key")}

	// No one starts node 2, so the promotion times out; the learner is
	// added all the same.
	r := runCLI(t, "", append([]string{"--brokers", "127.0.0.1:1", "cluster", "add-voter", "--node-id", "2", "--controller", newPeer, "--timeout", "2s"}, tlsFlags...)...)
	if !strings.Contains(r.stdout, "node 2 is a learner") || !strings.Contains(r.stdout, "https://"+newPeer) {
		t.Fatalf("add-voter over TLS: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	cfg, err := m.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: m.ClientURLs(), TLS: cfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	learner := false
	for _, mb := range list.Members {
		if mb.IsLearner && len(mb.PeerURLs) == 1 && mb.PeerURLs[0] == "https://"+newPeer {
			learner = true
		}
	}
	if !learner {
		t.Fatalf("no learner at https://%s: %+v", newPeer, list.Members)
	}

	// remove-voter of a node that is no member: it read the quorum over
	// TLS (the key from the keystore-style PEM) to say so.
	r = runCLI(t, "", "--brokers", "127.0.0.1:1", "cluster", "remove-voter", "7", "--etcd", etcd, "--etcd-cacert", pki.caFile, "--etcd-cert", adminPEM)
	if r.code == 0 || !strings.Contains(r.stderr, "node 7") || !strings.Contains(r.stderr, "1 voter https://") {
		t.Fatalf("remove-voter 7 over TLS: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}

	// Without a client certificate the voter refuses the handshake.
	r = runCLI(t, "", "--brokers", "127.0.0.1:1", "cluster", "add-voter", "--node-id", "3", "--controller", newPeer, "--timeout", "2s", "--etcd", etcd, "--etcd-cacert", pki.caFile)
	if r.code == 0 || strings.Contains(r.stdout, "learner") {
		t.Fatalf("add-voter without a client certificate: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", "cluster", "remove-voter", "2", "--etcd-key", "k.pem"); r.code == 0 || !strings.Contains(r.stderr, "--etcd-key needs --etcd-cert") {
		t.Fatalf("--etcd-key alone: exit %d: %s", r.code, r.stderr)
	}
}
