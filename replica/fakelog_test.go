package replica

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// fakeLog is an in-memory Log honouring issue 14's contract: whole
// RecordBatch v2 batches kept in order, a leader-epoch cache of (epoch,
// start offset), a high watermark that follows the end unless replicated.
type fakeLog struct {
	mu          sync.Mutex
	batches     [][]byte // whole batches, by offset
	start, next int64
	hw          int64
	replicated  bool
	epochs      []epochEntry // by epoch and start offset, both increasing
	stamp       int32        // epoch stamped on leader appends
	truncations int          // Truncate calls that cut something
}

type epochEntry struct {
	epoch int32
	start int64
}

var errFake = errors.New("fakelog")

func newFakeLog() *fakeLog { return &fakeLog{stamp: -1} }

func hdr(b []byte) *recordbatch.Header {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		panic(err)
	}
	return &h
}

// appendLeader appends a batch of n records as the leader does and returns
// its last offset.
func (f *fakeLog) appendLeader(n int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := recordbatch.Build(n, 8, 1000+f.next)
	recordbatch.SetBaseOffset(b, f.next)
	recordbatch.SetPartitionLeaderEpoch(b, f.stamp)
	f.batches = append(f.batches, b)
	f.next += int64(n)
	if !f.replicated {
		f.hw = f.next
	}
	return f.next - 1
}

func (f *fakeLog) HighWatermark() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.replicated {
		return f.next
	}
	return f.hw
}

func (f *fakeLog) SetReplicated(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !on {
		f.hw = f.next
	}
	f.replicated = on
}

func (f *fakeLog) SetHighWatermark(off int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	off = max(min(off, f.next), f.start)
	if off > f.hw {
		f.hw = off
		return true
	}
	return false
}

func (f *fakeLog) LeaderEpoch() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latestEpoch()
}

func (f *fakeLog) latestEpoch() int32 {
	if len(f.epochs) == 0 {
		return -1
	}
	return f.epochs[len(f.epochs)-1].epoch
}

func (f *fakeLog) BecomeLeader(epoch int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch < f.latestEpoch() {
		return fmt.Errorf("%w: epoch %d below %d", errFake, epoch, f.latestEpoch())
	}
	f.learn(epoch, f.next)
	f.stamp = epoch
	return nil
}

func (f *fakeLog) learn(epoch int32, start int64) {
	if epoch > f.latestEpoch() {
		f.epochs = append(f.epochs, epochEntry{epoch, start})
	}
}

func (f *fakeLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.epochs) - 1; i >= 0; i-- {
		if f.epochs[i].epoch <= epoch {
			if i == len(f.epochs)-1 {
				return f.epochs[i].epoch, f.next
			}
			return f.epochs[i].epoch, f.epochs[i+1].start
		}
	}
	return -1, -1
}

func (f *fakeLog) AppendAsFollower(b []byte) (log.AppendInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		parts [][]byte
		want  = f.next
		epoch = f.latestEpoch()
		info  = log.AppendInfo{BaseOffset: -1, LogAppendTime: -1}
	)
	if len(b) == 0 {
		return info, fmt.Errorf("%w: empty append", log.ErrCorruptBatch)
	}
	type learned struct {
		epoch int32
		start int64
	}
	var newEpochs []learned
	if _, err := leaderRule.ValidateBatches(b, log.WriterLeader, recordbatch.DefaultDecompressLimit); err != nil {
		return info, err
	}
	for pos := 0; pos < len(b); {
		h := hdr(b[pos:]) // validated
		if h.BaseOffset < want || h.NextOffset() <= h.BaseOffset {
			return info, fmt.Errorf("%w: batch at %d, log end %d", log.ErrUnexpectedAppendOffset, h.BaseOffset, want)
		}
		if h.PartitionLeaderEpoch < epoch {
			return info, fmt.Errorf("%w: epoch %d after %d", log.ErrCorruptBatch, h.PartitionLeaderEpoch, epoch)
		}
		if h.PartitionLeaderEpoch > epoch {
			epoch = h.PartitionLeaderEpoch
			newEpochs = append(newEpochs, learned{epoch, h.BaseOffset})
		}
		if info.BaseOffset < 0 {
			info.BaseOffset = h.BaseOffset
		}
		info.LastOffset = h.LastOffset()
		want = h.NextOffset()
		parts = append(parts, bytes.Clone(b[pos:pos+h.Size()]))
		pos += h.Size()
	}
	for _, e := range newEpochs {
		f.learn(e.epoch, e.start)
	}
	f.batches = append(f.batches, parts...)
	f.next = want
	if !f.replicated {
		f.hw = f.next
	}
	return info, nil
}

