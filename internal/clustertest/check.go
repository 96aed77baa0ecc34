package clustertest

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is a kind of broken guarantee the checker reports.
type Kind string

// What Check reports. Every kind is a broken guarantee: a clean run has
// none of them.
const (
	// Lost: an acknowledged record is not in a replica's log.
	Lost Kind = "lost"
	// WrongOffset: an acknowledged record is in a replica's log, at
	// another partition or offset than its acknowledgement named.
	WrongOffset Kind = "wrong-offset"
	// OffsetConflict: two different records were acknowledged at one
	// partition and offset.
	OffsetConflict Kind = "offset-conflict"
	// Divergent: two replicas hold different records (or one holds a
	// record and the other none) at an offset both logs span: below the
	// lower of their log end offsets, above the higher of their starts.
	Divergent Kind = "divergent"
	// Duplicated: one record (producer and sequence) is in a log twice.
	Duplicated Kind = "duplicated"
	// Reordered: a producer's records of one partition are not in the
	// order it sent them.
	Reordered Kind = "reordered"
	// Unexpected: a record no producer sent is in a log (a value the
	// harness did not write, or a sequence never sent).
	Unexpected Kind = "unexpected"
	// ConsumerSkipped: a consumer polled an offset past the one it had to
	// poll next: within an assignment, the offset after the last one
	// polled; at the start of one, the offset it was told to start at or
	// the group's committed offset (any commit tried, the answer may have
	// been lost; the log start without one).
	ConsumerSkipped Kind = "consumer-skipped"
	// ConsumerRewound: within one assignment a consumer polled an offset
	// at or below one it had already polled.
	ConsumerRewound Kind = "consumer-rewound"
	// ResumedBelowCommit: a group member started a partition below the
	// group's last acknowledged commit: a committed offset was lost.
	ResumedBelowCommit Kind = "resumed-below-commit"
	// ConsumedPhantom: a consumer polled a record that the log does not
	// hold at that offset (served from a stale or divergent replica, or
	// above what the logs kept).
	ConsumedPhantom Kind = "consumed-phantom"
	// Unconsumed: an acknowledged record no consumer polled (checked only
	// with CheckOptions.ConsumedAll).
	Unconsumed Kind = "unconsumed"
)

// Kinds lists every Kind, in report order.
var Kinds = []Kind{Lost, WrongOffset, OffsetConflict, Divergent, Duplicated, Reordered, Unexpected,
	ConsumerSkipped, ConsumerRewound, ResumedBelowCommit, ConsumedPhantom, Unconsumed}

// DefaultMaxExamples is how many examples of each kind a Result keeps.
const DefaultMaxExamples = 5

// CheckOptions tunes Check.
type CheckOptions struct {
	// Seed is the run's seed, carried into the Result to be printed.
	Seed uint64
	// ConsumedAll asks for Unconsumed: the consumers were let run until
	// they had polled every partition to its end.
	ConsumedAll bool
	// MaxExamples per kind (default DefaultMaxExamples).
	MaxExamples int
}

// Result is what Check found.
type Result struct {
	Seed uint64
	// What the history holds.
	Sent, Acked, Failed, Polled int
	// Indeterminate counts records in a log whose produce failed or was
	// never answered: allowed (with acks=all a failure leaves the
	// outcome unknown), but each at most once.
	Indeterminate int
	// What the logs hold: replicas read, partitions across them, and the
	// records of the longest replica of each partition.
	Replicas, Partitions, Records int
	// Counts and Examples of each kind of broken guarantee; Counts has
	// only kinds found. Records are counted once however many replicas
	// show the problem; examples name the node.
	Counts   map[Kind]int
	Examples map[Kind][]string
	// DiskProblems are the damage log.VerifyPartition reported, by node
	// (a torn tail after kill -9 is one, and no broken guarantee).
	DiskProblems []string

	max  int
	seen map[problemKey]bool
}

type problemKey struct {
	kind Kind
	key  any
}

// OK reports whether no guarantee was broken.
func (r *Result) OK() bool { return len(r.Counts) == 0 }

// Found lists the kinds found, in report order.
func (r *Result) Found() []Kind {
	var ks []Kind
	for _, k := range Kinds {
		if r.Counts[k] > 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// String is a one-line summary.
func (r *Result) String() string {
	verdict := "OK"
	if !r.OK() {
		var parts []string
		for _, k := range r.Found() {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Counts[k]))
		}
		verdict = "FAILED " + strings.Join(parts, " ")
	}
	return fmt.Sprintf("clustertest: %s: sent=%d acked=%d failed=%d indeterminate=%d polled=%d replicas=%d partitions=%d records=%d disk_problems=%d seed=%d",
		verdict, r.Sent, r.Acked, r.Failed, r.Indeterminate, r.Polled, r.Replicas, r.Partitions, r.Records, len(r.DiskProblems), r.Seed)
}

