package peers

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/bench"
)

// TestMain routes a child process that bench.StartBroker started (this
// test binary, re-executed) to the broker it was asked for.
func TestMain(m *testing.M) {
	if bench.ChildKind() != "" {
		os.Exit(bench.ServeChild(ServeBroker))
	}
	os.Exit(m.Run())
}

var peersArgs = flag.String("peers", "", "run the peer benchmark with these arguments (make bench-peers)")

// TestPeers is the peer benchmark itself, run by make bench-peers with
// -peers "ARGS" (see Command); without it, it skips.
func TestPeers(t *testing.T) {
	if *peersArgs == "" {
		t.Skip("the peer benchmark runs with make bench-peers (-peers \"ARGS\")")
	}
	if code := Command(strings.Fields(*peersArgs), os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("peers: exit %d", code)
	}
}
