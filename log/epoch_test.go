package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// leaderAppend appends n batches of 2 records as the current leader.
func leaderAppend(t *testing.T, l *log.Log, n int) {
	t.Helper()
	appendRecords(t, l, n, 2, tsBase, 1)
}

func wantEpochs(t *testing.T, l *log.Log, want ...log.EpochEntry) {
	t.Helper()
	if got := l.LeaderEpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v, want %v", got, want)
	}
	latest := int32(-1)
	if len(want) > 0 {
		latest = want[len(want)-1].Epoch
	}
	if got := l.LeaderEpoch(); got != latest {
		t.Fatalf("LeaderEpoch() = %d, want %d", got, latest)
	}
}

// threeEpochs builds a log led at epoch 0 (offsets 0-3), 2 (4-7) and 5
// (from 8, no data yet).
func threeEpochs(t *testing.T, l *log.Log) {
	t.Helper()
	for _, e := range []int32{0, 2} {
		if err := l.BecomeLeader(e); err != nil {
			t.Fatal(err)
		}
		leaderAppend(t, l, 2)
	}
	if err := l.BecomeLeader(5); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, log.EpochEntry{Epoch: 0, StartOffset: 0}, log.EpochEntry{Epoch: 2, StartOffset: 4}, log.EpochEntry{Epoch: 5, StartOffset: 8})
}

func TestLeaderAppendsStampPartitionLeaderEpoch(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	leaderAppend(t, l, 1) // no leader yet: kept as produced
	if err := l.BecomeLeader(7); err != nil {
		t.Fatal(err)
	}
	leaderAppend(t, l, 1)
	b := recordbatch.Build(1, 10, tsBase)
	if _, err := l.AppendProduced(b); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l)
	for i, want := range []int32{-1, 7, 7} {
		if e := got[i].header().PartitionLeaderEpoch; e != want {
			t.Errorf("batch %d: PartitionLeaderEpoch %d, want %d", i, e, want)
		}
	}
	if err := l.BecomeLeader(6); !errors.Is(err, log.ErrStaleLeaderEpoch) {
		t.Fatalf("BecomeLeader of an older epoch: %v, want ErrStaleLeaderEpoch", err)
	}
	if e, end := l.EndOffsetForEpoch(7); e != 7 || end != l.NextOffset() {
		t.Fatalf("EndOffsetForEpoch(7) = (%d, %d), want (7, %d)", e, end, l.NextOffset())
	}
}

func TestLeaderEpochCacheSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "crash"}[crash], func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			threeEpochs(t, l)
			if crash {
				dir = crashCopy(t, dir)
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openLog(t, dir, cfg)
			wantEpochs(t, l2, log.EpochEntry{Epoch: 0, StartOffset: 0}, log.EpochEntry{Epoch: 2, StartOffset: 4}, log.EpochEntry{Epoch: 5, StartOffset: 8})
			if e, end := l2.EndOffsetForEpoch(3); e != 2 || end != 8 {
				t.Fatalf("EndOffsetForEpoch(3) after restart = (%d, %d), want (2, 8)", e, end)
			}
		})
	}
}

func TestLeaderEpochCacheRebuiltByRecovery(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"file missing", func(t *testing.T, path string) { os.Remove(path) }},
		{"file corrupt", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("TRLE garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			threeEpochs(t, l)
			leaderAppend(t, l, 1) // epoch 5 gets data: 8-9
			crashed := crashCopy(t, dir)
			tt.damage(t, filepath.Join(crashed, log.LeaderEpochCheckpointFile))
			l2 := openLog(t, crashed, cfg)
			// The scanned batches teach the cache their epochs.
			wantEpochs(t, l2, log.EpochEntry{Epoch: 0, StartOffset: 0}, log.EpochEntry{Epoch: 2, StartOffset: 4}, log.EpochEntry{Epoch: 5, StartOffset: 8})
		})
	}
}

func TestLeaderEpochCacheDropsEntriesPastRecoveredEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig()
	l := openLog(t, dir, cfg)
	threeEpochs(t, l)
	leaderAppend(t, l, 1) // epoch 5 at 8-9
	crashed := crashCopy(t, dir)
	// Tear the last batch (epoch 5's only one): recovery cuts it.
	seg := filepath.Join(crashed, "00000000000000000000.log")
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, crashed, cfg)
	if l2.NextOffset() != 8 {
		t.Fatalf("recovered log end %d, want 8", l2.NextOffset())
	}
	// Epoch 5 began at 8, the recovered end: kept (a leader's epoch
	// without data); nothing past the end remains.
	for _, e := range l2.LeaderEpochEntries() {
		if e.StartOffset > l2.NextOffset() {
			t.Fatalf("entry %v past the recovered end %d", e, l2.NextOffset())
		}
	}
}

func TestLeaderEpochCacheCutByTruncation(t *testing.T) {
	tests := []struct {
		name string
		to   int64
		want []log.EpochEntry
	}{
		{"inside the second epoch", 6, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 4}}},
		{"at the second epoch's start", 4, []log.EpochEntry{{Epoch: 0, StartOffset: 0}}},
		{"to the log start", 0, nil},
		// Epoch 5 began at the end and holds nothing: a follower that led
		// in it without appending drops it when its leader (who never
		// saw epoch 5) has it truncate at its end.
		{"at the log end, the empty last epoch goes", 8, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 4}}},
		{"past the log end, the same", 20, []log.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			threeEpochs(t, l)
			if _, err := l.Truncate(tt.to); err != nil {
				t.Fatal(err)
			}
			wantEpochs(t, l, tt.want...)
			// The leader's next append begins its epoch again.
			leaderAppend(t, l, 1)
			want := append(slices.Clone(tt.want), log.EpochEntry{Epoch: 5, StartOffset: l.NextOffset() - 2})
			wantEpochs(t, l, want...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wantEpochs(t, openLog(t, dir, cfg), want...)
		})
	}
}