// Report is the summary and the examples of every kind found, one a line.
func (r *Result) Report() string {
	var b strings.Builder
	b.WriteString(r.String())
	for _, k := range r.Found() {
		for _, ex := range r.Examples[k] {
			fmt.Fprintf(&b, "\n  %s: %s", k, ex)
		}
		if n := r.Counts[k] - len(r.Examples[k]); n > 0 {
			fmt.Fprintf(&b, "\n  %s: ... and %d more", k, n)
		}
	}
	for i, p := range r.DiskProblems {
		if i == r.max {
			fmt.Fprintf(&b, "\n  disk: ... and %d more", len(r.DiskProblems)-i)
			break
		}
		fmt.Fprintf(&b, "\n  disk: %s", p)
	}
	return b.String()
}

// add counts one problem of kind, once per key.
func (r *Result) add(kind Kind, key any, format string, args ...any) {
	pk := problemKey{kind, key}
	if r.seen[pk] {
		return
	}
	r.seen[pk] = true
	r.Counts[kind]++
	if len(r.Examples[kind]) < r.max {
		r.Examples[kind] = append(r.Examples[kind], fmt.Sprintf(format, args...))
	}
}

// at is a record's place: a partition and an offset.
type at struct {
	tp  TopicPartition
	off int64
}

func (a at) String() string { return fmt.Sprintf("%s@%d", a.tp, a.off) }

// Check checks a run's history against the logs of its replicas, in the
// style of Jepsen's queue workload, in time linear in the size of both:
// every acknowledged record is in every replica that holds its partition,
// once, at its acknowledged offset; replicas agree on every offset they
// both span; each producer's records are in the order it sent them; what
// the consumers polled is what the logs hold, with no offset skipped and
// no group resuming below its commit. See Kind for each problem.
func Check(events []Event, replicas []Replica, opts CheckOptions) *Result {
	r := &Result{Seed: opts.Seed, Counts: map[Kind]int{}, Examples: map[Kind][]string{},
		max: opts.MaxExamples, seen: map[problemKey]bool{}, Replicas: len(replicas)}
	if r.max <= 0 {
		r.max = DefaultMaxExamples
	}

	// The producers' side.
	sent := map[ID]bool{}
	failed := map[ID]bool{}
	acked := map[ID]bool{}
	ackedAt := map[at]ID{}
	for _, e := range events {
		switch e.Kind {
		case EvSend:
			r.Sent++
			sent[e.ID] = true
		case EvFail:
			r.Failed++
			failed[e.ID] = true
		case EvAck:
			r.Acked++
			acked[e.ID] = true
			a := at{e.TP, e.Offset}
			if other, ok := ackedAt[a]; ok && other != e.ID {
				r.add(OffsetConflict, a, "%s and %s both acknowledged at %s", other, e.ID, a)
			} else {
				ackedAt[a] = e.ID
			}
		case EvPoll:
			r.Polled++
		}
	}

	// The logs: each replica alone, then each against the longest
	// replica of its partition (the reference).
	ref := map[TopicPartition]*PartitionLog{}
	refNode := map[TopicPartition]int{}
	where := make([]map[ID]at, len(replicas)) // by replica: where each record is
	inLog := map[ID]bool{}
	for i, rep := range replicas {
		for _, p := range rep.Problems {
			r.DiskProblems = append(r.DiskProblems, fmt.Sprintf("node %d: %s", rep.Node, p))
		}
		w := map[ID]at{}
		where[i] = w
		for _, tp := range sortedTPs(rep.Logs) {
			pl := rep.Logs[tp]
			if cur, ok := ref[tp]; !ok || pl.End > cur.End {
				ref[tp], refNode[tp] = pl, rep.Node
			}
			type last struct {
				seq int64
				off int64
			}
			lastOf := map[int]last{} // producer: its last record in this partition
			for _, rc := range pl.Records {
				here := at{tp, rc.Offset}
				if !rc.OK || !sent[rc.ID] {
					what := "a value the harness did not write"
					if rc.OK {
						what = rc.ID.String() + ", never sent"
					}
					r.add(Unexpected, here, "node %d %s: %s", rep.Node, here, what)
					continue
				}
				inLog[rc.ID] = true
				if prev, dup := w[rc.ID]; dup {
					r.add(Duplicated, rc.ID, "node %d: %s at %s and again at %s", rep.Node, rc.ID, prev, here)
					continue
				}
				w[rc.ID] = here
				if l, ok := lastOf[rc.ID.Producer]; ok && rc.ID.Seq < l.seq {
					r.add(Reordered, rc.ID, "node %d %s: %s at offset %d, after seq %d at offset %d",
						rep.Node, tp, rc.ID, rc.Offset, l.seq, l.off)
				}
				lastOf[rc.ID.Producer] = last{rc.ID.Seq, rc.Offset}
			}
		}
	}
	r.Partitions = len(ref)
	for _, tp := range sortedTPs(ref) {
		r.Records += len(ref[tp].Records)
		for _, rep := range replicas {
			if pl, ok := rep.Logs[tp]; ok && pl != ref[tp] {
				compareReplicas(r, tp, refNode[tp], ref[tp], rep.Node, pl)
			}
		}
	}

	// Every acknowledged record, on every replica of its partition.
	for _, e := range events {
		if e.Kind != EvAck {
			continue
		}
		acked := at{e.TP, e.Offset}
		holders := 0
		for i, rep := range replicas {
			pl, ok := rep.Logs[e.TP]
			if !ok {
				continue
			}
			holders++
			got, found := where[i][e.ID]
			switch {
			case !found:
				r.add(Lost, e.ID, "node %d: %s acknowledged at %s is not in the log [%d, %d)", rep.Node, e.ID, acked, pl.Start, pl.End)
			case got != acked:
				r.add(WrongOffset, e.ID, "node %d: %s acknowledged at %s is at %s", rep.Node, e.ID, acked, got)
			}
		}
		if holders == 0 {
			r.add(Lost, e.ID, "%s acknowledged at %s: no replica of %s was read", e.ID, acked, e.TP)
		}
	}
	for id := range inLog {
		if !acked[id] {
			r.Indeterminate++ // failed, or not answered before the run ended
		}
	}

	checkConsumers(r, events, ref, opts.ConsumedAll)
	return r
}

