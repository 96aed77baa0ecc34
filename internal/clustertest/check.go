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
	// Gap: a log's offsets are not contiguous from its start to its end
	// (checked on replicas read without damage: a damaged batch's records
	// are left out of Logs).
	Gap Kind = "gap"
	// Duplicated: one record (producer and sequence) is in a log twice.
	Duplicated Kind = "duplicated"
	// Reordered: a producer's records of one partition are not in the
	// order it sent them, or its acknowledgements of one partition name
	// offsets that do not increase in the order they came.
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
	// group's last acknowledged commit, or polled again a record below a
	// commit acknowledged before: a committed offset was lost.
	ResumedBelowCommit Kind = "resumed-below-commit"
	// CommitBackwards: a commit of a partition was acknowledged below one
	// acknowledged before it.
	CommitBackwards Kind = "commit-backwards"
	// ConsumedPhantom: a consumer polled a record that the log does not
	// hold at that offset (served from a stale or divergent replica, or
	// above what the logs kept).
	ConsumedPhantom Kind = "consumed-phantom"
	// Unconsumed: an acknowledged record no consumer polled (checked only
	// with CheckOptions.ConsumedAll).
	Unconsumed Kind = "unconsumed"
	// Rewritten: a record an earlier reading of a node's log held
	// (CheckOptions.Earlier) is not at the same partition and offset in
	// that node's final log: recovery dropped or moved a written batch.
	Rewritten Kind = "rewritten"
)

// Kinds lists every Kind, in report order.
var Kinds = []Kind{Lost, WrongOffset, OffsetConflict, Divergent, Gap, Duplicated, Reordered, Unexpected,
	ConsumerSkipped, ConsumerRewound, ResumedBelowCommit, CommitBackwards, ConsumedPhantom, Unconsumed, Rewritten}

// DefaultMaxExamples is how many examples of each kind a Result keeps.
const DefaultMaxExamples = 5

