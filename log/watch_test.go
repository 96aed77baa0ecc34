package log_test

import (
	"sync"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// batchKiB is a 1 KiB batch; each append of it adds 1024 bytes.
func batchKiB() []byte { return recordbatch.BuildSized(1<<10, tsBase) }

func appendKiB(t testing.TB, l *log.Log, n int) {
	t.Helper()
	for range n {
		if _, err := l.Append(batchKiB()); err != nil {
			t.Fatal(err)
		}
	}
}

// watchEnd registers w on l at its end, as a reader that just read it all.
func watchEnd(w *log.Waiter, l *log.Log, maxBytes int64) {
	w.Watch(l, l.NextOffset(), l.AppendedBytes(), maxBytes)
}

func TestWaiterWokenWhenAppendedBytesReachNeed(t *testing.T) {
	if n := len(batchKiB()); n != 1<<10 {
		t.Fatalf("test batch is %d bytes, want 1024", n)
	}
	type step struct {
		log       int  // which log gets a 1 KiB append
		wantWoken bool // after it
	}
	tests := []struct {
		name  string
		need  int64
		room  int64 // per watched log
		steps []step
	}{
		{"one log, three appends", 3 << 10, 1 << 20, []step{{0, false}, {0, false}, {0, true}}},
		{"bytes of two logs add up", 3 << 10, 1 << 20, []step{{0, false}, {1, false}, {0, true}}},
		{"appends to an unwatched log count nothing", 2 << 10, 1 << 20, []step{{2, false}, {2, false}, {2, false}, {0, false}, {1, true}}},
		{"a log counts at most its room", 3 << 10, 2 << 10, []step{{0, false}, {0, false}, {0, false}, {0, false}, {1, true}}},
		{"a partial append counts up to need", 1536, 1 << 20, []step{{1, false}, {1, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := make([]*log.Log, 3)
			for i := range logs {
				logs[i] = openLog(t, t.TempDir(), quietConfig())
				appendKiB(t, logs[i], 2) // not at offset 0: registrations start mid-log
			}
			var w log.Waiter
			w.Reset(tt.need)
			watchEnd(&w, logs[0], tt.room)
			watchEnd(&w, logs[1], tt.room)
			for i, s := range tt.steps {
				appendKiB(t, logs[s.log], 1)
				if got := w.Woken(); got != s.wantWoken {
					t.Fatalf("after append %d (log %d): woken %v, want %v", i, s.log, got, s.wantWoken)
				}
			}
			<-w.Ready()
			w.Stop()
			for i, l := range logs {
				if n := l.Waiting(); n != 0 {
					t.Errorf("log %d: %d registrations left after Stop", i, n)
				}
			}
		})
	}
}

func TestWaiterCountsWhatWasAppendedSinceTheRead(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	from := l.AppendedBytes()
	offset := l.NextOffset()
	appendKiB(t, l, 2) // lands between the reader's read and its Watch

	var w log.Waiter
	w.Reset(3 << 10)
	w.Watch(l, offset, from, 1<<20)
	if w.Woken() {
		t.Fatal("woken with 2 KiB of 3")
	}
	appendKiB(t, l, 1)
	if !w.Woken() {
		t.Fatal("not woken at 3 KiB: the appends before Watch were not counted")
	}
	w.Stop()

	// Counted before Watch, up to the room only.
	from = l.AppendedBytes()
	appendKiB(t, l, 4)
	w.Reset(3 << 10)
	w.Watch(l, offset, from, 2<<10)
	if w.Woken() {
		t.Fatal("woken by 4 KiB of a log whose room is 2 KiB")
	}
	w.Stop()
}

func TestWaiterNeedZeroIsWokenAtOnce(t *testing.T) {
	var w log.Waiter
	w.Reset(0)
	select {
	case <-w.Ready():
	default:
		t.Fatal("need 0 not woken")
	}
}

func TestWaiterWokenByChangesTheReaderMustAnswer(t *testing.T) {
	tests := []struct {
		name   string
		offset func(l *log.Log) int64 // where the reader waits
		change func(t *testing.T, l *log.Log)
		woken  bool
	}{
		{"log closed", end, func(t *testing.T, l *log.Log) { l.Close() }, true},
		{"log start offset moved past the offset", start, func(t *testing.T, l *log.Log) {
			if _, err := l.DeleteRecordsBefore(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"log start offset moved up to the offset", end, func(t *testing.T, l *log.Log) {
			if _, err := l.DeleteRecordsBefore(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"log truncated below the offset", end, func(t *testing.T, l *log.Log) {
			if _, err := l.Truncate(l.NextOffset() - 2); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"retention deleted segments below the offset", end, func(t *testing.T, l *log.Log) {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			cfg := l.Config()
			cfg.RetentionBytes = 1
			if err := l.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if n, err := l.ApplyRetention(); err != nil || n == 0 {
				t.Fatalf("retention deleted %d segments: %v", n, err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), quietConfig())
			appendKiB(t, l, 4)
			var w log.Waiter
			w.Reset(1 << 20)
			w.Watch(l, tt.offset(l), l.AppendedBytes(), 1<<20)
			if w.Woken() {
				t.Fatal("woken before the change")
			}
			tt.change(t, l)
			if w.Woken() != tt.woken {
				t.Fatalf("woken %v, want %v", w.Woken(), tt.woken)
			}
			w.Stop()
			if n := l.Waiting(); n != 0 {
				t.Fatalf("%d registrations left after Stop", n)
			}
		})
	}
}

func start(l *log.Log) int64 { return l.StartOffset() }
func end(l *log.Log) int64   { return l.NextOffset() }

func TestWaiterOnAClosedLogIsWokenAtOnce(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	l.Close()
	var w log.Waiter
	w.Reset(1 << 20)
	watchEnd(&w, l, 1<<20)
	if !w.Woken() {
		t.Fatal("registration on a closed log not woken")
	}
	w.Stop()
}

func TestWaiterStoppedBeforeEnoughBytesIsNeverWoken(t *testing.T) {
	// The caller's MaxWait ran out: after Stop, appends touch nothing and
	// the next wait starts from zero.
	l := openLog(t, t.TempDir(), quietConfig())
	var w log.Waiter
	w.Reset(2 << 10)
	watchEnd(&w, l, 1<<20)
	appendKiB(t, l, 1)
	w.Stop()
	appendKiB(t, l, 5)
	if w.Woken() {
		t.Fatal("woken by appends after Stop")
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d registrations left after Stop", n)
	}
	w.Reset(2 << 10)
	watchEnd(&w, l, 1<<20)
	appendKiB(t, l, 1)
	if w.Woken() {
		t.Fatal("bytes of the previous wait counted in the next one")
	}
	w.Stop()
}

func TestHundredWaitersWokenOnlyOnceTheirMinBytesIsAppended(t *testing.T) {
	// 100 long polls with MinBytes = 1 MiB on one partition, fed 1 KiB
	// appends: not one wake-up before the 1024th append, all 100 at it.
	const waiters, need = 100, 1 << 20
	l := openLog(t, t.TempDir(), quietConfig())
	ws := make([]log.Waiter, waiters)
	for i := range ws {
		ws[i].Reset(need)
		watchEnd(&ws[i], l, need)
	}
	woken := func() (n int) {
		for i := range ws {
			select {
			case <-ws[i].Ready():
				n++
			default:
			}
		}
		return n
	}
	total := 0
	for i := 1; i < need>>10; i++ {
		appendKiB(t, l, 1)
		if n := woken(); n != 0 {
			t.Fatalf("%d wake-ups after %d KiB of %d", n, i, need>>10)
		}
	}
	appendKiB(t, l, 1)
	total += woken()
	appendKiB(t, l, 10)
	total += woken()
	if total != waiters {
		t.Fatalf("%d wake-ups at 1 MiB and after, want exactly %d", total, waiters)
	}
	for i := range ws {
		ws[i].Stop()
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d registrations left", n)
	}
}

func TestWaitersRaceAppendsAndLeaveNothingRegistered(t *testing.T) {
	// Appenders on several logs while readers register, wait for 4 KiB
	// from where they read and stop: each wake-up is backed by the
	// bytes (the log end moved by at least need since the read), and no
	// registration outlives its wait.
	const (
		logs    = 3
		readers = 8
		waits   = 50
		need    = 4 << 10
	)
	ls := make([]*log.Log, logs)
	for i := range ls {
		ls[i] = openLog(t, t.TempDir(), quietConfig())
	}
	stop := make(chan struct{})
	var appenders, rs sync.WaitGroup
	for _, l := range ls {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Append(batchKiB()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range readers {
		rs.Add(1)
		go func() {
			defer rs.Done()
			var w log.Waiter
			for range waits {
				var before int64
				w.Reset(need)
				for _, l := range ls {
					before += l.AppendedBytes()
					watchEnd(&w, l, 1<<20)
				}
				<-w.Ready()
				w.Stop()
				var after int64
				for _, l := range ls {
					after += l.AppendedBytes()
				}
				if after-before < need {
					t.Errorf("woken after %d bytes, need %d", after-before, need)
					return
				}
			}
		}()
	}
	rs.Wait()
	close(stop)
	appenders.Wait()
	for i, l := range ls {
		if n := l.Waiting(); n != 0 {
			t.Errorf("log %d: %d registrations left", i, n)
		}
	}
}
