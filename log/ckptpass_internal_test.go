package log

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/recordbatch"
)

// syncRecorder records the durable writes of small files and syncfs
// calls made under a directory (syncObserver; not segment flushes), as "op name" with the file's base name.
type syncRecorder struct {
	mu  sync.Mutex
	ops []string
}

func recordSyncs(t *testing.T, dir string) *syncRecorder {
	t.Helper()
	r := &syncRecorder{}
	f := func(op, path string) {
		if !strings.HasPrefix(path, dir) || op == syncOpFlush {
			return // segments' flushes are not checkpoint files
		}
		r.mu.Lock()
		r.ops = append(r.ops, op+" "+filepath.Base(path))
		r.mu.Unlock()
	}
	prev := syncObserver.Swap(&f)
	t.Cleanup(func() { syncObserver.Store(prev) })
	return r
}

// take returns the operations recorded since the last take.
func (r *syncRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

func countOps(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if strings.HasPrefix(o, op+" ") {
			n++
		}
	}
	return n
}

// quietTestManager opens a Manager of dir with no background pass (its
// checkpoints, retention checks and cleaner an hour apart), 16 KiB
// indexes and Kafka's defaults otherwise but flush.messages, which is
// flushMessages; it is closed when the test ends.
func quietTestManager(t *testing.T, dir string, flushMessages int64) *Manager {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SegmentIndexBytes = 16 << 10
	cfg.FlushMessages = flushMessages
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := OpenManager(dir, Options{Defaults: &cfg, CheckpointInterval: time.Hour,
		RetentionCheckInterval: time.Hour, CleanerBackoff: time.Hour, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// passTestManager is a quiet Manager that fsyncs every append, so that
// the recovery offset moves.
func passTestManager(t *testing.T, dir string) *Manager {
	t.Helper()
	return quietTestManager(t, dir, 1)
}

func idempotentBatch(t *testing.T, pid int64, seq int32) []byte {
	t.Helper()
	b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Idempotent: true, ProducerID: pid, BaseSequence: seq},
		[]recordbatch.Record{{Timestamp: 1_700_000_000_000, Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckpointPassCostsTwoSyncfsWhateverThePartitions: a Manager's
// checkpoint pass over many partitions whose recovery checkpoint and
// producer snapshot all changed makes them durable with at most two
// syncfs barriers and no per-file fsync; the files then hold the new
// values; a pass with nothing changed syncs nothing.
func TestCheckpointPassCostsTwoSyncfsWhateverThePartitions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pass batches with syncfs(2), Linux only")
	}
	dir := t.TempDir()
	m := passTestManager(t, dir)
	const partitions = 48
	topic, err := m.CreateTopic("t", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordSyncs(t, dir)
	for round := range 2 { // the first creates the files, the second overwrites them
		for p, l := range topic.Partitions {
			if _, err := l.AppendBatches(idempotentBatch(t, int64(p+1), int32(round))); err != nil {
				t.Fatal(err)
			}
		}
		rec.take()
		m.checkpointAll()
		ops := rec.take()
		if n := countOps(ops, syncOpReplace) + countOps(ops, syncOpFsync); n != 0 {
			t.Errorf("round %d: %d per-file fsyncs in a pass over %d partitions, want 0: %v", round, n, partitions, ops)
		}
		if n := countOps(ops, syncOpSyncFS); n < 1 || n > 2 {
			t.Errorf("round %d: %d syncfs in the pass, want 1 or 2", round, n)
		}
		for p, l := range topic.Partitions {
			pdir := filepath.Join(dir, fmt.Sprintf("t-%d", p))
			c, ok, err := readCheckpoint(pdir)
			if err != nil || !ok || c.recoveryOffset != l.NextOffset() {
				t.Fatalf("round %d: partition %d: checkpoint %+v, %v, %v; want recovery offset %d", round, p, c, ok, err, l.NextOffset())
			}
			s, _, ok, err := readProducerSnapshot(pdir)
			if err != nil || !ok || s.offset != l.NextOffset() || len(s.producers) != 1 {
				t.Fatalf("round %d: partition %d: producer snapshot at %d with %d producers (%v, %v); want 1 at %d",
					round, p, s.offset, len(s.producers), ok, err, l.NextOffset())
			}
			if _, err := os.Stat(filepath.Join(pdir, CheckpointFile+framedfile.TempSuffix)); !os.IsNotExist(err) {
				t.Fatalf("partition %d: temp file left: %v", p, err)
			}
		}
	}
	m.checkpointAll()
	if ops := rec.take(); len(ops) != 0 {
		t.Errorf("a pass with nothing changed synced %v", ops)
	}
}

// TestCheckpointPassYieldsToATruncationBetweenItsSteps: a truncation that
// writes the recovery checkpoint and producer snapshot between a pass's
// temp files and their rename wins: the pass renames nothing over it, and
// leaves no temp file.
func TestCheckpointPassYieldsToATruncationBetweenItsSteps(t *testing.T) {
	dir := t.TempDir()
	m := passTestManager(t, dir)
	topic, err := m.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	for seq := range int32(6) {
		if _, err := l.AppendBatches(idempotentBatch(t, 1, seq)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := l.stageCheckpoint()
	if err != nil || !s.ckptTmp || !s.snapTmp {
		t.Fatalf("stage: %+v, %v; want temp files for the new checkpoint and snapshot", s, err)
	}
	if _, err := l.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if err := s.commit(true); err != nil {
		t.Fatal(err)
	}
	c, ok, err := readCheckpoint(l.dir)
	if err != nil || !ok || c.recoveryOffset != 3 {
		t.Fatalf("checkpoint after the truncation and the pass: %+v, %v, %v; want recovery offset 3", c, ok, err)
	}
	snap, _, ok, err := readProducerSnapshot(l.dir)
	if err != nil || !ok || snap.offset != 3 {
		t.Fatalf("producer snapshot after the truncation and the pass: at %d (%v, %v), want 3", snap.offset, ok, err)
	}
	for _, f := range []string{CheckpointFile, ProducerSnapshotFile} {
		if _, err := os.Stat(filepath.Join(l.dir, f+framedfile.TempSuffix)); !os.IsNotExist(err) {
			t.Errorf("%s: temp file left: %v", f, err)
		}
	}
}

// TestLeaderEpochIsDurableBeforeTheRecoveryCheckpoint: a new leader epoch
// is written without fsync, and made durable before the next recovery
// checkpoint, which stops recovery from relearning it from the batches;
// a checkpoint with no epoch change since syncs no epoch file.
func TestLeaderEpochIsDurableBeforeTheRecoveryCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentIndexBytes = 16 << 10
	cfg.FlushMessages = 1
	cfg.Logger = slog.New(slog.DiscardHandler)
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetReplicated(true)
	rec := recordSyncs(t, dir)
	for _, epoch := range []int32{3, 4} {
		if err := l.BecomeLeader(epoch); err != nil {
			t.Fatal(err)
		}
		if ops := rec.take(); len(ops) != 0 {
			t.Fatalf("BecomeLeader(%d) synced %v, want nothing", epoch, ops)
		}
		p, _, err := epochCkptFormat.Read(filepath.Join(dir, LeaderEpochCheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := parseEpochCheckpoint(p)
		if err != nil || len(entries) == 0 || entries[len(entries)-1].Epoch != epoch {
			t.Fatalf("epoch file after BecomeLeader(%d): %v, %v", epoch, entries, err)
		}
		if _, err := l.Append(recordbatch.Build(1, 10, 1_700_000_000_000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	ops := rec.take()
	want := []string{syncOpFsync + " " + LeaderEpochCheckpointFile, syncOpReplace + " " + CheckpointFile}
	if len(ops) < 2 || ops[0] != want[0] || ops[1] != want[1] {
		t.Fatalf("checkpoint after new epochs synced %v, want %v first", ops, want)
	}
	if _, err := l.Append(recordbatch.Build(1, 10, 1_700_000_000_000)); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if ops := rec.take(); countOps(ops, syncOpFsync) != 0 {
		t.Fatalf("checkpoint with no epoch change synced %v", ops)
	}
}

// TestCheckpointPassReplacesAVersion1Checkpoint: a recovery checkpoint
// left by the previous release (version 1, a shorter frame) is read at
// open and, not being the size a pass overwrites in place, replaced by
// the pass after next through a temp file, at version 2; meanwhile it
// still reads as what it said.
func TestCheckpointPassReplacesAVersion1Checkpoint(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pass batches with syncfs(2), Linux only")
	}
	dir := t.TempDir()
	m := passTestManager(t, dir)
	topic, err := m.CreateTopic("t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	if _, err := l.AppendBatches(idempotentBatch(t, 1, 0)); err != nil {
		t.Fatal(err)
	}
	m.checkpointAll()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "t-0", CheckpointFile)
	toVersion1(t, path, checkpointFormat, false)
	m = passTestManager(t, dir)
	l, _ = m.Partition("t", 0)
	for pass := range 2 {
		if _, err := l.AppendBatches(idempotentBatch(t, 1, int32(pass+1))); err != nil {
			t.Fatal(err)
		}
		m.checkpointAll()
		c, ok, err := readCheckpoint(l.dir)
		if err != nil || !ok {
			t.Fatalf("pass %d: checkpoint unreadable: %v", pass, err)
		}
		if pass == 0 && c.recoveryOffset > 1 {
			t.Fatalf("pass %d: a version-1 file overwritten in place: %+v", pass, c)
		}
		if pass == 1 && (fileVersion(t, path) != checkpointFormat.Version || c.recoveryOffset != l.NextOffset()) {
			t.Fatalf("pass %d: checkpoint at version %d with %+v, want version %d at recovery offset %d",
				pass, fileVersion(t, path), c, checkpointFormat.Version, l.NextOffset())
		}
	}
}

// TestManagerSyncsTheDirsItMakes: the names of the dirs the Manager makes
// (its meta dirs, every new partition's dir) are made durable by an fsync
// of their parent before anything in them is relied on: without it a
// power loss may drop a partition dir, and the records synced in it.
func TestManagerSyncsTheDirsItMakes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := recordSyncs(t, dir)
	m, err := OpenManager(dir, Options{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := r.take(); !slices.Contains(got, "mkdir meta") || !slices.Contains(got, "mkdir data") {
		t.Fatalf("syncs at open: %q, want the meta dir and the data dir synced", got)
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"create topic", func() error { _, err := m.CreateTopic("t", 3, nil); return err }},
		{"add partitions", func() error { return m.AddPartitions("t", 5) }},
		{"host partitions", func() error {
			_, err := m.CreateTopicHosting("h", TopicID{1}, 4, []int32{1}, nil)
			if err == nil {
				err = m.HostPartitions("h", 4, []int32{2, 3})
			}
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		if got := r.take(); countOps(got, syncOpMkdir) == 0 || !slices.Contains(got, "mkdir data") {
			t.Fatalf("%s: syncs %q, want the data dir synced for the new partition dirs", st.what, got)
		}
	}
}