// compareReplicas reports every offset that both logs span where they do
// not hold the same record.
func compareReplicas(r *Result, tp TopicPartition, an int, a *PartitionLog, bn int, b *PartitionLog) {
	lo, hi := max(a.Start, b.Start), min(a.End, b.End)
	i, j := 0, 0
	for i < len(a.Records) && a.Records[i].Offset < lo {
		i++
	}
	for j < len(b.Records) && b.Records[j].Offset < lo {
		j++
	}
	for {
		ai := i < len(a.Records) && a.Records[i].Offset < hi
		bj := j < len(b.Records) && b.Records[j].Offset < hi
		if !ai && !bj {
			return
		}
		var ra, rb *LogRecord
		if ai {
			ra = &a.Records[i]
		}
		if bj {
			rb = &b.Records[j]
		}
		switch {
		case ra != nil && rb != nil && ra.Offset == rb.Offset:
			if ra.ID != rb.ID || ra.OK != rb.OK {
				r.add(Divergent, at{tp, ra.Offset}, "%s@%d: node %d holds %s, node %d holds %s", tp, ra.Offset, an, recName(ra), bn, recName(rb))
			}
			i++
			j++
		case rb == nil || ra != nil && ra.Offset < rb.Offset:
			r.add(Divergent, at{tp, ra.Offset}, "%s@%d: node %d holds %s, node %d holds nothing", tp, ra.Offset, an, recName(ra), bn)
			i++
		default:
			r.add(Divergent, at{tp, rb.Offset}, "%s@%d: node %d holds nothing, node %d holds %s", tp, rb.Offset, an, bn, recName(rb))
			j++
		}
	}
}

func recName(rc *LogRecord) string {
	if !rc.OK {
		return "a foreign value"
	}
	return rc.ID.String()
}

// session is a consumer reading one partition, from its assignment on.
type session struct {
	open   bool  // polled at least once since the assignment
	from   int64 // where it must start; -1: the group's commit
	next   int64 // the offset after the last one polled
	direct bool  // started with an explicit offset
}

// commits is what the history says of one partition's group commits.
type commits struct {
	lastAcked int64 // -1: none acknowledged
	maxTried  int64 // -1: none tried
}

