package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	flagCycles = flag.Int("chaos.cycles", 3, "broker kill -9 and restart cycles (make chaos runs 20)")
	flagLoad   = flag.Duration("chaos.load", 3*time.Second, "mean time under load between two broker kills")
	flagSeed   = flag.Uint64("chaos.seed", 0, "seed of the harness's random choices (0: from the clock)")
	flagModes  = flag.String("chaos.modes", "", "comma-separated kill modes the cycles take in turn: append, roll, delete (default all)")
	flagBin    = flag.String("chaos.bin", "", "test this tributary binary instead of building ./cmd/tributary")
	flagKeep   = flag.Bool("chaos.keep", false, "keep the work dir (data dir and broker log) and print its path")
)

// binDir holds the binary built for this test binary; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	if IsConsumerChild() {
		os.Exit(ConsumerMain())
	}
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary builds cmd/tributary once per test binary (or returns -chaos.bin).
func binary(t *testing.T) string {
	t.Helper()
	if *flagBin != "" {
		return *flagBin
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tributary-chaos-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		builtBin, buildErr = BuildBinary(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestCrashLoop kills the real broker with SIGKILL -chaos.cycles times under
// produce and group-consume load, killing group members too, and checks
// what the package comment promises.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the broker and consumer processes and kills them: skipped with -short")
	}
	bin := binary(t)
	// The work dir (data dir, broker and member logs) stays for a
	// post-mortem when the test fails, or with -chaos.keep.
	work, err := os.MkdirTemp("", "tributary-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || *flagKeep {
			t.Logf("work dir kept: %s", work)
			return
		}
		os.RemoveAll(work)
	})
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var modes []string
	if *flagModes != "" {
		modes = strings.Split(*flagModes, ",")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*flagCycles)*time.Minute+5*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Bin:        bin,
		WorkDir:    work,
		Cycles:     *flagCycles,
		Load:       *flagLoad,
		Seed:       seed,
		Modes:      modes,
		MemberExe:  exe,
		MemberArgs: []string{"-test.run=^$"},
		Logf:       t.Logf,
	})
	if res != nil {
		summary := res.Summary()
		t.Log(summary)
		fmt.Println(summary) // for make chaos
		for _, v := range res.Violations {
			t.Errorf("violation: %s", v)
		}
	}
	if err != nil || t.Failed() {
		logTail(t, filepath.Join(work, "broker.log"), 8<<10)
		t.Logf("member events: %s", filepath.Join(work, "members.log"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Cycles != *flagCycles {
		t.Fatalf("%d of %d cycles ran", res.Cycles, *flagCycles)
	}
}

// logTail logs the last n bytes of the file at path.
func logTail(t *testing.T, path string, n int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	t.Logf("tail of %s:\n%s", path, b)
}
