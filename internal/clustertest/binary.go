package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Environment variables the harness reads.
const (
	// EnvBin names a tributary binary to run instead of building one.
	EnvBin = "TRIBUTARY_BIN"
	// EnvSeed fixes the seed of a run (a decimal uint64), to rerun a
	// failing one.
	EnvSeed = "CLUSTERTEST_SEED"
	// EnvKeep, when set, keeps every cluster's work dir (data dirs and
	// logs); a failed test keeps it anyway.
	EnvKeep = "CLUSTERTEST_KEEP"
	// EnvPowerLossBin names a tributary binary built with -tags
	// powerloss,clockfault to run instead of building one (FaultBinary).
	EnvPowerLossBin = "TRIBUTARY_POWERLOSS_BIN"
)

// modulePath is the import path of the binary Binary builds.
const modulePath = "github.com/tributary-io/tributary/cmd/tributary"

// buildTimeout bounds go build of the binary (a cold cache on a shared,
// two-core machine).
const buildTimeout = 5 * time.Minute

// variant is one build of the binary: plain, or with build tags.
type variant struct {
	once sync.Once
	bin  string
	err  error
}

var (
	buildDirMu sync.Mutex
	buildDir   string // holds every variant built; removed by Main

	plainBuild variant // Binary
	faultBuild variant // FaultBinary
)

// Binary returns $TRIBUTARY_BIN, or cmd/tributary built once per test
// binary (without -race: the broker under test is the one operators
// run). It must run inside the module, as a test does.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin
	}
	return plainBuild.get(t, "tributary")
}

// FaultBinary returns $TRIBUTARY_POWERLOSS_BIN, or cmd/tributary built
// once per test binary with -tags powerloss,clockfault: the same broker,
// whose every fsync is also journaled (internal/syncjournal) and whose
// wall clock is offset by a file (internal/wallclock) when the harness
// asks for it, so that PowerLoss can drop what was not durable and
// ClockJump can move its clock. One build serves both, for the chaos run
// draws both.
func FaultBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvPowerLossBin); bin != "" {
		return bin
	}
	return faultBuild.get(t, "tributary-fault", "-tags", "powerloss,clockfault")
}

// PowerLossBinary is FaultBinary.
func PowerLossBinary(t testing.TB) string {
	t.Helper()
	return FaultBinary(t)
}

// get builds the variant once, into buildDir/name, with the extra go
// build flags.
func (v *variant) get(t testing.TB, name string, flags ...string) string {
	t.Helper()
	v.once.Do(func() {
		buildDirMu.Lock()
		if buildDir == "" {
			buildDir, v.err = os.MkdirTemp("", "clustertest-bin-")
		}
		dir := buildDir
		buildDirMu.Unlock()
		if v.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		bin := filepath.Join(dir, name)
		args := append(append([]string{"build"}, flags...), "-o", bin, modulePath)
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			v.err = fmt.Errorf("clustertest: go %v: %w\n%s", args, err, out)
			return
		}
		v.bin = bin
	})
	if v.err != nil {
		t.Fatal(v.err)
	}
	return v.bin
}

// Main runs the tests of m and removes the binary Binary built, for a
// package's TestMain: os.Exit(clustertest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	buildDirMu.Lock()
	defer buildDirMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// Seed returns the seed of a run, $CLUSTERTEST_SEED or the clock's, and
// a generator seeded with it; it logs the seed and how to rerun with it.
func Seed(t testing.TB) (uint64, *rand.Rand) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(EnvSeed); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("clustertest: %s=%q is not a uint64", EnvSeed, s)
		}
		seed = n
	}
	t.Logf("clustertest: seed %d (rerun with %s=%d)", seed, EnvSeed, seed)
	return seed, rand.New(rand.NewPCG(seed, 0x636c7573))
}
