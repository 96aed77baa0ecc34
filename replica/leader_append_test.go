package replica

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// newRealLeader leads a real partition log at epoch 1 with replicas
// {1, 2}, ISR isr and min.insync.replicas minISR.
func newRealLeader(t *testing.T, isr []int32, minISR int) (*log.Log, *Leader) {
	t.Helper()
	l := openRealLog(t, t.TempDir(), realConfig())
	ld, err := NewLeader(l, pstate(1, []int32{1, 2}, isr), LeaderConfig{Self: 1, MinISR: minISR})
	if err != nil {
		t.Fatal(err)
	}
	return l, ld
}

// appendOne appends one record through the leader, as a produce does.
func appendOne(ld *Leader, l *log.Log, acksAll bool) (log.AppendInfo, error) {
	return ld.Append(l.AppendBatches, recordbatch.Build(1, 8, 1000), acksAll)
}

// Appends race a step-down: every append that Append reports done ends
// below where the log ended when Stop returned, nothing is appended
// after that, and every later append is refused with
// ErrNotLeaderOrFollower. Run with -race -count=20.
func TestAppendRacingStopNeverLandsAfterStopReturns(t *testing.T) {
	l, ld := newRealLeader(t, []int32{1}, 1)
	// A slow append widens the window between the check and the write.
	slow := func(b []byte) (log.AppendInfo, error) {
		runtime.Gosched()
		return l.AppendBatches(b)
	}
	const appenders = 4
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []int64 // last offsets of the appends reported done
		refused  int
	)
	var stopping atomic.Bool // set just before Stop is called
	for range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				info, err := ld.Append(slow, recordbatch.Build(1, 8, 1000), i%2 == 0)
				mu.Lock()
				switch {
				case err == nil:
					accepted = append(accepted, info.LastOffset)
				case errors.Is(err, ErrNotLeaderOrFollower):
					refused++
				default:
					mu.Unlock()
					t.Errorf("append: %v", err)
					return
				}
				mu.Unlock()
				if err != nil {
					if !stopping.Load() {
						t.Errorf("append refused before the step-down: %v", err)
					}
					return
				}
			}
		}()
	}
	for l.NextOffset() < 20 {
		runtime.Gosched()
	}
	stopping.Store(true)
	ld.Stop()
	endAtStop := l.NextOffset()
	wg.Wait()
	if end := l.NextOffset(); end != endAtStop {
		t.Fatalf("log end %d after the appenders finished, %d when Stop returned: appended after the step-down", end, endAtStop)
	}
	for _, last := range accepted {
		if last >= endAtStop {
			t.Fatalf("append reported done at %d, past the log end %d when Stop returned", last, endAtStop)
		}
	}
	if int64(len(accepted)) != endAtStop {
		t.Fatalf("%d appends reported done, log holds %d records", len(accepted), endAtStop)
	}
	if refused < appenders {
		t.Fatalf("%d appends refused, want at least one per appender (%d)", refused, appenders)
	}
	if _, err := appendOne(ld, l, false); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("append after Stop: %v, want ErrNotLeaderOrFollower", err)
	}
}

// A step-down waits for an append that passed the leadership check: the
// append lands, then Stop returns; a new leader epoch likewise opens after
// it, so the append is stamped with the epoch it was checked at.
func TestRoleChangesWaitForTheAppendInFlight(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    func(*Leader) error
		nextErr   error // of an append after the change
		nextEpoch int32 // stamped on it when it succeeds
	}{
		{"stop", func(ld *Leader) error { ld.Stop(); return nil }, ErrNotLeaderOrFollower, 0},
		{"new epoch", func(ld *Leader) error {
			st := pstate(2, []int32{1, 2}, []int32{1})
			return ld.UpdateState(st)
		}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, ld := newRealLeader(t, []int32{1}, 1)
			entered, release := make(chan struct{}), make(chan struct{})
			blocked := func(b []byte) (log.AppendInfo, error) {
				close(entered)
				<-release
				return l.AppendBatches(b)
			}
			appended := make(chan error, 1)
			go func() {
				_, err := ld.Append(blocked, recordbatch.Build(3, 8, 1000), true)
				appended <- err
			}()
			<-entered
			changed := make(chan error, 1)
			go func() { changed <- tc.change(ld) }()
			select {
			case err := <-changed:
				t.Fatalf("role change returned (%v) with an append in flight", err)
			case <-time.After(50 * time.Millisecond):
			}
			close(release)
			if err := <-appended; err != nil {
				t.Fatalf("append in flight: %v", err)
			}
			if err := <-changed; err != nil {
				t.Fatal(err)
			}
			if got := batchEpochs(t, l); len(got) != 1 || got[0] != 1 {
				t.Fatalf("batch epochs %v, want [1]: the append in flight is stamped with the epoch it was checked at", got)
			}
			_, err := appendOne(ld, l, true)
			if !errors.Is(err, tc.nextErr) {
				t.Fatalf("append after the change: %v, want %v", err, tc.nextErr)
			}
			if err == nil {
				if got := batchEpochs(t, l); len(got) != 2 || got[1] != tc.nextEpoch {
					t.Fatalf("batch epochs %v, want the next stamped %d", got, tc.nextEpoch)
				}
			}
		})
	}
}

// batchEpochs is the PartitionLeaderEpoch of every batch of l.
func batchEpochs(t *testing.T, l *log.Log) []int32 {
	t.Helper()
	var out []int32
	for _, b := range logBatches(t, l) {
		out = append(out, hdr(b).PartitionLeaderEpoch)
	}
	return out
}

// An acks=all append is refused, and nothing appended, while the ISR is
// below min.insync.replicas; an acks=1 append is not.
func TestAppendRefusesAcksAllBelowMinISR(t *testing.T) {
	l, ld := newRealLeader(t, []int32{1}, 2)
	if _, err := appendOne(ld, l, true); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all append with ISR {1}, min 2: %v, want ErrNotEnoughReplicas", err)
	}
	if end := l.NextOffset(); end != 0 {
		t.Fatalf("refused append moved the log end to %d", end)
	}
	if _, err := appendOne(ld, l, false); err != nil {
		t.Fatalf("acks=1 append with ISR {1}, min 2: %v", err)
	}
	if end := l.NextOffset(); end != 1 {
		t.Fatalf("log end %d after an acks=1 append, want 1", end)
	}
}

// Every acks=all produce waiting when the leader steps down is answered
// ErrNotLeaderOrFollower by the step-down itself (the waits have no
// deadline), not left to its request timeout.
func TestStopFailsEveryPendingAcksAllWaiter(t *testing.T) {
	l, ld := newRealLeader(t, []int32{1, 2}, 2)
	const n = 10
	results := make(chan error, n)
	for range n {
		info, err := appendOne(ld, l, true)
		if err != nil {
			t.Fatal(err)
		}
		go func() { results <- ld.WaitCommitted(context.Background(), info.LastOffset) }()
	}
	waitWaiters(t, ld, n)
	ld.Stop()
	for range n {
		if err := <-results; !errors.Is(err, ErrNotLeaderOrFollower) {
			t.Fatalf("waiter at step-down: %v, want ErrNotLeaderOrFollower", err)
		}
	}
	if err := ld.WaitCommitted(context.Background(), 0); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("wait after the step-down: %v, want ErrNotLeaderOrFollower", err)
	}
}
