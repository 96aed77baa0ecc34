package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// fdLimitChildEnv names the data dir TestFileLimitChild uses when the test
// binary is re-executed as the process whose RLIMIT_NOFILE is lowered.
const fdLimitChildEnv = "TRIBUTARY_TEST_FD_LIMIT_CHILD_DIR"

// TestOutOfFileDescriptorsIsAClearError runs a Manager in a child process
// whose open files limit (RLIMIT_NOFILE) leaves room for a few partitions
// only: creating more fails with ErrFileLimit, an ERROR line names the
// limit and "ulimit -n", and the partitions made before still take appends.
func TestOutOfFileDescriptorsIsAClearError(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLimitChild$", "-test.v")
	cmd.Env = append(os.Environ(), fdLimitChildEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestFileLimitChild") {
		t.Fatal("the child did not run its checks")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFileLimitChild is the child of TestOutOfFileDescriptorsIsAClearError;
// run directly it skips.
func TestFileLimitChild(t *testing.T) {
	dir := os.Getenv(fdLimitChildEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestOutOfFileDescriptorsIsAClearError")
	}
	var logs syncBuffer
	cfg := quietConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m, err := log.OpenManager(dir, log.Options{Defaults: &cfg, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first, err := m.CreateTopic("first", 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.CreateTopic("second", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	// Room for about 20 more descriptors: fewer than 100 partitions need.
	lim := syscall.Rlimit{Cur: uint64(len(ents) + 20), Max: uint64(len(ents) + 20)}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim.Max = old.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	_, err = m.CreateTopic("many", 100, nil)
	if !errors.Is(err, log.ErrFileLimit) {
		t.Fatalf("creating 100 partitions with %d descriptors left: %v, want ErrFileLimit", 20, err)
	}
	t.Logf("error: %v", err)
	if _, ok := m.Topic("many"); ok {
		t.Error("the topic that failed exists")
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "file descriptors") {
			line = l
		}
	}
	if !strings.Contains(line, "ulimit -n") {
		t.Errorf("no ERROR line naming the limit and ulimit -n; log:\n%s", logs.String())
	}
	for p, l := range first.Partitions {
		if _, err := l.Append(recordbatch.Build(2, 100, tsBase)); err != nil {
			t.Errorf("append to partition %d made before: %v", p, err)
		}
	}
	// No descriptor left at all: an append whose index must grow (which
	// opens the index file for a moment) fails whole, and says why.
	var fill []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	l := second.Partitions[0]
	if _, err := l.Append(recordbatch.Build(2, 100, tsBase)); !errors.Is(err, log.ErrFileLimit) {
		t.Errorf("append needing an index block with no descriptor left: %v, want ErrFileLimit", err)
	} else {
		t.Logf("append: %v", err)
	}
	if l.NextOffset() != 0 {
		t.Errorf("the failed append moved the log end to %d", l.NextOffset())
	}
	for _, f := range fill {
		f.Close()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(recordbatch.Build(2, 100, tsBase)); err != nil || l.NextOffset() != 2 {
		t.Errorf("append with descriptors back: %v, log end %d", err, l.NextOffset())
	}
	// With descriptors back, the topic can be made.
	if _, err := m.CreateTopic("many", 100, nil); err != nil {
		t.Fatalf("after raising the limit: %v", err)
	}
	fmt.Println("checked")
}
