package chaos

import (
	"fmt"
	"sort"
	"strings"
)

// maxExamples is how many instances of one kind of violation are kept.
const maxExamples = 10

// violations collects broken guarantees by kind, with a few examples each.
type violations struct {
	counts   map[string]int
	examples map[string][]string
	order    []string
}

func newViolations() *violations {
	return &violations{counts: map[string]int{}, examples: map[string][]string{}}
}

func (v *violations) add(kind, format string, args ...any) {
	if v.counts[kind] == 0 {
		v.order = append(v.order, kind)
	}
	v.counts[kind]++
	if len(v.examples[kind]) < maxExamples {
		v.examples[kind] = append(v.examples[kind], fmt.Sprintf(format, args...))
	}
}

// list formats every kind: "kind (n): example; example; ...".
func (v *violations) list() []string {
	var out []string
	for _, k := range v.order {
		s := fmt.Sprintf("%s (%d): %s", k, v.counts[k], strings.Join(v.examples[k], "; "))
		if n := v.counts[k] - len(v.examples[k]); n > 0 {
			s += fmt.Sprintf("; and %d more", n)
		}
		out = append(out, s)
	}
	return out
}

// logStats is what checkLog counted in one topic.
type logStats struct {
	Records      int // in the log
	Acked        int
	Lost         int // acknowledged, not in the log
	Duplicated   int // extra copies of a record
	UnackedInLog int // records in the log whose produce failed or was never answered
	Deleted      int // acknowledged, then removed with the segments below the log start
}

type partOff struct {
	p int32
	o int64
}

// checkLog checks one topic as read back (online or offline) against what
// its producers saw: offsets contiguous from the log start to the log end;
// every record one the harness produced, and there once; every
// acknowledged record at the partition and offset of its acknowledgement,
// unless below the log start (deletable says deletion is expected: the
// retention topic); and each producer's records in each partition in the
// order it produced them, and were acknowledged. It returns where each
// record is.
func checkLog(v *violations, what string, tl topicLog, prods []ProducerReport, deletable bool) (logStats, map[ID]partOff) {
	var st logStats
	where := map[ID]partOff{}
	produced := map[int]int64{}
	for _, pr := range prods {
		produced[pr.ID] = pr.Produced
	}
	parts := make([]int32, 0, len(tl))
	for p := range tl {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		pl := tl[p]
		if pl.Start > 0 && !deletable {
			v.add("log start moved", "%s partition %d starts at %d, nothing was deleted", what, p, pl.Start)
		}
		next := pl.Start
		type seqAt struct{ seq, off int64 }
		lastSeq := map[int]seqAt{} // producer: its last record in this partition
		for _, r := range pl.Recs {
			st.Records++
			if r.Offset != next {
				v.add("offsets not contiguous", "%s partition %d: offset %d follows %d", what, p, r.Offset, next-1)
			}
			next = r.Offset + 1
			if !r.OK {
				v.add("foreign record", "%s %d/%d: a value the harness did not write", what, p, r.Offset)
				continue
			}
			if r.ID.Seq >= produced[r.ID.Producer] {
				v.add("foreign record", "%s %d/%d: record %v was never produced", what, p, r.Offset, r.ID)
				continue
			}
			if prev, dup := where[r.ID]; dup {
				st.Duplicated++
				v.add("duplicated record", "%s: record %v at %d/%d and again at %d/%d", what, r.ID, prev.p, prev.o, p, r.Offset)
				continue
			}
			where[r.ID] = partOff{p, r.Offset}
			if last, ok := lastSeq[r.ID.Producer]; ok && r.ID.Seq < last.seq {
				v.add("out of order", "%s partition %d: producer %d's record %d at offset %d, after its record %d at offset %d",
					what, p, r.ID.Producer, r.ID.Seq, r.Offset, last.seq, last.off)
			}
			lastSeq[r.ID.Producer] = seqAt{r.ID.Seq, r.Offset}
		}
		if next != pl.End {
			v.add("offsets not contiguous", "%s partition %d: records end at %d, the log end offset is %d", what, p, next, pl.End)
		}
	}

	acked := map[ID]bool{}
	for _, pr := range prods {
		lastOff := map[int32]int64{}
		for _, a := range pr.Acks {
			st.Acked++
			id := ID{Producer: pr.ID, Seq: a.Seq}
			acked[id] = true
			if last, ok := lastOff[a.Partition]; ok && a.Offset >= 0 && a.Offset <= last {
				v.add("acknowledged out of order", "%s partition %d: producer %d's record %d acknowledged at %d after one at %d",
					what, a.Partition, pr.ID, a.Seq, a.Offset, last)
			}
			if a.Offset >= 0 {
				lastOff[a.Partition] = a.Offset
			}
			pl := tl[a.Partition]
			if pl == nil {
				st.Lost++
				v.add("lost", "%s: record %v acknowledged at %d/%d, partition not read back", what, id, a.Partition, a.Offset)
				continue
			}
			at, found := where[id]
			if a.Offset >= 0 && a.Offset < pl.Start {
				if found || !deletable {
					v.add("lost", "%s: record %v acknowledged at %d/%d, below the log start %d", what, id, a.Partition, a.Offset, pl.Start)
					st.Lost++
				} else {
					st.Deleted++
				}
				continue
			}
			switch {
			case !found:
				st.Lost++
				v.add("lost", "%s: record %v acknowledged at %d/%d is not in the log [%d, %d)", what, id, a.Partition, a.Offset, pl.Start, pl.End)
			case at.p != a.Partition || (a.Offset >= 0 && at.o != a.Offset):
				v.add("misplaced", "%s: record %v acknowledged at %d/%d is at %d/%d", what, id, a.Partition, a.Offset, at.p, at.o)
			}
		}
	}
	for id := range where {
		if !acked[id] {
			st.UnackedInLog++
		}
	}
	return st, where
}

