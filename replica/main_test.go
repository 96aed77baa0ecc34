package replica

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// leaderRule is a real partition log used only for its validation of a
// leader's batches (log.ValidateBatches as WriterLeader), so that the
// in-memory fakeLog refuses exactly what the real log refuses.
var leaderRule *log.Log

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "replica-leader-rule-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg := log.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if leaderRule, err = log.Open(dir, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer leaderRule.Close()
	return m.Run()
}
