package log_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// openFilesChildEnv names the data dir TestOpenFilesChild uses when the
// test binary is re-executed with a low RLIMIT_NOFILE.
const openFilesChildEnv = "TRIBUTARY_TEST_OPEN_FILES_CHILD_DIR"

// Sizes of the open-files test: more partitions than the child's file
// limit allows descriptors.
const (
	openFilesLimit      = 256
	openFilesTopics     = 3
	openFilesPartitions = 200 // per topic
)

// openFilesBatch is the i-th batch appended to partition p of topic t,
// with its base offset, as stored.
func openFilesBatch(t, p, i int) storedBatch {
	b := recordbatch.Build(1, 100, tsBase+int64(t*1_000_000+p*10+i))
	recordbatch.SetBaseOffset(b, int64(i))
	recordbatch.SetPartitionLeaderEpoch(b, 0) // a single broker's Manager leads at epoch 0
	return storedBatch{base: int64(i), data: b}
}

// TestManagerHoldsMorePartitionsThanTheFileLimit: a Manager in a child
// process whose RLIMIT_NOFILE is 256 (so at most 128 active segments keep
// their descriptor, by default) creates 600 partitions and appends to
// every one twice, some flushed in between while their descriptor was
// taken, and holds no more descriptors than the bound. Killed with
// SIGKILL, every acknowledged batch is there at the next open.
func TestManagerHoldsMorePartitionsThanTheFileLimit(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFilesChild$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), openFilesChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out []string
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out = append(out, sc.Text())
		if sc.Text() == "open-files child: ready" {
			ready = true
			break
		}
	}
	cmd.Process.Kill() // kill -9 with every batch acknowledged
	cmd.Wait()
	if !ready {
		t.Fatalf("the child did not get ready:\n%s", strings.Join(out, "\n"))
	}
	t.Logf("child:\n%s", strings.Join(out, "\n"))

	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for ti := range openFilesTopics {
		topic, ok := m.Topic(fmt.Sprintf("t%d", ti))
		if !ok {
			t.Fatalf("topic t%d missing after kill -9", ti)
		}
		for p, l := range topic.Partitions {
			checkContents(t, l, []storedBatch{openFilesBatch(ti, p, 0), openFilesBatch(ti, p, 1)})
		}
	}
}

// TestOpenFilesChild is the child of
// TestManagerHoldsMorePartitionsThanTheFileLimit; run directly it skips.
func TestOpenFilesChild(t *testing.T) {
	dir := os.Getenv(openFilesChildEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestManagerHoldsMorePartitionsThanTheFileLimit")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = openFilesLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	var topics []*log.Topic
	for ti := range openFilesTopics {
		topic, err := m.CreateTopic(fmt.Sprintf("t%d", ti), openFilesPartitions, nil)
		if err != nil {
			t.Fatalf("create topic %d of %d partitions with a file limit of %d: %v", ti, openFilesPartitions, openFilesLimit, err)
		}
		topics = append(topics, topic)
	}
	bound := openFilesLimit / log.DefaultOpenFilesShare
	for i := range 2 {
		for ti, topic := range topics {
			for p, l := range topic.Partitions {
				if _, err := l.Append(openFilesBatch(ti, p, i).data); err != nil {
					t.Fatalf("append %d to t%d-%d: %v", i, ti, p, err)
				}
			}
		}
		if got := fdsUnder(t, dir); got > bound {
			t.Errorf("after pass %d: %d descriptors open in the data dir, want at most %d", i, got, bound)
		}
		if i == 0 {
			// Every partition written, most gave their descriptor up with
			// the batch unflushed: an fsync now goes by path.
			for _, topic := range topics {
				for p, l := range topic.Partitions {
					if p%7 != 0 {
						continue
					}
					if err := l.Sync(); err != nil {
						t.Fatalf("flush of %s after its descriptor was taken: %v", topic.Name, err)
					}
					if l.FlushedOffset() != 1 {
						t.Errorf("%s-%d: flushed offset %d after Sync, want 1", topic.Name, p, l.FlushedOffset())
					}
				}
			}
		}
	}
	fmt.Println("open-files child: ready")
	time.Sleep(time.Minute) // killed by the parent
}
