package log_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// The kill -9 test: the test binary re-executes itself as a child that
// appends to a log as fast as it can and reports every acknowledged append
// on stdout; the parent SIGKILLs it at a random moment and checks that every
// acknowledged batch survived. kill -9 keeps the page cache, so everything
// Append returned for must be there, synced or not.

const (
	crashChildEnv = "TRIBUTARY_CRASH_CHILD" // the child's log dir; set only in the child
	crashFlushEnv = "TRIBUTARY_CRASH_FLUSH" // "1": flush.messages=1
	crashSeedEnv  = "TRIBUTARY_CRASH_SEED"  // the child's batch-size seed
	crashPIDEnv   = "TRIBUTARY_CRASH_PID"   // "1": batches of one idempotent producer

	// crashProducerID is the idempotent child's producer ID.
	crashProducerID = 77

	// crashChildLifetime bounds a child the parent failed to kill.
	crashChildLifetime = 60 * time.Second
	// crashChildMaxBytes bounds what one child writes; past it, it idles
	// until it is killed, so a slow kill cannot fill the disk.
	crashChildMaxBytes = 48 << 20
	// crashSyncEvery is how many appends go between two Syncs.
	crashSyncEvery = 50
	// crashWait bounds every wait of the parent for the child.
	crashWait = 60 * time.Second
)

func crashConfig(flushEveryMessage bool) tlog.Config {
	c := tlog.DefaultConfig()
	c.SegmentBytes = 256 << 10 // many rolls
	c.SegmentIndexBytes = 16 << 10
	c.Logger = slog.New(slog.DiscardHandler)
	if flushEveryMessage {
		c.FlushMessages = 1
	}
	return c
}

// TestCrashChild is the child half of TestCrashKill9, not a test of its own:
// it does nothing unless TestCrashKill9 started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestCrashKill9; runs only when re-executed by it")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	crashChild(dir, os.Getenv(crashFlushEnv) == "1", os.Getenv(crashPIDEnv) == "1", seed)
}

// crashChild appends to the log in dir until it is killed. With idempotent,
// every batch is producer crashProducerID's, its sequence continuing from
// the state the log recovered. Every line goes out with one write(2), after
// the operation it reports has returned:
//
//	start <logStartOffset> <nextOffset>   after Open (and its recovery)
//	acked <baseOffset> <recordCount>      after Append returned, one per batch
//	synced <nextOffset>                   after Sync returned
//	error <message>                       then exit 2
func crashChild(dir string, flush, idempotent bool, seed uint64) {
	say := func(format string, args ...any) {
		// A write to a closed pipe (the parent is gone) kills us with SIGPIPE.
		if _, err := os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n"); err != nil {
			os.Exit(3)
		}
	}
	fail := func(what string, err error) {
		say("error %s: %s", what, strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(2)
	}
	l, err := tlog.Open(dir, crashConfig(flush))
	if err != nil {
		fail("open", err)
	}
	say("start %d %d", l.StartOffset(), l.NextOffset())
	seq := int32(0)
	if ps := l.Producers(); idempotent && len(ps) > 0 {
		seq = ps[0].LastSequence + 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x7269627574617279))
	deadline := time.Now().Add(crashChildLifetime)
	written := 0
	for appends := 1; time.Now().Before(deadline); appends++ {
		if written > crashChildMaxBytes {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		buf := crashBatches(rng)
		if idempotent {
			seq = crashStampProducer(buf, seq)
		}
		if _, err := l.Append(buf); err != nil {
			fail("append", err)
		}
		written += len(buf)
		// Append rewrote the base offsets in buf: report each batch.
		for p := 0; p < len(buf); {
			h, err := recordbatch.ParseHeader(buf[p:])
			if err != nil {
				fail("parse own batch", err)
			}
			say("acked %d %d", h.BaseOffset, h.RecordCount)
			p += h.Size()
		}
		if appends%crashSyncEvery == 0 {
			next := l.NextOffset()
			if err := l.Sync(); err != nil {
				fail("sync", err)
			}
			say("synced %d", next)
		}
	}
	fail("lifetime", errors.New("never killed"))
}