// seenOnDisk is where records were in the segment files right after the
// kills, before the broker recovered them.
type seenOnDisk map[ID]partOff

// add records what one scan found; a record found at two places in two
// scans is a violation (recovery moved or replaced it).
func (s seenOnDisk) add(v *violations, what string, tl topicLog) {
	for p, pl := range tl {
		for _, r := range pl.Recs {
			if !r.OK {
				continue // reported by the final checks, if it stays
			}
			at := partOff{p, r.Offset}
			if prev, ok := s[r.ID]; ok && prev != at {
				v.add("record moved", "%s: record %v was at %d/%d after one kill, at %d/%d after another", what, r.ID, prev.p, prev.o, p, r.Offset)
				continue
			}
			s[r.ID] = at
		}
	}
}

// checkKept checks that every record that was in the segment files after
// a kill is still where it was in the final log (recovery never drops a
// fully written batch), unless deletion took it below the log start. It
// returns how many there were.
func (s seenOnDisk) checkKept(v *violations, what string, tl topicLog, where map[ID]partOff, deletable bool) int {
	for id, at := range s {
		now, ok := where[id]
		switch {
		case ok && now == at:
		case ok:
			v.add("record moved", "%s: record %v was at %d/%d after a kill, is at %d/%d in the end", what, id, at.p, at.o, now.p, now.o)
		case deletable && tl[at.p] != nil && at.o < tl[at.p].Start:
		default:
			v.add("written record lost in recovery", "%s: record %v was at %d/%d in the segment files after a kill, is not in the final log", what, id, at.p, at.o)
		}
	}
	return len(s)
}

