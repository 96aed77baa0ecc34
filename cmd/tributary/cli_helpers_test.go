package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/internal/testbroker"
	"github.com/tributary-io/tributary/server"
)

// update rewrites the golden files in testdata/ (and deploy/tributary.properties).
var update = flag.Bool("update", false, "rewrite golden files")

// cliBroker is a broker served in-process over a temp data dir.
type cliBroker struct {
	addr string
}

// startCLIBroker starts a broker on a random loopback port
// (testbroker.Start); it is closed at the end of the test. cfg, if given,
// adjusts the server's settings.
func startCLIBroker(t *testing.T, cfg ...func(*server.Config)) *cliBroker {
	t.Helper()
	return &cliBroker{addr: testbroker.Start(t, cfg...).Addr}
}

// cliResult is what one in-process run of tributary printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// newTestRoot builds a fresh command tree, so that no flag value leaks from
// one run to the next.
func newTestRoot() *cobra.Command {
	root := newRootCmd(new(string))
	root.AddCommand(newServeCmd(), newTopicCmd(), newProduceCmd(), newConsumeCmd(), newGroupCmd(), newACLCmd(), newUserCmd(), newClusterCmd())
	return root
}

// runCLI runs tributary in-process with stdin and args.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(newTestRoot(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

// run runs a client command against the broker.
func (b *cliBroker) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, stdin, append([]string{"--brokers", b.addr}, args...)...)
}

// must runs a client command and fails the test unless it exits 0.
func (b *cliBroker) must(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	r := b.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("tributary %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs a client command and checks that it exits with code and a
// one-line error containing want.
func (b *cliBroker) fails(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	r := b.run(t, "", args...)
	if r.code != code {
		t.Fatalf("tributary %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	checkOneLineError(t, r.stderr, want)
}

func checkOneLineError(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "tributary: ") || !strings.Contains(last, want) {
		t.Fatalf("error line %q: want \"tributary: ...%s...\"", last, want)
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "tributary:") || strings.HasPrefix(l, "Usage") {
			t.Fatalf("error is not one line:\n%s", stderr)
		}
	}
}

// client is a franz-go client for setting up records the CLI then reads.
func (b *cliBroker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// runBounded runs a client command in-process and fails the test if it
// has not returned within limit: the bugs these tests guard against are
// commands that never end.
func (b *cliBroker) runBounded(t *testing.T, limit time.Duration, args ...string) cliResult {
	t.Helper()
	done := make(chan cliResult, 1)
	go func() { done <- b.run(t, "", args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("tributary %s did not end within %v", strings.Join(args, " "), limit)
		return cliResult{}
	}
}
