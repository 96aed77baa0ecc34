package log_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// lockChildEnv names the data dir TestLockChild tries to open when the test
// binary is re-executed as a second broker process.
const lockChildEnv = "TRIBUTARY_TEST_LOCK_CHILD_DIR"

// Exit codes of TestLockChild.
const (
	lockChildLocked = 3 // OpenManager returned ErrLocked
	lockChildOpened = 4 // OpenManager succeeded
	lockChildOther  = 5 // any other error
)

func quietOptions() log.Options {
	d := quietConfig()
	return log.Options{Defaults: &d, Logger: slog.New(slog.DiscardHandler)}
}

func openManager(t *testing.T, dir string, opts log.Options) *log.Manager {
	t.Helper()
	m, err := log.OpenManager(dir, opts)
	if err != nil {
		t.Fatalf("OpenManager(%s): %v", dir, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestManagerLock(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	_, err := log.OpenManager(dir, quietOptions())
	if !errors.Is(err, log.ErrLocked) {
		t.Fatalf("second OpenManager on %s: %v, want ErrLocked", dir, err)
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "locked") {
		t.Errorf("ErrLocked message %q does not name the dir and the problem", msg)
	}
	t.Logf("second open: %v", err)
	// The failed attempt must not have broken the first Manager's lock.
	if _, err := log.OpenManager(dir, quietOptions()); !errors.Is(err, log.ErrLocked) {
		t.Fatalf("third OpenManager: %v, want ErrLocked", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatalf("OpenManager after Close: %v", err)
	}
	m2.Close()
}

// TestLockChild is the second process of TestManagerLockOtherProcess; run
// directly it skips.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestManagerLockOtherProcess")
	}
	m, err := log.OpenManager(dir, quietOptions())
	switch {
	case errors.Is(err, log.ErrLocked):
		os.Exit(lockChildLocked)
	case err == nil:
		m.Close()
		os.Exit(lockChildOpened)
	default:
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(lockChildOther)
	}
}

func runLockChild(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("running the child: %v: %s", err, out)
	}
	return 0
}

func TestManagerLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	if code := runLockChild(t, dir); code != lockChildLocked {
		t.Fatalf("second process on a locked dir exited %d, want %d (ErrLocked)", code, lockChildLocked)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if code := runLockChild(t, dir); code != lockChildOpened {
		t.Fatalf("second process after Close exited %d, want %d (opened)", code, lockChildOpened)
	}
}

func TestManagerTopics(t *testing.T) {
	dir := t.TempDir()
	opts := quietOptions()
	m := openManager(t, dir, opts)

	overrides := map[string]string{log.ConfigRetentionMs: "3600000", log.ConfigSegmentBytes: "65536"}
	topic, err := m.CreateTopic("events", 3, overrides)
	if err != nil {
		t.Fatal(err)
	}
	if topic.Name != "events" || len(topic.Partitions) != 3 || topic.ID == (log.TopicID{}) {
		t.Fatalf("created %+v", topic)
	}
	for p, l := range topic.Partitions {
		if c := l.Config(); c.RetentionMs != 3_600_000 || c.SegmentBytes != 65536 {
			t.Errorf("partition %d: retention.ms %d segment.bytes %d, overrides not applied", p, c.RetentionMs, c.SegmentBytes)
		}
		if want := filepath.Join(dir, "events-"+string(rune('0'+p))); l.Dir() != want {
			t.Errorf("partition %d in %s, want %s", p, l.Dir(), want)
		}
	}
	other, err := m.CreateTopic("other.topic_1-x", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == topic.ID {
		t.Fatal("two topics got the same id")
	}

	for _, name := range []string{"", ".", "..", "a/b", "../escape", "sp ace", "ünï", "a\x00b", strings.Repeat("a", 250)} {
		if _, err := m.CreateTopic(name, 1, nil); !errors.Is(err, log.ErrInvalidTopic) {
			t.Errorf("CreateTopic(%q): %v, want ErrInvalidTopic", name, err)
		}
	}
	if _, err := m.CreateTopic("events", 3, nil); !errors.Is(err, log.ErrTopicExists) {
		t.Errorf("duplicate CreateTopic: %v, want ErrTopicExists", err)
	}
	for _, bad := range []map[string]string{
		{"retention.msec": "1"},
		{"no.such.config": "x"},
		{log.ConfigRetentionMs: "soon"},
		{log.ConfigSegmentBytes: "1"},
		{log.ConfigCleanupPolicy: "shred"},
		{log.ConfigMessageTimestampType: "WallClock"},
	} {
		if _, err := m.CreateTopic("badconfig", 1, bad); !errors.Is(err, log.ErrInvalidConfig) {
			t.Errorf("CreateTopic with %v: %v, want ErrInvalidConfig", bad, err)
		}
	}
	for _, n := range []int{0, -1, log.MaxPartitions + 1} {
		if _, err := m.CreateTopic("parts", n, nil); !errors.Is(err, log.ErrInvalidPartitions) {
			t.Errorf("CreateTopic with %d partitions: %v, want ErrInvalidPartitions", n, err)
		}
	}
	if _, ok := m.Topic("badconfig"); ok {
		t.Error("a rejected CreateTopic left a topic behind")
	}
	if _, err := os.Stat(filepath.Join(dir, "badconfig-0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected CreateTopic left a partition dir: %v", err)
	}

	// Data on every partition, found again through Partition.
	data := map[int][]storedBatch{}
	for p := range 3 {
		l, ok := m.Partition("events", int32(p))
		if !ok || l != topic.Partitions[p] {
			t.Fatalf("Partition(events, %d) = %v, %v", p, l, ok)
		}
		data[p] = appendRecords(t, l, 3+p, 4, tsBase+int64(p)*1000, 10)
		checkContents(t, l, data[p])
	}
	for _, p := range []int32{-1, 3} {
		if _, ok := m.Partition("events", p); ok {
			t.Errorf("Partition(events, %d) exists", p)
		}
	}
	if _, ok := m.Partition("nope", 0); ok {
		t.Error("Partition of an unknown topic exists")
	}
	if got := m.Topics(); len(got) != 2 || got[0].Name != "events" || got[1].Name != "other.topic_1-x" {
		t.Errorf("Topics() = %d topics, not sorted by name", len(got))
	}

	// Reopen: topics, ids, overrides and data are back.
	id := topic.ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, opts)
	topic, ok := m.Topic("events")
	if !ok || topic.ID != id || len(topic.Partitions) != 3 {
		t.Fatalf("after reopen: %v, ok %v", topic, ok)
	}
	if topic.Overrides[log.ConfigRetentionMs] != "3600000" || topic.Overrides[log.ConfigSegmentBytes] != "65536" || len(topic.Overrides) != 2 {
		t.Errorf("overrides after reopen: %v", topic.Overrides)
	}
	for p, l := range topic.Partitions {
		if c := l.Config(); c.RetentionMs != 3_600_000 || c.SegmentBytes != 65536 {
			t.Errorf("partition %d after reopen: overrides not applied", p)
		}
		checkContents(t, l, data[p])
	}

	// AddPartitions.
	if err := m.AddPartitions("events", 3); !errors.Is(err, log.ErrInvalidPartitions) {
		t.Errorf("AddPartitions to the same count: %v, want ErrInvalidPartitions", err)
	}
	if err := m.AddPartitions("nope", 4); !errors.Is(err, log.ErrUnknownTopic) {
		t.Errorf("AddPartitions on an unknown topic: %v, want ErrUnknownTopic", err)
	}
	if err := m.AddPartitions("events", 5); err != nil {
		t.Fatal(err)
	}
	topic, _ = m.Topic("events")
	if len(topic.Partitions) != 5 {
		t.Fatalf("%d partitions after AddPartitions(5)", len(topic.Partitions))
	}
	for p := 3; p < 5; p++ {
		l, ok := m.Partition("events", int32(p))
		if !ok || l.Config().SegmentBytes != 65536 {
			t.Fatalf("new partition %d: ok %v, overrides not applied", p, ok)
		}
		data[p] = appendRecords(t, l, 2, 1, tsBase, 10)
	}

	// AlterTopicConfig replaces the overrides on every partition.
	if err := m.AlterTopicConfig("events", map[string]string{"bogus": "1"}); !errors.Is(err, log.ErrInvalidConfig) {
		t.Errorf("AlterTopicConfig with an unknown config: %v, want ErrInvalidConfig", err)
	}
	if err := m.AlterTopicConfig("nope", nil); !errors.Is(err, log.ErrUnknownTopic) {
		t.Errorf("AlterTopicConfig on an unknown topic: %v, want ErrUnknownTopic", err)
	}
	altered := map[string]string{log.ConfigRetentionBytes: "1048576", log.ConfigMaxMessageBytes: "4096"}
	if err := m.AlterTopicConfig("events", altered); err != nil {
		t.Fatal(err)
	}
	checkAltered := func(m *log.Manager) {
		t.Helper()
		topic, _ := m.Topic("events")
		if len(topic.Overrides) != 2 || topic.Overrides[log.ConfigRetentionBytes] != "1048576" {
			t.Errorf("overrides %v, want %v", topic.Overrides, altered)
		}
		for p, l := range topic.Partitions {
			c := l.Config()
			if c.RetentionBytes != 1<<20 || c.MaxMessageBytes != 4096 {
				t.Errorf("partition %d: retention.bytes %d max.message.bytes %d after AlterTopicConfig", p, c.RetentionBytes, c.MaxMessageBytes)
			}
			if c.RetentionMs != log.DefaultRetentionMs || c.SegmentBytes != quietConfig().SegmentBytes {
				t.Errorf("partition %d: dropped overrides still apply (retention.ms %d, segment.bytes %d)", p, c.RetentionMs, c.SegmentBytes)
			}
		}
	}
	checkAltered(m)
	l0, _ := m.Partition("events", 0)
	if _, err := l0.Append(recordbatch.BuildSized(8192, tsBase)); !errors.Is(err, log.ErrMessageTooLarge) {
		t.Errorf("append over the altered max.message.bytes: %v, want ErrMessageTooLarge", err)
	}

	// DeleteTopic removes dirs and metadata.
	if err := m.DeleteTopic("other.topic_1-x"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteTopic("other.topic_1-x"); !errors.Is(err, log.ErrUnknownTopic) {
		t.Errorf("second DeleteTopic: %v, want ErrUnknownTopic", err)
	}
	if _, ok := m.Topic("other.topic_1-x"); ok {
		t.Error("deleted topic still listed")
	}
	checkDeleted := func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "other.topic_1-x") {
				t.Errorf("deleted topic left %s", e.Name())
			}
		}
		metas, _ := os.ReadDir(filepath.Join(dir, "meta", "topics"))
		for _, e := range metas {
			if strings.HasPrefix(e.Name(), "other.topic_1-x") {
				t.Errorf("deleted topic left metadata %s", e.Name())
			}
		}
	}
	checkDeleted()

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, opts)
	checkAltered(m)
	checkDeleted()
	if _, ok := m.Topic("other.topic_1-x"); ok {
		t.Error("deleted topic came back after reopen")
	}
	topic, _ = m.Topic("events")
	if len(topic.Partitions) != 5 || topic.ID != id {
		t.Fatalf("after reopen: %d partitions, id changed %v", len(topic.Partitions), topic.ID != id)
	}
	for p, l := range topic.Partitions {
		checkContents(t, l, data[p])
	}
	// The name is free again, and the new topic starts empty.
	again, err := m.CreateTopic("other.topic_1-x", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range again.Partitions {
		if l.NextOffset() != 0 || l.Size() != 0 {
			t.Errorf("recreated topic partition %s is not empty", l.Dir())
		}
	}
}