// sameLog reports the first difference between two readings of a topic.
func sameLog(v *violations, aName string, a topicLog, bName string, b topicLog) {
	for p, pa := range a {
		pb := b[p]
		switch {
		case pb == nil:
			v.add("online and offline differ", "partition %d: in %s, not in %s", p, aName, bName)
			continue
		case pa.Start != pb.Start || pa.End != pb.End:
			v.add("online and offline differ", "partition %d: [%d, %d) in %s, [%d, %d) in %s", p, pa.Start, pa.End, aName, pb.Start, pb.End, bName)
		}
		for i := 0; i < len(pa.Recs) && i < len(pb.Recs); i++ {
			if pa.Recs[i] != pb.Recs[i] {
				v.add("online and offline differ", "partition %d: %+v in %s, %+v in %s", p, pa.Recs[i], aName, pb.Recs[i], bName)
				break
			}
		}
		if len(pa.Recs) != len(pb.Recs) {
			v.add("online and offline differ", "partition %d: %d records in %s, %d in %s", p, len(pa.Recs), aName, len(pb.Recs), bName)
		}
	}
	for p := range b {
		if a[p] == nil {
			v.add("online and offline differ", "partition %d: in %s, not in %s", p, bName, aName)
		}
	}
}

// groupStats is what checkGroup counted.
type groupStats struct {
	Processed   int // records processed, counting repeats
	Redelivered int // processings of a record after its first
	Unprocessed int // acknowledged records never processed
	Runs        int // times a member started processing a partition
	Commits     int // acknowledged commits
	Uncertain   int // commits without an answer
}

// run is a member processing one partition, from its first record on.
type run struct {
	open     bool  // processing: the next record must follow last
	assigned bool  // the member reported the assignment of this run
	last     int64 // offset of the last record processed
}

// try is a commit a member sent for a partition.
type try struct {
	member  int
	next    int64
	seq     int64 // event number of the try
	settled bool  // answered (acknowledged or refused)
}

// commitState is a partition's commit history, as the events tell it.
type commitState struct {
	lastAcked    int64 // -1: no acknowledged commit yet
	lastAckedSeq int64 // event number of the try of lastAcked
	maxAcked     int64
	open         []*try // tries not refused and not older than lastAcked's
}