// CheckOptions tunes Check.
type CheckOptions struct {
	// Seed is the run's seed, carried into the Result to be printed.
	Seed uint64
	// ConsumedAll asks for Unconsumed: the consumers were let run until
	// they had polled every partition to its end.
	ConsumedAll bool
	// ConsumedTopics limits ConsumedAll to these topics (empty: all).
	ConsumedTopics []string
	// Retention names the topics whose log start moves up (retention,
	// DeleteRecords): an acknowledged record below a replica's log start
	// is counted in Result.Deleted, not Lost. On any other topic it is
	// lost.
	Retention []string
	// Earlier are readings of nodes' logs taken before the end, at
	// moments after which nothing written may be dropped (a single
	// broker's segment files right after a kill -9: the page cache
	// survives it). Every record one holds must be at the same place in
	// the final Replica of the same Node, unless below its log start on
	// a Retention topic (Rewritten).
	Earlier []Replica
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
	// Deleted counts acknowledged records below the log start of a
	// Retention topic: deleted, not lost.
	Deleted int
	// Starts counts consumers' starts on a partition (the first poll of
	// an assignment); Repolled the group members' polls of an offset a
	// member had polled before (redeliveries).
	Starts, Repolled int
	// EarlierRecords counts the records of CheckOptions.Earlier found
	// where the final logs hold them, each once.
	EarlierRecords int
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
// both span, and each is contiguous; each producer's records are in the
// order it sent them; what the consumers polled is what the logs hold,
// with no offset skipped and no group resuming below its commit; what an
// earlier reading held is still there. See Kind for each problem.
func Check(events []Event, replicas []Replica, opts CheckOptions) *Result {
	r := &Result{Seed: opts.Seed, Counts: map[Kind]int{}, Examples: map[Kind][]string{},
		max: opts.MaxExamples, seen: map[problemKey]bool{}, Replicas: len(replicas)}
	if r.max <= 0 {
		r.max = DefaultMaxExamples
	}
	retention := setOf(opts.Retention)

	// The producers' side.
	sent := map[ID]bool{}
	acked := map[ID]bool{}
	ackedAt := map[at]ID{}
	type producerTP struct {
		client int
		tp     TopicPartition
	}
	lastAck := map[producerTP]Event{} // a producer's last acknowledgement in a partition
	for _, e := range events {
		switch e.Kind {
		case EvSend:
			r.Sent++
			sent[e.ID] = true
		case EvFail:
			r.Failed++
		case EvAck:
			r.Acked++
			acked[e.ID] = true
			if e.Offset < 0 {
				break // no offset in the answer: only its partition is known
			}
			a := at{e.TP, e.Offset}
			if other, ok := ackedAt[a]; ok && other != e.ID {
				r.add(OffsetConflict, a, "%s and %s both acknowledged at %s", other, e.ID, a)
			} else {
				ackedAt[a] = e.ID
			}
			k := producerTP{e.Client, e.TP}
			if prev, ok := lastAck[k]; ok && e.Offset <= prev.Offset {
				r.add(Reordered, e.ID, "producer %d: %s acknowledged at %s after %s at %d", e.Client, e.ID, a, prev.ID, prev.Offset)
			}
			lastAck[k] = e
		case EvPoll:
			r.Polled++
		}
	}

	// The logs: each replica alone, then each against the longest
	// replica of its partition (the reference).
	ref := map[TopicPartition]*PartitionLog{}
	refName := map[TopicPartition]string{}
	where := make([]map[ID]at, len(replicas)) // by replica: where each record is
	inLog := map[ID]bool{}
	for i := range replicas {
		rep := &replicas[i]
		for _, p := range rep.Problems {
			r.DiskProblems = append(r.DiskProblems, fmt.Sprintf("%s: %s", rep.name(), p))
		}
		w := map[ID]at{}
		where[i] = w
		for _, tp := range sortedTPs(rep.Logs) {
			pl := rep.Logs[tp]
			if cur, ok := ref[tp]; !ok || pl.End > cur.End {
				ref[tp], refName[tp] = pl, rep.name()
			}
			if len(rep.Problems) == 0 {
				checkContiguous(r, rep.name(), tp, pl)
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
					r.add(Unexpected, here, "%s %s: %s", rep.name(), here, what)
					continue
				}
				inLog[rc.ID] = true
				if prev, dup := w[rc.ID]; dup {
					r.add(Duplicated, rc.ID, "%s: %s at %s and again at %s", rep.name(), rc.ID, prev, here)
					continue
				}
				w[rc.ID] = here
				if l, ok := lastOf[rc.ID.Producer]; ok && rc.ID.Seq < l.seq {
					r.add(Reordered, rc.ID, "%s %s: %s at offset %d, after seq %d at offset %d",
						rep.name(), tp, rc.ID, rc.Offset, l.seq, l.off)
				}
				lastOf[rc.ID.Producer] = last{rc.ID.Seq, rc.Offset}
			}
		}
	}
	r.Partitions = len(ref)
	for _, tp := range sortedTPs(ref) {
		r.Records += len(ref[tp].Records)
		for i := range replicas {
			if pl, ok := replicas[i].Logs[tp]; ok && pl != ref[tp] {
				compareReplicas(r, tp, refName[tp], ref[tp], replicas[i].name(), pl)
			}
		}
	}

	// Every acknowledged record, on every replica of its partition.
	deleted := map[ID]bool{}
	for _, e := range events {
		if e.Kind != EvAck {
			continue
		}
		acked := at{e.TP, e.Offset}
		holders := 0
		for i := range replicas {
			rep := &replicas[i]
			pl, ok := rep.Logs[e.TP]
			if !ok {
				continue
			}
			holders++
			got, found := where[i][e.ID]
			switch {
			case !found && e.Offset >= 0 && e.Offset < pl.Start:
				if retention[e.TP.Topic] {
					deleted[e.ID] = true
					break
				}
				r.add(Lost, e.ID, "%s: %s acknowledged at %s is below the log start %d", rep.name(), e.ID, acked, pl.Start)
			case !found:
				r.add(Lost, e.ID, "%s: %s acknowledged at %s is not in the log [%d, %d)", rep.name(), e.ID, acked, pl.Start, pl.End)
			case got.tp != e.TP || e.Offset >= 0 && got.off != e.Offset:
				r.add(WrongOffset, e.ID, "%s: %s acknowledged at %s is at %s", rep.name(), e.ID, acked, got)
			}
		}
		if holders == 0 {
			r.add(Lost, e.ID, "%s acknowledged at %s: no replica of %s was read", e.ID, acked, e.TP)
		}
	}
	r.Deleted = len(deleted)
	for id := range inLog {
		if !acked[id] {
			r.Indeterminate++ // failed, or not answered before the run ended
		}
	}

	checkEarlier(r, opts.Earlier, replicas, where, retention)
	checkConsumers(r, events, ref, opts.ConsumedAll, setOf(opts.ConsumedTopics))
	return r
}

