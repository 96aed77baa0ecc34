package log

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkCheckpointPass is the Manager's periodic checkpoint pass over N
// partitions, each with one idempotent batch appended (and made durable)
// since the last pass, so that every recovery checkpoint and producer
// snapshot changed, as under load. mode=per-file is the pass before it
// was batched (each log's Checkpoint in parallel: an atomic replace, two
// fsyncs, per changed file), the baseline; mode=syncfs is checkpointPass.
// It reports the files' durable replaces and syncfs calls per pass.
//
//	go test -run '^$' -bench 'BenchmarkCheckpointPass/partitions=1000/' -benchtime 5x ./log
func BenchmarkCheckpointPass(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, mode := range []string{"per-file", "syncfs"} {
			b.Run(fmt.Sprintf("partitions=%d/mode=%s", n, mode), func(b *testing.B) {
				benchCheckpointPass(b, n, mode == "syncfs")
			})
		}
	}
}

func benchCheckpointPass(b *testing.B, n int, batched bool) {
	dir := b.TempDir()
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := OpenManager(dir, Options{Defaults: &cfg, Logger: cfg.Logger, CheckpointInterval: time.Hour,
		RetentionCheckInterval: time.Hour, CleanerBackoff: time.Hour, ReplicatedLeadership: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var logs []*Log
	for t := 0; t*1000 < n; t++ {
		topic, err := m.CreateTopic(fmt.Sprintf("t%d", t), min(1000, n-t*1000), nil)
		if err != nil {
			b.Fatal(err)
		}
		logs = append(logs, topic.Partitions...)
	}
	var replaces, syncfs atomic.Int64
	obs := func(op, _ string) {
		switch op {
		case syncOpReplace, syncOpFsync:
			replaces.Add(1)
		case syncOpSyncFS:
			syncfs.Add(1)
		}
	}
	seq := int32(0)
	pass := func() {
		if batched && syncFSSupported {
			m.checkpointPass(logs)
			return
		}
		parallel(len(logs), m.ioWorkers(), func(i int) error { return logs[i].Checkpoint() })
	}
	appendAll := func() {
		for i, l := range logs {
			batch, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Idempotent: true, ProducerID: int64(i + 1), BaseSequence: seq},
				[]recordbatch.Record{{Timestamp: 1_700_000_000_000, Value: []byte("v")}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := l.AppendBatches(batch); err != nil {
				b.Fatal(err)
			}
		}
		seq++
		// Durable, as the flushes of rolled segments and flush.ms make it
		// between two passes: the recovery offsets move.
		if err := syncFS(dir); err != nil {
			b.Skip("syncfs:", err)
		}
		for _, l := range logs {
			l.flushedOffset.Store(l.nextOffset.Load())
		}
	}
	// The steady state: the files exist, and each producer has the five
	// batches a snapshot keeps at most (its size no longer grows).
	for range 5 {
		appendAll()
	}
	pass()
	for b.Loop() {
		b.StopTimer()
		appendAll()
		f := obs
		syncObserver.Store(&f)
		b.StartTimer()
		pass()
		b.StopTimer()
		syncObserver.Store(nil)
		b.StartTimer()
	}
	b.ReportMetric(float64(replaces.Load())/float64(b.N), "file-syncs/op")
	b.ReportMetric(float64(syncfs.Load())/float64(b.N), "syncfs/op")
}

// BenchmarkLeaderEpochTakeover is a takeover of N partitions: BecomeLeader
// at a new epoch on each, on the Manager's pool of workers as the
// reconciler does. mode=fsync also replaces each epoch file atomically
// (temp file, fsync, rename, fsync dir: what BecomeLeader did before),
// the baseline; mode=deferred is
// BecomeLeader alone, the epoch files made durable by the next checkpoint
// pass's syncfs (not timed).
//
//	go test -run '^$' -bench 'BenchmarkLeaderEpochTakeover' -benchtime 5x ./log
func BenchmarkLeaderEpochTakeover(b *testing.B) {
	for _, n := range []int{1000} {
		for _, mode := range []string{"fsync", "deferred"} {
			b.Run(fmt.Sprintf("partitions=%d/mode=%s", n, mode), func(b *testing.B) {
				benchTakeover(b, n, mode == "fsync")
			})
		}
	}
}

func benchTakeover(b *testing.B, n int, syncNow bool) {
	dir := b.TempDir()
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := OpenManager(dir, Options{Defaults: &cfg, Logger: cfg.Logger, CheckpointInterval: time.Hour,
		RetentionCheckInterval: time.Hour, CleanerBackoff: time.Hour, ReplicatedLeadership: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	topic, err := m.CreateTopic("t", n, nil)
	if err != nil {
		b.Fatal(err)
	}
	logs := topic.Partitions
	for _, l := range logs {
		l.SetReplicated(true)
	}
	epoch := int32(0)
	for b.Loop() {
		epoch++
		errs := parallel(len(logs), m.ioWorkers(), func(i int) error {
			if err := logs[i].BecomeLeader(epoch); err != nil {
				return err
			}
			if syncNow {
				// What BecomeLeader wrote before: an atomic replace.
				path := filepath.Join(logs[i].dir, LeaderEpochCheckpointFile)
				return epochCkptFormat.WriteFrame(path, encodeEpochCheckpoint(logs[i].LeaderEpochEntries()))
			}
			return nil
		})
		if err := firstErr(errs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		m.checkpointPass(logs)
		b.StartTimer()
	}
}
