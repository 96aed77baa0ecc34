// Package wallclock is the seam through which the broker reads the wall
// clock wherever the reading becomes a timestamp or is compared with one:
// LogAppendTime stamping, time-based retention (retention.ms), segment.ms
// rolls and the time index (which follow record timestamps), producer
// state expiry (producer.id.expiration.ms), offset commit and expiry
// timestamps (offsets.retention.minutes), group state timestamps, and the
// quorum's fetch timestamps shown by DescribeQuorum. log.Config.Now and
// consumergroup.Config.Now fall back to Now.
//
// # What must not go through it
//
// Durations: timeouts, leases, sessions, ISR lag, fencing, backoffs,
// flush.ms. They are measured with time.Now and time.Since, whose
// monotonic reading a wall-clock jump (an operator's date -s, an NTP
// step, a VM resumed from a snapshot) does not move, so that a node whose
// clock jumps keeps its leases, its etcd session and its fetch sessions,
// and is fenced, or not, exactly as it would be without the jump. A
// duration kept as an integer (an atomic) must come from a monotonic
// reading too, never from time.Now().UnixNano().
//
// # Builds
//
// Built without the tag clockfault (the production binary), Now is
// time.Now, inlined, nothing else: no lookup, no allocation, no branch on
// the produce path.
//
// Built with -tags clockfault and run with TRIBUTARY_TEST_CLOCK_OFFSET_FILE
// naming an offset file (below), Now is time.Now plus the offset the file
// holds at that instant, with its monotonic reading stripped, so that a
// duration wrongly measured with it jumps as a real wall clock would. The
// process maps the file when it starts (package init) and reads the offset
// on every call with one atomic load: a test harness changes it from
// outside the process, at any time, with SetOffset (internal/clustertest's
// ClockJump), and the next reading has it. time.Now, and so every
// duration, is untouched: exactly what a real jump leaves alone.
//
// # The offset file
//
// Sixteen bytes, native byte order, each word read and written with
// atomic operations through shared mappings (never torn):
//
//	+----------------------+----------------------+
//	| offset (int64, ns)   | pid (int64)          |
//	+----------------------+----------------------+
//	0                      8                      16
//
// The offset is added to every wall-clock reading; pid is the process
// that last mapped the file, written when it maps it, so that a harness
// can tell that the broker it started honours the file (a binary built
// without the tag leaves it alone). The file outlives the process: a
// node restarted with its clock still jumped reads the same offset.
package wallclock