func TestLeaderEpochCacheTrimmedByLogStart(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, l *log.Log)
		want  []log.EpochEntry
	}{
		{"DeleteRecords inside the first epoch", func(t *testing.T, l *log.Log) {
			if _, err := l.DeleteRecordsBefore(2); err != nil {
				t.Fatal(err)
			}
		}, []log.EpochEntry{{Epoch: 0, StartOffset: 2}, {Epoch: 2, StartOffset: 4}, {Epoch: 5, StartOffset: 8}}},
		{"DeleteRecords past the second epoch's start", func(t *testing.T, l *log.Log) {
			if _, err := l.DeleteRecordsBefore(6); err != nil {
				t.Fatal(err)
			}
		}, []log.EpochEntry{{Epoch: 2, StartOffset: 6}, {Epoch: 5, StartOffset: 8}}},
		{"retention deletes the first segment", func(t *testing.T, l *log.Log) {
			cfg := l.Config()
			cfg.RetentionBytes = 1
			if err := l.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if n, err := l.ApplyRetention(); err != nil || n == 0 {
				t.Fatalf("retention deleted %d segments: %v", n, err)
			}
		}, []log.EpochEntry{{Epoch: 2, StartOffset: 4}, {Epoch: 5, StartOffset: 8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			if err := l.BecomeLeader(0); err != nil {
				t.Fatal(err)
			}
			leaderAppend(t, l, 2)
			if err := l.Roll(); err != nil { // retention can delete offsets 0-3
				t.Fatal(err)
			}
			if err := l.BecomeLeader(2); err != nil {
				t.Fatal(err)
			}
			leaderAppend(t, l, 2)
			if err := l.BecomeLeader(5); err != nil {
				t.Fatal(err)
			}
			tt.start(t, l)
			wantEpochs(t, l, tt.want...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wantEpochs(t, openLog(t, dir, cfg), tt.want...)
		})
	}
}

func TestSingleBrokerEpochZeroWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig()
	l := openLog(t, dir, cfg)
	leaderAppend(t, l, 2) // data from before epochs were kept
	if err := l.BecomeLeader(0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, log.EpochEntry{Epoch: 0, StartOffset: 0})
	leaderAppend(t, l, 1)
	if _, err := os.Stat(filepath.Join(dir, log.LeaderEpochCheckpointFile)); !os.IsNotExist(err) {
		t.Fatalf("leader-epoch-checkpoint of a single broker's log: %v, want none", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, dir, cfg)
	wantEpochs(t, l2)
	if err := l2.BecomeLeader(0); err != nil {
		t.Fatal(err)
	}
	if e, end := l2.EndOffsetForEpoch(0); e != 0 || end != l2.NextOffset() {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d), want (0, %d)", e, end, l2.NextOffset())
	}
}

func TestSingleBrokerCrashWritesNoEpochFile(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig()
	l := openLog(t, dir, cfg)
	if err := l.BecomeLeader(0); err != nil {
		t.Fatal(err)
	}
	leaderAppend(t, l, 3)
	if err := l.Sync(); err != nil { // the recovery point: 6
		t.Fatal(err)
	}
	leaderAppend(t, l, 2) // stamped 0, past the recovery point: scanned
	crashed := crashCopy(t, dir)
	l2 := openLog(t, crashed, cfg)
	wantEpochs(t, l2, log.EpochEntry{Epoch: 0, StartOffset: 0})
	if _, err := os.Stat(filepath.Join(crashed, log.LeaderEpochCheckpointFile)); !os.IsNotExist(err) {
		t.Fatalf("recovery of a single broker's log wrote leader-epoch-checkpoint: %v", err)
	}
}

// A replica that restarts must still know the epochs its log holds, also
// when that is epoch 0 alone: fetching without its last epoch, its leader
// could not tell that its tail diverged, and kept it (two records at one
// offset across replicas).
func TestReplicatedLogKeepsEpochZeroAcrossRestarts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(t *testing.T, l *log.Log)
	}{
		{"leader", func(t *testing.T, l *log.Log) {
			l.SetReplicated(true)
			if err := l.BecomeLeader(0); err != nil {
				t.Fatal(err)
			}
			leaderAppend(t, l, 2)
		}},
		{"leader at epoch 0 before it was replicated", func(t *testing.T, l *log.Log) {
			if err := l.BecomeLeader(0); err != nil {
				t.Fatal(err)
			}
			leaderAppend(t, l, 2)
			l.SetReplicated(true)
		}},
		{"follower", func(t *testing.T, l *log.Log) {
			l.SetReplicated(true)
			if _, err := l.AppendAsFollower(leaderBatch(0, 0, 3)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			tt.write(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openLog(t, dir, cfg)
			if e := l2.LeaderEpoch(); e != 0 {
				t.Fatalf("LeaderEpoch after restart = %d, want 0", e)
			}
			wantEpochs(t, l2, log.EpochEntry{Epoch: 0, StartOffset: 0})
		})
	}
}