// checkConsumers replays the consumers' events in history order.
func checkConsumers(r *Result, events []Event, ref map[TopicPartition]*PartitionLog, consumedAll bool) {
	type key struct {
		client int
		tp     TopicPartition
	}
	sessions := map[key]*session{}
	cs := map[TopicPartition]*commits{}
	getCommits := func(tp TopicPartition) *commits {
		c := cs[tp]
		if c == nil {
			c = &commits{lastAcked: -1, maxTried: -1}
			cs[tp] = c
		}
		return c
	}
	polledAt := map[at]bool{}
	for _, e := range events {
		k := key{e.Client, e.TP}
		switch e.Kind {
		case EvAssign:
			sessions[k] = &session{from: e.Offset, direct: e.Offset >= 0}
		case EvRevoke:
			delete(sessions, k)
		case EvCommitTry:
			c := getCommits(e.TP)
			c.maxTried = max(c.maxTried, e.Offset)
		case EvCommitAck:
			getCommits(e.TP).lastAcked = e.Offset
		case EvPoll:
			here := at{e.TP, e.Offset}
			polledAt[here] = true
			pl := ref[e.TP]
			switch {
			case pl == nil || e.Offset < pl.Start || e.Offset >= pl.End:
				r.add(ConsumedPhantom, key2{e.Client, here}, "consumer %d polled %s at %s, outside the log", e.Client, e.ID, here)
			default:
				if rc := findRecord(pl, e.Offset); rc == nil || rc.ID != e.ID || rc.OK != e.OK {
					holds := "nothing"
					if rc != nil {
						holds = recName(rc)
					}
					r.add(ConsumedPhantom, key2{e.Client, here}, "consumer %d polled %s at %s, the log holds %s there", e.Client, e.ID, here, holds)
				}
			}
			s := sessions[k]
			if s == nil {
				// A poll with no assignment event (a group's fetch
				// from before a rebalance): a start like any other.
				s = &session{from: -1}
				sessions[k] = s
			}
			if !s.open {
				s.open = true
				checkStart(r, e, s, getCommits(e.TP), ref[e.TP])
			} else if e.Offset > s.next {
				r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d polled %s right after %d", e.Client, here, s.next-1)
			} else if e.Offset < s.next {
				r.add(ConsumerRewound, key2{e.Client, here}, "consumer %d polled %s after %d in one assignment", e.Client, here, s.next-1)
			}
			s.next = e.Offset + 1
		}
	}
	if !consumedAll {
		return
	}
	for _, e := range events {
		if e.Kind == EvAck && !polledAt[at{e.TP, e.Offset}] {
			r.add(Unconsumed, e.ID, "%s acknowledged at %s@%d was never polled", e.ID, e.TP, e.Offset)
		}
	}
}

type key2 struct {
	client int
	at     at
}

// checkStart checks the first poll of an assignment.
func checkStart(r *Result, e Event, s *session, c *commits, pl *PartitionLog) {
	here := at{e.TP, e.Offset}
	if s.direct {
		if e.Offset > s.from {
			r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d started %s at %d, asked to start at %d", e.Client, e.TP, e.Offset, s.from)
		}
		return
	}
	// A group member starts at the committed offset: any commit tried
	// so far may be the one stored; the log start without one.
	limit := c.maxTried
	if pl != nil {
		limit = max(limit, pl.Start)
	}
	limit = max(limit, 0)
	if e.Offset > limit {
		r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d started %s at %d, no commit beyond %d was tried", e.Client, e.TP, e.Offset, limit)
	}
	if c.lastAcked >= 0 && e.Offset < c.lastAcked {
		r.add(ResumedBelowCommit, key2{e.Client, here}, "consumer %d started %s at %d, the last acknowledged commit is %d", e.Client, e.TP, e.Offset, c.lastAcked)
	}
}

// findRecord returns the record at off in pl, or nil: records are in
// offset order and, in a log without gaps, at index off-Start.
func findRecord(pl *PartitionLog, off int64) *LogRecord {
	if i := off - pl.Start; i >= 0 && i < int64(len(pl.Records)) && pl.Records[i].Offset == off {
		return &pl.Records[i]
	}
	i, ok := slices.BinarySearchFunc(pl.Records, off, func(rc LogRecord, off int64) int {
		switch {
		case rc.Offset < off:
			return -1
		case rc.Offset > off:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return &pl.Records[i]
}

func sortedTPs(m map[TopicPartition]*PartitionLog) []TopicPartition {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return tps
}