// crashStampProducer makes the batches of buf producer crashProducerID's,
// sequenced from seq on, and returns the sequence after them.
func crashStampProducer(buf []byte, seq int32) int32 {
	for p := 0; p < len(buf); {
		h, _ := recordbatch.ParseHeader(buf[p:])
		b := buf[p : p+h.Size()]
		setProducer(b, crashProducerID, 0, seq)
		recordbatch.SetCRC(b)
		seq += h.LastOffsetDelta + 1
		p += h.Size()
	}
	return seq
}

// crashBatches returns one append's worth of batches: usually one small
// batch of random shape, sometimes a 1 KiB or 16 KiB one, sometimes several
// batches in one append.
func crashBatches(rng *rand.Rand) []byte {
	n := 1
	if rng.IntN(10) == 0 {
		n = 2 + rng.IntN(3)
	}
	ts := time.Now().UnixMilli()
	var buf []byte
	for range n {
		switch r := rng.IntN(20); {
		case r == 0:
			buf = append(buf, recordbatch.BuildSized(16<<10, ts)...)
		case r < 4:
			buf = append(buf, recordbatch.BuildSized(1<<10, ts)...)
		default:
			buf = append(buf, recordbatch.Build(1+rng.IntN(20), rng.IntN(300), ts)...)
		}
	}
	return buf
}

// crashReport is what the parent learned from one child.
type crashReport struct {
	startOffset, startNext int64
	acked                  [][2]int64 // base offset, record count
	synced                 []int64
	errors                 []string
	stderr                 string
	signaled               bool // died of SIGKILL, as it should
}

// crashRunChild starts a child on dir, waits until it has opened the log,
// lets it append for delay, SIGKILLs it and returns what it reported.
func crashRunChild(t *testing.T, dir string, flush, idempotent bool, seed uint64, delay time.Duration) crashReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	flushVal := "0"
	if flush {
		flushVal = "1"
	}
	pidVal := "0"
	if idempotent {
		pidVal = "1"
	}
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashFlushEnv+"="+flushVal, crashPIDEnv+"="+pidVal,
		crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stderr bytes.Buffer // written by exec's copier, read only after Wait
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed { // a t.Fatal on the way: never leave a child running
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	var (
		mu      sync.Mutex
		rep     crashReport
		parseEr error
	)
	started, done := make(chan struct{}), make(chan struct{})
	startedC := started // the reader goroutine owns started
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // EOF; an unterminated last line is not a report
			}
			f := strings.Fields(line)
			mu.Lock()
			var a, b int64
			var perr error
			switch {
			case len(f) == 3 && f[0] == "start":
				a, perr = strconv.ParseInt(f[1], 10, 64)
				if perr == nil {
					b, perr = strconv.ParseInt(f[2], 10, 64)
				}
				if started != nil {
					rep.startOffset, rep.startNext = a, b
					close(started)
					started = nil
				}
			case len(f) == 3 && f[0] == "acked":
				a, perr = strconv.ParseInt(f[1], 10, 64)
				if perr == nil {
					b, perr = strconv.ParseInt(f[2], 10, 64)
				}
				rep.acked = append(rep.acked, [2]int64{a, b})
			case len(f) == 2 && f[0] == "synced":
				a, perr = strconv.ParseInt(f[1], 10, 64)
				rep.synced = append(rep.synced, a)
			case len(f) > 0 && f[0] == "error":
				rep.errors = append(rep.errors, line)
			default:
				// The test framework's own output (PASS, warnings): ignore.
			}
			if perr != nil && parseEr == nil {
				parseEr = fmt.Errorf("bad line %q: %w", line, perr)
			}
			mu.Unlock()
		}
	}()

	waitExit := func() error {
		ch := make(chan error, 1)
		go func() { ch <- cmd.Wait() }()
		select {
		case err := <-ch:
			return err
		case <-time.After(crashWait):
			t.Fatalf("child did not exit within %v of being killed", crashWait)
			return nil
		}
	}
	select {
	case <-startedC:
	case <-done:
		err := waitExit()
		killed = true
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("child exited before opening the log: %v\nreports: %q\nstderr:\n%s", err, rep.errors, stderr.String())
	case <-time.After(crashWait):
		t.Fatalf("child did not open the log within %v", crashWait)
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	select {
	case <-done:
	case <-time.After(crashWait):
		t.Fatalf("child's stdout still open %v after SIGKILL", crashWait)
	}
	werr := waitExit()
	killed = true
	mu.Lock()
	defer mu.Unlock()
	if parseEr != nil {
		t.Fatal(parseEr)
	}
	rep.stderr = stderr.String()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			rep.signaled = true
		}
	}
	return rep
}

