package log_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/log"
)

func TestHighWatermarkFollowsLogEndWhenUnreplicated(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	for range 3 {
		leaderAppend(t, l, 1)
		if hw := l.HighWatermark(); hw != l.NextOffset() {
			t.Fatalf("HighWatermark() = %d, log end %d", hw, l.NextOffset())
		}
	}
	if l.SetHighWatermark(1) {
		t.Fatal("SetHighWatermark moved an unreplicated log's high watermark")
	}
	b, err := l.ReadTo(0, 1<<20, l.HighWatermark())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if got := countBatches(t, b.Data); got != 3 {
		t.Fatalf("ReadTo the high watermark got %d batches, want 3", got)
	}
}

func countBatches(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for len(data) > 0 {
		b := storedBatch{data: data}
		h := b.header()
		size := h.Size()
		data = data[size:]
		n++
	}
	return n
}

func TestReadToStopsAtHighWatermark(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	l.SetReplicated(true)
	leaderAppend(t, l, 3) // batches at 0-1, 2-3, 4-5
	tests := []struct {
		name    string
		setHW   int64
		wantHW  int64
		advance bool
		from    int64
		batches int
	}{
		{"nothing committed", 0, 0, false, 0, 0},
		{"first batch committed", 2, 2, true, 0, 1},
		{"inside a batch: only whole batches before it", 3, 3, true, 0, 1},
		{"a reader past the high watermark gets nothing", 3, 3, false, 4, 0},
		{"never backwards", 1, 3, false, 0, 1},
		{"clamped to the log end", 100, 6, true, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.SetHighWatermark(tt.setHW); got != tt.advance {
				t.Fatalf("SetHighWatermark(%d) advanced = %v, want %v", tt.setHW, got, tt.advance)
			}
			if hw := l.HighWatermark(); hw != tt.wantHW {
				t.Fatalf("HighWatermark() = %d, want %d", hw, tt.wantHW)
			}
			b, err := l.ReadTo(tt.from, 1<<20, l.HighWatermark())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			if got := countBatches(t, b.Data); got != tt.batches {
				t.Fatalf("ReadTo(%d) got %d batches, want %d", tt.from, got, tt.batches)
			}
		})
	}
	// A replica's Read still reaches the log end.
	b, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := countBatches(t, b.Data)
	b.Release() // Truncate waits for views of what it cuts
	if got != 3 {
		t.Fatalf("Read got %d batches, want 3", got)
	}
	if _, err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 2 {
		t.Fatalf("HighWatermark() after truncation to 2 = %d", hw)
	}
}

func TestWaitersWakeOnHighWatermark(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	l.SetReplicated(true)
	var w log.Waiter
	w.Reset(1)
	w.Watch(l, 0, l.AppendedBytes(), 1<<20)
	defer w.Stop()
	leaderAppend(t, l, 2)
	if w.Woken() {
		t.Fatal("a consumer waiter woke on an append the high watermark does not cover")
	}
	l.SetHighWatermark(1) // inside the first batch: nothing readable yet
	if w.Woken() {
		t.Fatal("woken before a whole batch was committed")
	}
	l.SetHighWatermark(2)
	select {
	case <-w.Ready():
	default:
		t.Fatal("not woken when the high watermark passed a batch")
	}

	// Switching replication off commits the rest and wakes its waiters.
	var w2 log.Waiter
	w2.Reset(1)
	w2.Watch(l, 2, l.AppendedBytes(), 1<<20)
	defer w2.Stop()
	l.SetReplicated(false)
	if !w2.Woken() {
		t.Fatal("not woken when the pending batch became committed")
	}
}