// TestManagerLongTopicNames: Kafka allows topic names of up to 249
// characters; a topic with such a name must be creatable, usable, reopened
// and deleted.
func TestManagerLongTopicNames(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	for _, n := range []int{240, 245, 247, 249} {
		name := strings.Repeat("x", n-1) + "y"
		topic, err := m.CreateTopic(name, 2, nil)
		if err != nil {
			t.Errorf("CreateTopic with a %d-character name: %v", n, err)
			continue
		}
		appendRecords(t, topic.Partitions[1], 2, 1, tsBase, 10)
		if err := m.DeleteTopic(name); err != nil {
			t.Errorf("DeleteTopic with a %d-character name: %v", n, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, quietOptions())
	if n := len(m.Topics()); n != 0 {
		t.Errorf("%d deleted topics came back", n)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "xxx") {
			t.Errorf("deleted topic left %s", e.Name())
		}
	}
}

func TestManagerBackgroundRetention(t *testing.T) {
	opts := quietOptions()
	opts.RetentionCheckInterval = 50 * time.Millisecond
	m := openManager(t, t.TempDir(), opts)
	topic, err := m.CreateTopic("logs", 2, map[string]string{
		log.ConfigSegmentBytes:   "4096",
		log.ConfigRetentionBytes: "8192",
		log.ConfigRetentionMs:    "-1", // by size only: the test batches carry 2023 timestamps
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range topic.Partitions {
		appendRecords(t, l, 60, 2, tsBase, 10)
		if l.NumSegments() < 5 {
			t.Fatalf("%d segments, want several", l.NumSegments())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range topic.Partitions {
		for l.StartOffset() == 0 || l.Size() > 8192+4096 {
			if time.Now().After(deadline) {
				t.Fatalf("background retention did not run: start %d, %d bytes in %d segments", l.StartOffset(), l.Size(), l.NumSegments())
			}
			time.Sleep(10 * time.Millisecond)
		}
		readAll(t, l)
	}
}

// flush.ms measures the age of unflushed data on the monotonic clock: a
// wall clock stepped back (an NTP step, a VM restored) must not hold back
// fsyncs for the length of the step, as a stored wall-clock time would.
func TestFlushMsAgeIsMeasuredOnTheMonotonicClock(t *testing.T) {
	m := openManager(t, t.TempDir(), quietOptions())
	topic, err := m.CreateTopic("aged", 1, map[string]string{log.ConfigFlushMs: "3600000"})
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	appendRecords(t, l, 1, 2, tsBase, 10)
	since, dirty := log.UnflushedSince(l)
	if !dirty {
		t.Fatal("an append left nothing unflushed")
	}
	// Only a time that carries a monotonic reading prints "m=±…".
	if !strings.Contains(since.String(), " m=") {
		t.Errorf("the last flush time %v carries no monotonic reading: its age would follow wall-clock steps", since)
	}
	if age := time.Since(since); age < 0 || age > time.Minute {
		t.Errorf("unflushed for %v, want a small non-negative age", age)
	}
}

func TestManagerFlushMs(t *testing.T) {
	opts := quietOptions()
	opts.FlushSchedulerInterval = 20 * time.Millisecond
	m := openManager(t, t.TempDir(), opts)
	topic, err := m.CreateTopic("flushed", 1, map[string]string{log.ConfigFlushMs: "10"})
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	appendRecords(t, l, 5, 2, tsBase, 10)
	deadline := time.Now().Add(10 * time.Second)
	for l.FlushedOffset() < l.NextOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("flush.ms=10: flushed offset %d never reached %d", l.FlushedOffset(), l.NextOffset())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Without flush.ms (the default) nothing flushes in the background.
	lazy, err := m.CreateTopic("lazy", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, lazy.Partitions[0], 5, 2, tsBase, 10)
	time.Sleep(100 * time.Millisecond)
	if f, n := lazy.Partitions[0].FlushedOffset(), lazy.Partitions[0].NextOffset(); f >= n {
		t.Errorf("default flush.ms flushed in the background: flushed %d, end %d", f, n)
	}
}

func TestManagerCloseStopsBackgroundWork(t *testing.T) {
	// Counting goroutines is at the mercy of other tests' leftovers; look
	// for the Manager's own loop in the stacks instead.
	running := func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "log.(*Manager).run")
	}
	opts := quietOptions()
	opts.RetentionCheckInterval = time.Millisecond
	opts.CheckpointInterval = time.Millisecond
	opts.FlushSchedulerInterval = time.Millisecond
	m, err := log.OpenManager(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("t", 2, map[string]string{log.ConfigFlushMs: "1"})
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, topic.Partitions[0], 10, 2, tsBase, 10)
	time.Sleep(20 * time.Millisecond)
	if !running() {
		t.Fatal("OpenManager started no background loop")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close waits for the loop, so it is gone by now.
	if running() {
		t.Fatal("the Manager's background loop survived Close")
	}
	if _, err := topic.Partitions[0].Append(recordbatch.Build(1, 10, tsBase)); !errors.Is(err, log.ErrClosed) {
		t.Errorf("append after Manager.Close: %v, want ErrClosed", err)
	}
	// The lock is released.
	m2, err := log.OpenManager(m.Dir(), opts)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	m2.Close()
}

// TestManagerTopicSnapshotsUnderChange: readers walking a topic's partitions
// while it grows and its configs change must see consistent snapshots
// (checked by -race) and never a partition count that goes down.
func TestManagerTopicSnapshotsUnderChange(t *testing.T) {
	m, err := log.OpenManager(t.TempDir(), quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.CreateTopic("grow", 1, nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		last := 0
		for {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			topic, ok := m.Topic("grow")
			if !ok {
				errc <- errors.New("topic vanished")
				return
			}
			n := len(topic.Partitions)
			if n < last {
				errc <- fmt.Errorf("partition count went from %d to %d", last, n)
				return
			}
			last = n
			for _, l := range topic.Partitions {
				_ = l.NextOffset()
				_ = l.Config().RetentionMs
			}
			_ = topic.Overrides[log.ConfigRetentionMs]
		}
	}()
	for n := 2; n <= 8; n++ {
		if err := m.AddPartitions("grow", n); err != nil {
			t.Fatal(err)
		}
		if err := m.AlterTopicConfig("grow", map[string]string{log.ConfigRetentionMs: strconv.Itoa(n * 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	topic, _ := m.Topic("grow")
	if len(topic.Partitions) != 8 || topic.Partitions[7].Config().RetentionMs != 8000 {
		t.Fatalf("final topic: %d partitions, retention.ms %d", len(topic.Partitions), topic.Partitions[7].Config().RetentionMs)
	}
}