// TestCrashKill9 runs cycles of: a child appends to the same log dir, is
// SIGKILLed at a random moment, and the parent checks the recovered log. It
// checks recovery twice per cycle: the parent opens a copy of the crashed dir,
// and the next child recovers the dir itself and must arrive at the same log
// end offset.
func TestCrashKill9(t *testing.T) {
	for _, flush := range []bool{false, true} {
		name := "flush.messages=default"
		if flush {
			name = "flush.messages=1"
		}
		t.Run(name, func(t *testing.T) { crashCycles(t, flush, false) })
	}
	// One idempotent producer: after each crash its state must match the
	// recovered log, so that its retries are recognised and its next batches
	// (the next child's) accepted.
	t.Run("idempotent", func(t *testing.T) { crashCycles(t, false, true) })
}

func crashCycles(t *testing.T, flush, idempotent bool) {
	cycles := 5
	if testing.Short() {
		cycles = 2
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := filepath.Join(t.TempDir(), "topic-0")

	acked := map[int64]int64{} // base offset → record count, every cycle so far
	var ackedEnd, syncedEnd, wantNext int64
	totalAcked := 0
	for cycle := range cycles {
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		rep := crashRunChild(t, dir, flush, idempotent, seed+uint64(cycle), delay)
		if len(rep.errors) > 0 || !rep.signaled {
			t.Fatalf("cycle %d: child failed (killed by SIGKILL: %v): %q\nstderr:\n%s", cycle, rep.signaled, rep.errors, rep.stderr)
		}
		// The child recovered what the previous child left, and must agree
		// with the parent's recovery of a copy of the same bytes.
		if rep.startOffset != 0 || rep.startNext != wantNext {
			t.Fatalf("cycle %d: child opened the log at [%d, %d), the parent's recovery of the same files gave [0, %d)",
				cycle, rep.startOffset, rep.startNext, wantNext)
		}
		prevEnd := wantNext
		for _, a := range rep.acked {
			base, count := a[0], a[1]
			if base < prevEnd {
				t.Fatalf("cycle %d: batch acked at offset %d, below the previous end %d: offsets reused", cycle, base, prevEnd)
			}
			if count < 1 {
				t.Fatalf("cycle %d: acked batch at %d has %d records", cycle, base, count)
			}
			acked[base] = count
			prevEnd = base + count
			ackedEnd = max(ackedEnd, base+count)
		}
		for _, s := range rep.synced {
			syncedEnd = max(syncedEnd, s)
		}
		totalAcked += len(rep.acked)
		t.Logf("cycle %d: killed after %v, %d batches acked, %d syncs, acked end %d",
			cycle, delay, len(rep.acked), len(rep.synced), ackedEnd)

		snap := filepath.Join(t.TempDir(), "copy")
		rcvCopyDir(t, dir, snap)
		if idempotent {
			pidCopy := filepath.Join(t.TempDir(), "copy")
			rcvCopyDir(t, dir, pidCopy)
			crashVerifyProducer(t, pidCopy)
		}
		wantNext = crashVerify(t, snap, acked, ackedEnd, syncedEnd)
	}
	if totalAcked == 0 {
		t.Fatal("no child acknowledged anything: the test tested nothing")
	}
	// The last crash, recovered in place.
	if next := crashVerify(t, dir, acked, ackedEnd, syncedEnd); next != wantNext {
		t.Fatalf("recovering the dir gave log end %d, recovering its copy %d", next, wantNext)
	}
}

// crashVerifyProducer opens the crashed log in dir and checks that the
// recovered state of producer crashProducerID matches the log: its last
// sequence is that of its last batch, and a retry of any of its last five
// batches is answered as a duplicate at that batch's offset.
func crashVerifyProducer(t *testing.T, dir string) {
	t.Helper()
	l := rcvOpen(t, dir, crashConfig(false))
	defer l.Close()
	var last []recordbatch.Header
	rcvWalk(t, l, func(h recordbatch.Header, _ []byte) {
		if h.ProducerID != crashProducerID {
			t.Fatalf("batch at %d has producer id %d", h.BaseOffset, h.ProducerID)
		}
		if n := len(last); n > 0 && h.BaseSequence != last[n-1].BaseSequence+last[n-1].LastOffsetDelta+1 {
			t.Fatalf("batch at %d has sequence %d after a batch ending at %d", h.BaseOffset, h.BaseSequence,
				last[n-1].BaseSequence+last[n-1].LastOffsetDelta)
		}
		last = append(last, h)
	})
	ps := l.Producers()
	if len(last) == 0 {
		if len(ps) != 0 {
			t.Fatalf("empty log with producers %+v", ps)
		}
		return
	}
	end := last[len(last)-1]
	if len(ps) != 1 || ps[0].ProducerID != crashProducerID || ps[0].LastSequence != end.BaseSequence+end.LastOffsetDelta {
		t.Fatalf("producers %+v, want producer %d at sequence %d", ps, crashProducerID, end.BaseSequence+end.LastOffsetDelta)
	}
	next := l.NextOffset()
	for _, h := range last[max(0, len(last)-5):] {
		retry := wideBatch(crashProducerID, 0, h.BaseSequence, h.LastOffsetDelta)
		info, err := l.AppendBatches(retry)
		if err != nil || !info.Duplicate || info.BaseOffset != h.BaseOffset {
			t.Fatalf("retry of the batch at %d (sequence %d): %+v, %v", h.BaseOffset, h.BaseSequence, info, err)
		}
	}
	if l.NextOffset() != next {
		t.Fatalf("retries appended: log end %d → %d", next, l.NextOffset())
	}
}

// crashVerify opens the crashed log in dir and checks it: contiguous from 0,
// every batch valid, every acknowledged batch there with its base offset and
// record count, the end at or past every acknowledged and synced offset, and
// a clean reopen that agrees. It returns the recovered log end offset.
func crashVerify(t *testing.T, dir string, acked map[int64]int64, ackedEnd, syncedEnd int64) int64 {
	t.Helper()
	cfg := crashConfig(false)
	l := rcvOpen(t, dir, cfg)
	defer func() { l.Close() }()
	if l.StartOffset() != 0 {
		t.Fatalf("log start offset %d after recovery, want 0", l.StartOffset())
	}
	next := l.NextOffset()
	if next < ackedEnd {
		t.Fatalf("log end %d after recovery, below the acked end %d: acknowledged appends lost", next, ackedEnd)
	}
	if next < syncedEnd {
		t.Fatalf("log end %d after recovery, below the synced end %d", next, syncedEnd)
	}
	found := 0
	rcvWalk(t, l, func(h recordbatch.Header, _ []byte) {
		count, ok := acked[h.BaseOffset]
		if !ok {
			return // written but killed before the ack went out: allowed
		}
		if int64(h.RecordCount) != count || int64(h.LastOffsetDelta)+1 != count {
			t.Fatalf("batch at %d has %d records (last offset delta %d), acked with %d", h.BaseOffset, h.RecordCount, h.LastOffsetDelta, count)
		}
		found++
	})
	if found != len(acked) {
		var missing []int64
		for base := range acked {
			b, err := l.Read(base, 1)
			if err != nil || b.BaseOffset != base {
				missing = append(missing, base)
			}
			b.Release()
		}
		t.Fatalf("%d of %d acknowledged batches missing after recovery (e.g. %v)", len(acked)-found, len(acked), missing[:min(len(missing), 10)])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = rcvOpen(t, dir, cfg)
	if !l.Recovery().Clean || l.NextOffset() != next {
		t.Fatalf("clean reopen: %+v, log end %d, want clean at %d", l.Recovery(), l.NextOffset(), next)
	}
	return next
}