// checkContiguous reports a log whose records do not follow one another
// from its start to its end.
func checkContiguous(r *Result, name string, tp TopicPartition, pl *PartitionLog) {
	next := pl.Start
	for _, rc := range pl.Records {
		if rc.Offset != next {
			r.add(Gap, at{tp, next}, "%s %s: offset %d follows %d", name, tp, rc.Offset, next-1)
		}
		next = rc.Offset + 1
	}
	if next != pl.End {
		r.add(Gap, at{tp, next}, "%s %s: records end at %d, the log end offset is %d", name, tp, next, pl.End)
	}
}

// checkEarlier reports every record of an earlier reading that its
// node's final logs do not hold at the same place.
func checkEarlier(r *Result, earlier, final []Replica, where []map[ID]at, retention map[string]bool) {
	counted := map[ID]bool{}
	for ei := range earlier {
		er := &earlier[ei]
		for _, tp := range sortedTPs(er.Logs) {
			for _, rc := range er.Logs[tp].Records {
				if !rc.OK {
					continue // Unexpected, if it stays
				}
				was := at{tp, rc.Offset}
				for fi := range final {
					fr := &final[fi]
					pl, ok := fr.Logs[tp]
					if fr.Node != er.Node || !ok {
						continue
					}
					now, found := where[fi][rc.ID]
					switch {
					case found && now == was:
						counted[rc.ID] = true
					case found:
						r.add(Rewritten, rc.ID, "%s: %s was at %s in %s, is at %s", fr.name(), rc.ID, was, er.name(), now)
					case retention[tp.Topic] && rc.Offset < pl.Start:
						counted[rc.ID] = true // deleted since
					default:
						r.add(Rewritten, rc.ID, "%s: %s was at %s in %s, is not in the log [%d, %d)", fr.name(), rc.ID, was, er.name(), pl.Start, pl.End)
					}
				}
			}
		}
	}
	r.EarlierRecords = len(counted)
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// compareReplicas reports every offset that both logs span where they do
// not hold the same record.
func compareReplicas(r *Result, tp TopicPartition, an string, a *PartitionLog, bn string, b *PartitionLog) {
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
				r.add(Divergent, at{tp, ra.Offset}, "%s@%d: %s holds %s, %s holds %s", tp, ra.Offset, an, recName(ra), bn, recName(rb))
			}
			i++
			j++
		case rb == nil || ra != nil && ra.Offset < rb.Offset:
			r.add(Divergent, at{tp, ra.Offset}, "%s@%d: %s holds %s, %s holds nothing", tp, ra.Offset, an, recName(ra), bn)
			i++
		default:
			r.add(Divergent, at{tp, rb.Offset}, "%s@%d: %s holds nothing, %s holds %s", tp, rb.Offset, an, bn, recName(rb))
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
