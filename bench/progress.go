package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSampleInterval is how often a run samples its throughput (for
// Result.Timeline) and writes a progress line, when the config leaves it 0.
const DefaultSampleInterval = time.Second

// Sample is a run's throughput over one sample interval.
type Sample struct {
	// At is the end of the interval, measured from the start of the run.
	At time.Duration
	// Interval is the interval's length: the sample interval, except for
	// the last sample of a run.
	Interval time.Duration
	// Records and Bytes are what was acknowledged (or read) in the interval.
	Records, Bytes int64
	// RecordsPerSec and MBPerSec are Records and Bytes over Interval.
	RecordsPerSec, MBPerSec float64
	// InFlight is how many records had been sent but not yet acknowledged
	// at the end of the interval (always 0 for Consume).
	InFlight int64
}

// counters are a run's live totals: the engine updates them, the sampler
// reads them.
type counters struct {
	records  atomic.Int64 // acknowledged or read
	bytes    atomic.Int64 // of those records
	inFlight atomic.Int64 // sent, not yet acknowledged
}

// sampler turns a run's counters into a Timeline and, if it has a writer,
// a progress line per interval. The run that starts it stops it.
type sampler struct {
	c        *counters
	interval time.Duration
	w        io.Writer // nil: no progress line
	label    string
	start    time.Time

	stopCh chan struct{}
	done   chan struct{}

	mu       sync.Mutex // guards the fields below
	timeline []Sample
	last     time.Duration // At of the last sample
	lastRec  int64
	lastByte int64
	wrote    bool // a progress line is on the terminal
}

// startSampler starts sampling c every interval (DefaultSampleInterval if
// 0) from start. Progress lines, if w is not nil, are prefixed with label
// and overwrite each other (carriage return and erase to end of line), as
// a terminal shows them.
func startSampler(c *counters, start time.Time, interval time.Duration, w io.Writer, label string) *sampler {
	if interval <= 0 {
		interval = DefaultSampleInterval
	}
	s := &sampler{
		c: c, interval: interval, w: w, label: label, start: start,
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case now := <-t.C:
			smp := s.sample(now.Sub(s.start))
			s.progress(smp)
		}
	}
}

// sample appends the interval that ends at (since the start) to the timeline.
func (s *sampler) sample(at time.Duration) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, byt := s.c.records.Load(), s.c.bytes.Load()
	smp := Sample{
		At:       at,
		Interval: at - s.last,
		Records:  rec - s.lastRec,
		Bytes:    byt - s.lastByte,
		InFlight: s.c.inFlight.Load(),
	}
	if sec := smp.Interval.Seconds(); sec > 0 {
		smp.RecordsPerSec = float64(smp.Records) / sec
		smp.MBPerSec = float64(smp.Bytes) / 1e6 / sec
	}
	s.timeline = append(s.timeline, smp)
	s.last, s.lastRec, s.lastByte = at, rec, byt
	return smp
}

func (s *sampler) progress(smp Sample) {
	if s.w == nil {
		return
	}
	s.mu.Lock()
	s.wrote = true
	s.mu.Unlock()
	fmt.Fprintf(s.w, "\r\x1b[K%s%s", s.label, progressLine(smp, s.c.records.Load()))
}

// progressLine is what a terminal shows once a second during a run.
func progressLine(smp Sample, total int64) string {
	return fmt.Sprintf("%.0f records/s, %.2f MB/s, %d in flight, %d records in %v",
		smp.RecordsPerSec, smp.MBPerSec, smp.InFlight, total, smp.At.Round(time.Second))
}

// stop ends sampling at elapsed (since the start): it adds the last,
// partial interval if it saw any records or is the only one, ends the
// progress line, and returns the timeline.
func (s *sampler) stop(elapsed time.Duration) []Sample {
	close(s.stopCh)
	<-s.done
	s.mu.Lock()
	partial := elapsed > s.last && (s.c.records.Load() > s.lastRec || len(s.timeline) == 0)
	s.mu.Unlock()
	if partial {
		s.sample(elapsed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A last interval much shorter than the others (the acknowledgements
	// that trail the run) joins the one before, so that its rate is not
	// a spike over a few milliseconds.
	if n := len(s.timeline); n >= 2 && s.timeline[n-1].Interval < s.interval/2 {
		prev, last := &s.timeline[n-2], s.timeline[n-1]
		prev.At, prev.Interval = last.At, prev.Interval+last.Interval
		prev.Records, prev.Bytes, prev.InFlight = prev.Records+last.Records, prev.Bytes+last.Bytes, last.InFlight
		prev.RecordsPerSec = float64(prev.Records) / prev.Interval.Seconds()
		prev.MBPerSec = float64(prev.Bytes) / 1e6 / prev.Interval.Seconds()
		s.timeline = s.timeline[:n-1]
	}
	if s.wrote {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
	return s.timeline
}
