package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

// startTestEtcd starts one embedded etcd member on loopback and returns
// its client URLs; it stops at the end of the test.
func startTestEtcd(t *testing.T) []string {
	t.Helper()
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	peer, client := port(), port()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := cluster.StartEmbedded(ctx, cluster.EmbedConfig{
		NodeID: 1, DataDir: t.TempDir(),
		ControllerListen: "127.0.0.1:" + strconv.Itoa(peer),
		ClientListen:     "127.0.0.1:" + strconv.Itoa(client),
		Voters:           []cluster.Voter{{NodeID: 1, Host: "127.0.0.1", Port: peer}},
		UnsafeNoFsync:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m.ClientURLs()
}

// clusterAuthBroker is a SASL (SCRAM) broker with an authorizer and
// User:admin as super user, not yet on the cluster's store.
func clusterAuthBroker(t *testing.T) *secureBroker {
	t.Helper()
	return startSecureBroker(t, "SASL_PLAINTEXT://127.0.0.1:0", "", map[string]string{
		"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
	}, withAuthorizer("User:admin"))
}

// joinAuth opens a store on eps for b and switches b's credentials and
// ACLs to it; both end with the test.
func joinAuth(t *testing.T, b *secureBroker, eps []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := cluster.OpenEtcdStore(ctx, cluster.EtcdStoreConfig{ClusterID: "auth-test", Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := b.srv.useClusterAuth(ctx, st)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); st.Close() })
}

func (b *secureBroker) scramClient(user, password string) *kgo.Client {
	return b.clientOn("SASL_PLAINTEXT", kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha256Mechanism()))
}

// eventually retries cond until it holds or 10 s pass (the watch latency
// on a loaded machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s never held", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterBrokersShareCredentialsAndACLs: two brokers on one etcd.
// The first broker's offline-made admin is imported (the second's stale
// file is not); a user created through one broker authenticates on the
// other and one deleted through one is gone on both; an ACL created on
// one is enforced on the other and one deleted on the other is gone on
// both. The data dir's files are left as they were.
func TestClusterBrokersShareCredentialsAndACLs(t *testing.T) {
	eps := startTestEtcd(t)
	ctx := testContext(t)
	a, b := clusterAuthBroker(t), clusterAuthBroker(t)
	addUser(t, a.srv, "admin", "admin-secret")
	addUser(t, b.srv, "stale", "stale-secret")
	imported := allowAlice(auth.ResourceTopic, "imported", auth.OpRead)
	if errs := a.srv.authz.Create([]auth.Binding{imported}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	credFile := a.srv.creds.Path()
	fileBefore, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	joinAuth(t, a, eps)
	joinAuth(t, b, eps)

	// The import: admin from a's data dir works on b; b's stale user,
	// whose file came second, works nowhere.
	if err := b.scramClient("admin", "admin-secret").Ping(ctx); err != nil {
		t.Fatalf("admin on b: %v", err)
	}
	for _, br := range []*secureBroker{a, b} {
		if err := br.scramClient("stale", "stale-secret").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("stale user: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	}
	if !b.srv.authz.Authorize(auth.Principal{Type: "User", Name: "alice"}, "127.0.0.1", auth.OpRead, auth.ResourceTopic, "imported") {
		t.Fatal("a's ACL was not imported into the cluster")
	}

	// A user created through b authenticates on a.
	admA, admB := kadm.NewClient(a.scramClient("admin", "admin-secret")), kadm.NewClient(b.scramClient("admin", "admin-secret"))
	res, err := admB.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"}})
	if err != nil || res["carol"].Err != nil {
		t.Fatalf("create carol through b: %v %v", err, res["carol"].Err)
	}
	eventually(t, "carol authenticates on a", func() bool {
		return a.scramClient("carol", "carol-secret").Ping(ctx) == nil
	})
	// Deleted through a: gone on b; deleting again through b is
	// RESOURCE_NOT_FOUND.
	res, err = admA.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || res["carol"].Err != nil {
		t.Fatalf("delete carol through a: %v %v", err, res["carol"].Err)
	}
	eventually(t, "carol refused on b", func() bool {
		return errors.Is(b.scramClient("carol", "carol-secret").Ping(ctx), kerr.SaslAuthenticationFailed)
	})
	res, err = admB.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || !errors.Is(res["carol"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete carol again through b: %v %v, want RESOURCE_NOT_FOUND", err, res["carol"].Err)
	}
	// The store decides, not the broker's view: a deletion that reaches
	// the store for a credential it does not hold changes nothing, and
	// the user's upsertion in the same group is not made either.
	dave, err := auth.NewScramCredential(auth.ScramSHA256, "dave-secret", auth.NewSalt(), auth.MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	errs := a.srv.creds.ApplyEach([][]auth.CredentialChange{{
		{User: "dave", Mechanism: auth.ScramSHA256, Credential: dave},
		{User: "dave", Mechanism: auth.ScramSHA512, Delete: true},
	}})
	if !errors.Is(errs[0], auth.ErrCredentialNotFound) {
		t.Fatalf("ApplyEach: %v, want ErrCredentialNotFound", errs[0])
	}
	described, err := admA.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := described["admin"]; !ok || len(described) != 1 {
		t.Fatalf("users described by a: %v, want admin alone", described)
	}

	// An ACL created through a is enforced by b; deleted through b, it is
	// gone from a.
	bob := auth.Principal{Type: "User", Name: "bob"}
	writeBob := binding(auth.ResourceTopic, auth.PatternPrefixed, "logs-", "User:bob", auth.OpWrite, auth.PermissionAllow)
	createACLs(t, a.scramClient("admin", "admin-secret"), writeBob)
	eventually(t, "b allows bob to write logs-1", func() bool {
		return b.srv.authz.Authorize(bob, "127.0.0.1", auth.OpWrite, auth.ResourceTopic, "logs-1")
	})
	// Created again through b: stored once.
	createACLs(t, b.scramClient("admin", "admin-secret"), writeBob)
	req := kmsg.NewPtrDeleteACLsRequest()
	f := anyACLFilter()
	f.Principal = kmsg.StringPtr("User:bob")
	req.Filters = []kmsg.DeleteACLsRequestFilter{f}
	resp := node0(t, b.scramClient("admin", "admin-secret"), req).(*kmsg.DeleteACLsResponse)
	if r := resp.Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].ResourceName != "logs-" {
		t.Fatalf("DeleteAcls through b: %+v", r)
	}
	eventually(t, "a no longer allows bob", func() bool {
		return !a.srv.authz.Authorize(bob, "127.0.0.1", auth.OpWrite, auth.ResourceTopic, "logs-1")
	})
	if got := describeAllACLs(t, a.scramClient("admin", "admin-secret")).Resources; len(got) != 1 || got[0].ResourceName != "imported" {
		t.Fatalf("ACLs described by a: %+v, want the imported one alone", got)
	}

	// The cluster's writes never touched the data dir's file.
	fileAfter, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fileBefore, fileAfter) {
		t.Fatal("a cluster write changed the data dir's credential file")
	}
}