// checkGroup replays the members' events in order and checks the group's
// guarantees on topic tl:
//
//   - a member's first record of a partition (a run's start) is at the
//     partition's last acknowledged commit, or at a later commit that was
//     sent and not refused (its answer may have been lost with the broker);
//     0 before any commit. Nothing skipped, no rewind below a commit.
//   - within a run, offsets follow one another: nothing skipped.
//   - a record processed again is at or after every commit acknowledged
//     before the run that processes it again: redelivery only of records
//     processed after the last commit.
//   - every record processed is the record the log holds at that offset,
//     and every acknowledged record was processed at least once.
func checkGroup(v *violations, events []event, tl topicLog, prods []ProducerReport) groupStats {
	var st groupStats
	runs := map[int]map[int32]*run{}
	commits := map[int32]*commitState{}
	times := map[partOff]int{}
	getRun := func(m int, p int32) *run {
		rs := runs[m]
		if rs == nil {
			rs = map[int32]*run{}
			runs[m] = rs
		}
		r := rs[p]
		if r == nil {
			r = &run{}
			rs[p] = r
		}
		return r
	}
	getCommits := func(p int32) *commitState {
		c := commits[p]
		if c == nil {
			c = &commitState{lastAcked: -1, lastAckedSeq: -1, maxAcked: -1}
			commits[p] = c
		}
		return c
	}
	// findTry returns the oldest unsettled try of member m with next.
	findTry := func(c *commitState, m int, next int64) *try {
		for _, t := range c.open {
			if t.member == m && t.next == next && !t.settled {
				return t
			}
		}
		return nil
	}

	for _, e := range events {
		switch e.kind {
		case evExit:
			for _, r := range runs[e.member] {
				*r = run{}
			}
		case evAssign:
			r := getRun(e.member, e.p)
			if r.open && !r.assigned {
				// The assignment callback ran after the first
				// records: this is the run it announces.
				r.assigned = true
			} else {
				*r = run{assigned: true}
			}
		case evRevoke, evLost:
			*getRun(e.member, e.p) = run{}
		case evTry:
			c := getCommits(e.p)
			c.open = append(c.open, &try{member: e.member, next: e.o, seq: e.seq})
		case evCommit:
			c := getCommits(e.p)
			st.Commits++
			t := findTry(c, e.member, e.o)
			if t == nil {
				v.add("bad member output", "member %d: %q without its try", e.member, e.line)
				continue
			}
			t.settled = true
			if e.o < c.maxAcked {
				v.add("commit went backwards", "partition %d: member %d's commit of %d acknowledged after one of %d",
					e.p, e.member, e.o, c.maxAcked)
			}
			c.lastAcked, c.lastAckedSeq = e.o, t.seq
			c.maxAcked = max(c.maxAcked, e.o)
			// Tries sent before the acknowledged one are history.
			keep := c.open[:0]
			for _, t := range c.open {
				if t.seq > c.lastAckedSeq {
					keep = append(keep, t)
				}
			}
			c.open = keep
		case evReject:
			c := getCommits(e.p)
			if t := findTry(c, e.member, e.o); t != nil {
				// Refused: the broker did not store it.
				for i, x := range c.open {
					if x == t {
						c.open = append(c.open[:i], c.open[i+1:]...)
						break
					}
				}
			}
		case evCfail:
			c := getCommits(e.p)
			if t := findTry(c, e.member, e.o); t != nil {
				st.Uncertain++
				t.settled = true // stays open: it may have been applied
			}
		case evRec:
			st.Processed++
			po := partOff{e.p, e.o}
			times[po]++
			again := times[po] > 1
			if again {
				st.Redelivered++
			}
			pl := tl[e.p]
			switch {
			case !e.idOK:
				v.add("processed a foreign record", "member %d: %q", e.member, e.line)
			case pl == nil || e.o < pl.Start || e.o >= pl.End:
				v.add("processed a record not in the log", "member %d processed %d/%d (%v)", e.member, e.p, e.o, e.id)
			case pl.Recs[e.o-pl.Start].ID != e.id:
				v.add("processed a record not in the log", "member %d processed %v at %d/%d, the log has %v there",
					e.member, e.id, e.p, e.o, pl.Recs[e.o-pl.Start].ID)
			}
			r := getRun(e.member, e.p)
			c := getCommits(e.p)
			if !r.open {
				st.Runs++
				checkRunStart(v, e, c)
				r.open, r.last = true, e.o
			} else {
				if e.o != r.last+1 {
					if e.o > r.last+1 {
						v.add("skipped records", "partition %d: member %d processed %d right after %d", e.p, e.member, e.o, r.last)
					} else {
						v.add("went back", "partition %d: member %d processed %d right after %d within one assignment", e.p, e.member, e.o, r.last)
					}
				}
				r.last = e.o
			}
			if again && e.o < c.maxAcked {
				v.add("redelivered below a commit", "partition %d: member %d processed offset %d again, a commit of %d was acknowledged before",
					e.p, e.member, e.o, c.maxAcked)
			}
		}
	}

	for _, pr := range prods {
		for _, a := range pr.Acks {
			if a.Offset >= 0 && times[partOff{a.Partition, a.Offset}] == 0 {
				st.Unprocessed++
				v.add("acknowledged record never processed", "record %v at %d/%d", ID{Producer: pr.ID, Seq: a.Seq}, a.Partition, a.Offset)
			}
		}
	}
	return st
}

// checkRunStart checks where a member started processing a partition: at
// the last acknowledged commit, or at a commit sent since whose fate is
// unknown (0 when nothing was ever committed).
func checkRunStart(v *violations, e event, c *commitState) {
	base := max(c.lastAcked, 0)
	if e.o == base {
		return
	}
	allowed := []int64{base}
	for _, t := range c.open {
		if t.next == e.o && t.next >= base {
			return
		}
		allowed = append(allowed, t.next)
	}
	if e.o > base {
		v.add("skipped records", "partition %d: member %d started at %d; the last acknowledged commit is %d (commits possibly applied since: %v)",
			e.p, e.member, e.o, c.lastAcked, allowed[1:])
	} else {
		v.add("rewound below a commit", "partition %d: member %d started at %d; the last acknowledged commit is %d",
			e.p, e.member, e.o, c.lastAcked)
	}
}