func TestHighWatermarkPersisted(t *testing.T) {
	tests := []struct {
		name   string
		tear   bool // the last batch torn: the recovered end falls below the high watermark
		wantHW int64
	}{
		{"restored after a restart", false, 4},
		{"at most the recovered log end", true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := quietConfig()
			l := openLog(t, dir, cfg)
			l.SetReplicated(true)
			leaderAppend(t, l, 3)
			hw := int64(4)
			if tt.tear {
				hw = 6
			}
			l.SetHighWatermark(hw)
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			crashed := crashCopy(t, dir)
			if tt.tear {
				seg := filepath.Join(crashed, "00000000000000000000.log")
				fi, err := os.Stat(seg)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(seg, fi.Size()-5); err != nil {
					t.Fatal(err)
				}
			}
			l2 := openLog(t, crashed, cfg)
			if l2.HighWatermark() != l2.NextOffset() {
				t.Fatalf("unreplicated at open: HighWatermark() %d, log end %d", l2.HighWatermark(), l2.NextOffset())
			}
			l2.SetReplicated(true)
			if got := l2.HighWatermark(); got != tt.wantHW || got > l2.NextOffset() {
				t.Fatalf("HighWatermark() after restart = %d (log end %d), want %d", got, l2.NextOffset(), tt.wantHW)
			}
		})
	}
}

func TestWaitersWakeOnHighWatermarkAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig()
	l := openLog(t, dir, cfg)
	l.SetReplicated(true)
	leaderAppend(t, l, 3)
	l.SetHighWatermark(2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, dir, cfg)
	l2.SetReplicated(true)
	if hw := l2.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark after restart %d, want 2", hw)
	}
	// A consumer at the high watermark waits for records appended before
	// the restart: they were never committed, so never counted for it.
	var w log.Waiter
	w.Reset(1)
	w.Watch(l2, 2, l2.AppendedBytes(), 1<<20)
	defer w.Stop()
	if w.Woken() {
		t.Fatal("woken before anything was committed")
	}
	l2.SetHighWatermark(4)
	if !w.Woken() {
		t.Fatal("not woken when the high watermark passed records from before the restart")
	}
	var w2 log.Waiter // and again for the next rise among them
	w2.Reset(1)
	w2.Watch(l2, 4, l2.AppendedBytes(), 1<<20)
	defer w2.Stop()
	l2.SetHighWatermark(6)
	if !w2.Woken() {
		t.Fatal("not woken by the second rise of the high watermark")
	}
}

func TestEndWaitersWakeOnAppendsOfAReplicatedLog(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	l.SetReplicated(true)
	leaderAppend(t, l, 1)

	// A follower's fetch at the log end waits for the next append, which
	// the high watermark does not cover.
	var end, consumer log.Waiter
	end.Reset(1)
	end.WatchEnd(l, l.NextOffset(), l.EndAppendedBytes(), 1<<20)
	defer end.Stop()
	consumer.Reset(1)
	consumer.Watch(l, 0, l.AppendedBytes(), 1<<20)
	defer consumer.Stop()
	leaderAppend(t, l, 1)
	if !end.Woken() {
		t.Fatal("a log-end waiter did not wake on an append to a replicated log")
	}
	if consumer.Woken() {
		t.Fatal("a consumer waiter woke on an append the high watermark does not cover")
	}
	end.Stop()

	// Bytes appended between the read and the registration count at once.
	var late log.Waiter
	late.Reset(1)
	from := l.EndAppendedBytes()
	leaderAppend(t, l, 1)
	late.WatchEnd(l, l.NextOffset(), from, 1<<20)
	defer late.Stop()
	if !late.Woken() {
		t.Fatal("a log-end waiter missed an append made after its read")
	}
	late.Stop()

	// A rise of the high watermark alone does not wake it.
	var idle log.Waiter
	idle.Reset(1)
	idle.WatchEnd(l, l.NextOffset(), l.EndAppendedBytes(), 1<<20)
	defer idle.Stop()
	l.SetHighWatermark(l.NextOffset())
	if idle.Woken() {
		t.Fatal("a log-end waiter woke on a high watermark change")
	}
	// Switching replication off wakes it: its counter stops counting.
	l.SetReplicated(false)
	if !idle.Woken() {
		t.Fatal("a log-end waiter was not woken when the log left replicated mode")
	}
}

func TestEndWaiterOfAnUnreplicatedLogIsAWaiter(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	var w log.Waiter
	w.Reset(1)
	w.WatchEnd(l, 0, l.EndAppendedBytes(), 1<<20)
	defer w.Stop()
	leaderAppend(t, l, 1)
	if !w.Woken() {
		t.Fatal("a log-end waiter on an unreplicated log did not wake on an append")
	}
}
