package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/testnet"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// probe is one GET of a probe endpoint: status and body (status 0 when
// nothing answered).
func probe(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitProbe polls url until it answers status with a body containing
// want, and returns the body.
func waitProbe(t *testing.T, url string, status int, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := probe(url)
		if code == status && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q after %v, want %d with %q", url, code, body, within, status, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr is a 127.0.0.1 address free now.
func freeAddr(t *testing.T) string { return testnet.FreeAddr(t, "127.0.0.1") }

// TestServeReadyzSingleBroker: a single broker's /readyz is 200 once it
// serves, listing what holds; /healthz stays liveness.
func TestServeReadyzSingleBroker(t *testing.T) {
	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(t.TempDir(), "data"))
	metrics := metricsRe.FindStringSubmatch(srv.waitForLine(t, "serving Kafka clients"))[1]
	body := waitProbe(t, "http://"+metrics+"/readyz", http.StatusOK, "ready\n", 10*time.Second)
	if !strings.Contains(body, "[+]listeners 1 serving\n") || strings.Contains(body, "[-]") {
		t.Errorf("/readyz of a serving broker:\n%s", body)
	}
	if code, body := probe("http://" + metrics + "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	srv.stop(t)
}

// TestServeReadyzWaitsForTheQuorum: a voter started alone is alive
// (/healthz 200, /metrics and /readyz answer) but not ready: /readyz is
// 503 and says it waits for a quorum. Once the other two voters start,
// it is registered, caught up with the metadata and reconciled: 200.
func TestServeReadyzWaitsForTheQuorum(t *testing.T) {
	bin := buildBinary(t)
	type node struct{ ctrl, metrics string }
	nodes := make([]node, 3)
	var voters []string
	for i := range nodes {
		nodes[i] = node{ctrl: freeLoopbackAddr(t), metrics: freeAddr(t)}
		voters = append(voters, strconv.Itoa(i+1)+"@"+nodes[i].ctrl)
	}
	dir := t.TempDir()
	start := func(i int) *serving {
		return startServe(t, bin, filepath.Join(dir, fmt.Sprint("d", i+1)), "--node-id", strconv.Itoa(i+1),
			"--metrics-listen", nodes[i].metrics, "--controller-listen", nodes[i].ctrl,
			"--controller-quorum-voters", strings.Join(voters, ","),
			"--broker.session.timeout.ms", "3000", "--broker.heartbeat.interval.ms", "1000")
	}
	first := start(0)
	readyz := "http://" + nodes[0].metrics + "/readyz"
	body := waitProbe(t, readyz, http.StatusServiceUnavailable, "[-]joined joining: waiting for a quorum of controller.quorum.voters (2 of 3)", 30*time.Second)
	if !strings.HasSuffix(body, "not ready\n") {
		t.Errorf("/readyz before the quorum:\n%s", body)
	}
	if code, body := probe("http://" + nodes[0].metrics + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while waiting for the quorum: %d %q", code, body)
	}
	if code, body := probe("http://" + nodes[0].metrics + "/metrics"); code != http.StatusOK || !strings.Contains(body, "tributary_build_info") {
		t.Errorf("/metrics while waiting for the quorum: %d %.200q", code, body)
	}
	start(1)
	start(2)
	body = waitProbe(t, readyz, http.StatusOK, "\nready\n", 60*time.Second)
	for _, want := range []string{"[+]listeners", "[+]joined cluster ", "[+]registered broker epoch ", "[+]metadata at revision ", "[+]reconciled partitions at revision "} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz once joined lacks %q:\n%s", want, body)
		}
	}
	for i := 1; i < 3; i++ {
		waitProbe(t, "http://"+nodes[i].metrics+"/readyz", http.StatusOK, "\nready\n", 60*time.Second)
	}
	// SIGTERM with the quorum whole: a clean exit. The other two are
	// killed by the cleanup.
	first.stop(t)
}

// TestProbesBeforeAndAfterTheServer: in process (so -race sees it), the
// probes answer before the server exists (alive, not ready, with the
// stage; /metrics 503) and follow it once it serves and once it closes.
func TestProbesBeforeAndAfterTheServer(t *testing.T) {
	var ref atomic.Pointer[server.Server]
	p, err := startProbes("127.0.0.1:0", &ref, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	base := "http://" + p.addr
	p.setStage("recovering the data dir")
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/healthz": {http.StatusOK, "ok\n"},
		"/readyz":  {http.StatusServiceUnavailable, "[-]listeners recovering the data dir\nnot ready\n"},
		"/metrics": {http.StatusServiceUnavailable, "tributary: starting: recovering the data dir\n"},
	} {
		if code, body := probe(base + path); code != want.code || body != want.body {
			t.Errorf("GET %s before the server: %d %q, want %d %q", path, code, body, want.code, want.body)
		}
	}
	m, err := tlog.OpenManager(t.TempDir(), tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := server.New(m, server.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ref.Store(srv)
	if code, body := probe(base + "/readyz"); code != http.StatusServiceUnavailable || body != "[-]listeners no listener open yet\nnot ready\n" {
		t.Errorf("/readyz before Listen: %d %q", code, body)
	}
	if _, err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if code, body := probe(base + "/readyz"); code != http.StatusOK || body != "[+]listeners 1 serving\nready\n" {
		t.Errorf("/readyz serving: %d %q", code, body)
	}
	if code, body := probe(base + "/metrics"); code != http.StatusOK || !strings.Contains(body, "tributary_build_info") {
		t.Errorf("/metrics serving: %d %.200q", code, body)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := probe(base + "/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "[-]listeners closing") {
		t.Errorf("/readyz closed: %d %q", code, body)
	}
	if code, _ := probe(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while closing: %d", code)
	}
}