func (f *fakeLog) Truncate(offset int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if offset < 0 {
		return 0, fmt.Errorf("%w: truncate to %d", log.ErrOffsetOutOfRange, offset)
	}
	if offset >= f.next {
		f.cutEpochs() // an epoch begun at the end and never appended to
		return f.next, nil
	}
	f.truncations++
	if offset <= f.start {
		f.resetAt(offset)
		return f.next, nil
	}
	keep := 0
	for keep < len(f.batches) && hdr(f.batches[keep]).LastOffset() < offset {
		keep++
	}
	f.batches = f.batches[:keep]
	if keep == 0 {
		f.next = f.start
	} else {
		f.next = hdr(f.batches[keep-1]).NextOffset()
	}
	f.cutEpochs()
	f.hw = min(f.hw, f.next)
	return f.next, nil
}

func (f *fakeLog) resetAt(offset int64) {
	f.batches = nil
	f.start, f.next = offset, offset
	f.hw = offset
	f.cutEpochs()
}

// cutEpochs drops the cache entries that start at or past the log end.
func (f *fakeLog) cutEpochs() {
	i := len(f.epochs)
	for i > 0 && f.epochs[i-1].start >= f.next {
		i--
	}
	f.epochs = f.epochs[:i]
}

func (f *fakeLog) TruncateFullyAndStartAt(offset int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetAt(offset)
	f.epochs = nil
	return nil
}

// MaybeIncrementLogStartOffset moves the start up, never past the high
// watermark, dropping the batches wholly below it (the real log drops
// whole segments).
func (f *fakeLog) MaybeIncrementLogStartOffset(offset int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	hw := f.next
	if f.replicated {
		hw = f.hw
	}
	if offset < 0 || offset > hw {
		return fmt.Errorf("%w: log start %d past the high watermark %d", log.ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= f.start {
		return nil
	}
	f.start = offset
	n := 0
	for n < len(f.batches) && hdr(f.batches[n]).NextOffset() <= offset {
		n++
	}
	f.batches = f.batches[n:]
	return nil
}

func (f *fakeLog) Read(offset int64, maxBytes int) (log.Batches, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if offset < f.start || offset > f.next {
		return log.Batches{}, fmt.Errorf("%w: offset %d, log has [%d, %d)", log.ErrOffsetOutOfRange, offset, f.start, f.next)
	}
	var out []byte
	base := int64(-1)
	for _, b := range f.batches {
		h := hdr(b)
		if h.LastOffset() < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		if base < 0 {
			base = h.BaseOffset
		}
		out = append(out, b...)
	}
	return log.Batches{Data: out, BaseOffset: base}, nil
}

func (f *fakeLog) NextOffset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

func (f *fakeLog) StartOffset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start
}

// content is every batch's (base offset, epoch, CRC), to compare replicas.
func (f *fakeLog) content() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.batches {
		h := hdr(b)
		out = append(out, fmt.Sprintf("%d-%d@%d/%08x", h.BaseOffset, h.LastOffset(), h.PartitionLeaderEpoch, h.CRC))
	}
	return out
}

var _ Log = (*fakeLog)(nil)

// history builds a log whose batches have the given epochs, n records
// each, as a leader of each epoch in turn would have written them.
func history(epochs []int32, n int) *fakeLog {
	l := newFakeLog()
	for _, e := range epochs {
		if e != l.LeaderEpoch() {
			if err := l.BecomeLeader(e); err != nil {
				panic(err)
			}
		}
		l.appendLeader(n)
	}
	return l
}

func (f *fakeLog) truncateCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.truncations
}
