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
)

// modulePath is the import path of the binary Binary builds.
const modulePath = "github.com/tributary-io/tributary/cmd/tributary"

// buildTimeout bounds go build of the binary (a cold cache on a shared,
// two-core machine).
const buildTimeout = 5 * time.Minute

var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
)

// Binary returns $TRIBUTARY_BIN, or cmd/tributary built once per test
// binary (without -race: the broker under test is the one operators
// run). It must run inside the module, as a test does.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "clustertest-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		bin := filepath.Join(buildDir, "tributary")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, modulePath).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("clustertest: go build %s: %w\n%s", modulePath, err, out)
			return
		}
		builtBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Main runs the tests of m and removes the binary Binary built, for a
// package's TestMain: os.Exit(clustertest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
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
