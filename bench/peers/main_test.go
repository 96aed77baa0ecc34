package peers

import (
	"os"
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
