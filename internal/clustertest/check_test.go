package clustertest

import (
	"slices"
	"testing"
)

// fixture is a small run the checker must find clean: producer 1 sent ten
// records to t/0, all acknowledged at offsets 0-9; producer 2's two sends
// failed; two replicas hold the same ten records; consumer 1 read the
// partition directly from 0; consumer 2, a group member, read 0-4,
// committed 5 (acknowledged), lost the partition and read 5-9 after.
type fixture struct {
	events   []Event
	replicas []Replica
	opts     CheckOptions
}

var tp0 = TopicPartition{Topic: "t", Partition: 0}

func newFixture() *fixture {
	f := &fixture{}
	add := func(e Event) {
		e.Index = len(f.events)
		f.events = append(f.events, e)
	}
	for s := range int64(10) {
		add(Event{Kind: EvSend, Client: 1, TP: tp0, Offset: -1, ID: ID{1, s}})
	}
	for s := range int64(2) {
		add(Event{Kind: EvSend, Client: 2, TP: tp0, Offset: -1, ID: ID{2, s}})
		add(Event{Kind: EvFail, Client: 2, TP: tp0, Offset: -1, ID: ID{2, s}, Err: "timed out"})
	}
	for s := range int64(10) {
		add(Event{Kind: EvAck, Client: 1, TP: tp0, Offset: s, ID: ID{1, s}})
	}
	add(Event{Kind: EvAssign, Client: 1, TP: tp0, Offset: 0})
	for s := range int64(10) {
		add(Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: s, ID: ID{1, s}, OK: true})
	}
	add(Event{Kind: EvAssign, Client: 2, TP: tp0, Offset: -1})
	for s := range int64(5) {
		add(Event{Kind: EvPoll, Client: 2, TP: tp0, Offset: s, ID: ID{1, s}, OK: true})
	}
	add(Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 5})
	add(Event{Kind: EvCommitAck, Client: 2, TP: tp0, Offset: 5})
	add(Event{Kind: EvRevoke, Client: 2, TP: tp0, Offset: -1})
	add(Event{Kind: EvAssign, Client: 2, TP: tp0, Offset: -1})
	for s := int64(5); s < 10; s++ {
		add(Event{Kind: EvPoll, Client: 2, TP: tp0, Offset: s, ID: ID{1, s}, OK: true})
	}
	for node := 1; node <= 2; node++ {
		pl := &PartitionLog{Start: 0, End: 10}
		for s := range int64(10) {
			pl.Records = append(pl.Records, LogRecord{Offset: s, ID: ID{1, s}, OK: true})
		}
		f.replicas = append(f.replicas, Replica{Node: node, Logs: map[TopicPartition]*PartitionLog{tp0: pl}})
	}
	return f
}

// log returns replica i's log of t/0.
func (f *fixture) log(i int) *PartitionLog { return f.replicas[i].Logs[tp0] }

// truncate cuts replica i's log of t/0 at end.
func (f *fixture) truncate(i int, end int64) {
	pl := f.log(i)
	pl.End = end
	pl.Records = slices.DeleteFunc(pl.Records, func(r LogRecord) bool { return r.Offset >= end })
}

// appendRecord adds a record at the end of replica i's log of t/0.
func (f *fixture) appendRecord(i int, id ID, ok bool) {
	pl := f.log(i)
	pl.Records = append(pl.Records, LogRecord{Offset: pl.End, ID: id, OK: ok})
	pl.End++
}

// deleteBelow moves the log start of t/0 to start on both replicas, and
// drops the polls below it.
func (f *fixture) deleteBelow(start int64) {
	for i := range f.replicas {
		pl := f.log(i)
		pl.Start = start
		pl.Records = slices.DeleteFunc(pl.Records, func(r LogRecord) bool { return r.Offset < start })
	}
	f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Offset < start })
	f.edit(func(e *Event) bool { return e.Kind == EvAssign && e.Offset == 0 }, func(e *Event) { e.Offset = start })
	f.edit(is(EvCommitTry, 2, 5), func(e *Event) { e.Offset = max(e.Offset, start) })
	f.edit(is(EvCommitAck, 2, 5), func(e *Event) { e.Offset = max(e.Offset, start) })
}

// earlier adds, as an earlier reading of node, a copy of t/0's records
// [from, to) as replica 0 holds them.
func (f *fixture) earlier(node int, from, to int64) {
	pl := &PartitionLog{Start: from, End: to}
	for _, rc := range f.log(0).Records {
		if rc.Offset >= from && rc.Offset < to {
			pl.Records = append(pl.Records, rc)
		}
	}
	f.opts.Earlier = append(f.opts.Earlier, Replica{Node: node, Name: "the reading after a kill", Logs: map[TopicPartition]*PartitionLog{tp0: pl}})
}

// resumeAt makes consumer 2 try a commit of next before it loses the
// partition, with outcome (unanswered or refused), and start again at
// next after.
func (f *fixture) resumeAt(next int64, outcome EventKind) {
	i := f.index(is(EvRevoke, 2, -1))
	f.events = slices.Insert(f.events, i, Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: next},
		Event{Kind: outcome, Client: 2, TP: tp0, Offset: next, Err: "planted"})
	f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Client == 2 && e.Offset >= 5 && e.Offset < next })
}

// edit changes the events matching match.
func (f *fixture) edit(match func(e *Event) bool, change func(e *Event)) {
	for i := range f.events {
		if match(&f.events[i]) {
			change(&f.events[i])
		}
	}
}

// index returns the index of the first event matching match, or -1.
func (f *fixture) index(match func(e *Event) bool) int {
	for i := range f.events {
		if match(&f.events[i]) {
			return i
		}
	}
	return -1
}

// drop removes the events matching match.
func (f *fixture) drop(match func(e *Event) bool) {
	f.events = slices.DeleteFunc(f.events, func(e Event) bool { return match(&e) })
}

func is(kind EventKind, client int, off int64) func(*Event) bool {
	return func(e *Event) bool { return e.Kind == kind && e.Client == client && e.Offset == off }
}

func TestCheckReportsExactlyTheDefectPlanted(t *testing.T) {
	tests := []struct {
		name        string
		plant       func(f *fixture)
		consumedAll bool
		want        []Kind
		wantIndet   int
		wantDeleted int
		wantEarlier int
	}{
		{name: "clean run", plant: func(*fixture) {}},
		{name: "clean run, every record consumed", consumedAll: true, plant: func(*fixture) {}},
		{name: "failed send later in the log is indeterminate", wantIndet: 1, plant: func(f *fixture) {
			f.appendRecord(0, ID{2, 1}, true)
			f.appendRecord(1, ID{2, 1}, true)
		}},
		{name: "acknowledged records lost on every replica", want: []Kind{Lost}, plant: func(f *fixture) {
			f.truncate(0, 8)
			f.truncate(1, 8)
			f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Offset >= 8 })
		}},
		{name: "acknowledged record lost on one replica", want: []Kind{Lost}, plant: func(f *fixture) {
			f.truncate(1, 9)
		}},
		{name: "acknowledged record at another offset", want: []Kind{WrongOffset}, plant: func(f *fixture) {
			f.edit(is(EvAck, 1, 9), func(e *Event) { e.Offset = 10 })
		}},
		{name: "two records acknowledged at one offset", want: []Kind{WrongOffset, OffsetConflict, Reordered}, plant: func(f *fixture) {
			f.edit(is(EvAck, 1, 9), func(e *Event) { e.Offset = 8 })
		}},
		{name: "replicas hold different records at one offset", want: []Kind{Divergent}, wantIndet: 2, plant: func(f *fixture) {
			f.appendRecord(0, ID{2, 0}, true)
			f.appendRecord(1, ID{2, 1}, true)
		}},
		{name: "one replica has a hole the other has not", want: []Kind{Lost, Divergent, Gap}, plant: func(f *fixture) {
			pl := f.log(1)
			pl.Records = slices.Delete(pl.Records, 4, 5)
		}},
		{name: "record appended twice", want: []Kind{Duplicated}, plant: func(f *fixture) {
			f.appendRecord(0, ID{1, 9}, true)
			f.appendRecord(1, ID{1, 9}, true)
		}},
		{name: "failed send appended twice", want: []Kind{Duplicated}, wantIndet: 1, plant: func(f *fixture) {
			for i := range 2 {
				f.appendRecord(i, ID{2, 0}, true)
				f.appendRecord(i, ID{2, 0}, true)
			}
		}},
		{name: "producer's records out of order", want: []Kind{Reordered}, plant: func(f *fixture) {
			// Records 3 and 4 swapped in the logs, and acknowledged and
			// polled where the logs have them.
			for i := range 2 {
				recs := f.log(i).Records
				recs[3].ID, recs[4].ID = recs[4].ID, recs[3].ID
			}
			f.edit(func(e *Event) bool { return e.Kind == EvAck && (e.ID.Seq == 3 || e.ID.Seq == 4) },
				func(e *Event) { e.Offset = 7 - e.Offset })
			f.edit(func(e *Event) bool { return e.Kind == EvPoll && (e.Offset == 3 || e.Offset == 4) },
				func(e *Event) { e.ID.Seq = 7 - e.ID.Seq })
		}},
		{name: "value the harness did not write", want: []Kind{Unexpected}, plant: func(f *fixture) {
			f.appendRecord(0, ID{}, false)
			f.appendRecord(1, ID{}, false)
		}},
		{name: "record never sent", want: []Kind{Unexpected}, plant: func(f *fixture) {
			f.appendRecord(0, ID{3, 0}, true)
			f.appendRecord(1, ID{3, 0}, true)
		}},
		{name: "direct consumer skipped an offset", want: []Kind{ConsumerSkipped}, plant: func(f *fixture) {
			f.drop(is(EvPoll, 1, 5))
		}},
		{name: "direct consumer started past its start", want: []Kind{ConsumerSkipped}, plant: func(f *fixture) {
			f.drop(is(EvPoll, 1, 0))
		}},
		{name: "group member resumed past every commit", want: []Kind{ConsumerSkipped}, plant: func(f *fixture) {
			f.drop(is(EvPoll, 2, 5))
		}},
		{name: "group member resumed below its acknowledged commit", want: []Kind{ResumedBelowCommit}, plant: func(f *fixture) {
			// The second assignment starts at 3: insert polls of 3 and 4
			// right after it.
			i := f.index(is(EvPoll, 2, 5))
			extra := []Event{
				{Kind: EvPoll, Client: 2, TP: tp0, Offset: 3, ID: ID{1, 3}, OK: true},
				{Kind: EvPoll, Client: 2, TP: tp0, Offset: 4, ID: ID{1, 4}, OK: true},
			}
			f.events = slices.Insert(f.events, i, extra...)
		}},
		{name: "consumer went back within an assignment", want: []Kind{ConsumerRewound}, plant: func(f *fixture) {
			i := f.index(is(EvPoll, 1, 6))
			f.events = slices.Insert(f.events, i, Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: 2, ID: ID{1, 2}, OK: true},
				Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: 3, ID: ID{1, 3}, OK: true},
				Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: 4, ID: ID{1, 4}, OK: true},
				Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: 5, ID: ID{1, 5}, OK: true})
		}},
		{name: "consumer polled a record the log does not hold", want: []Kind{ConsumedPhantom}, plant: func(f *fixture) {
			f.edit(is(EvPoll, 1, 7), func(e *Event) { e.ID = ID{2, 0} })
		}},
		{name: "consumer polled past the log end", want: []Kind{ConsumedPhantom}, plant: func(f *fixture) {
			f.events = append(f.events, Event{Kind: EvPoll, Client: 1, TP: tp0, Offset: 10, ID: ID{2, 0}, OK: true})
		}},
		{name: "acknowledged record nobody consumed", consumedAll: true, want: []Kind{Unconsumed}, plant: func(f *fixture) {
			f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Offset == 9 })
		}},
		{name: "acknowledged record unconsumed on a topic not asked for", plant: func(f *fixture) {
			f.opts.ConsumedAll, f.opts.ConsumedTopics = true, []string{"other"}
			f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Offset == 9 })
		}},
		{name: "log end past the last record", want: []Kind{Gap}, plant: func(f *fixture) {
			f.log(0).End, f.log(1).End = 11, 11
		}},
		{name: "gap on a damaged replica is the damage's", plant: func(f *fixture) {
			f.log(0).End, f.log(1).End = 11, 11
			f.replicas[0].Problems = []string{"torn batch at 10"}
			f.replicas[1].Problems = []string{"torn batch at 10"}
		}},
		{name: "acknowledgements of a partition out of order", want: []Kind{Reordered}, plant: func(f *fixture) {
			i, j := f.index(is(EvAck, 1, 3)), f.index(is(EvAck, 1, 4))
			f.events[i], f.events[j] = f.events[j], f.events[i]
		}},
		{name: "acknowledgement without an offset, record in its partition", plant: func(f *fixture) {
			f.edit(is(EvAck, 1, 9), func(e *Event) { e.Offset = -1 })
		}},
		{name: "acknowledged record below the log start of a kept topic", want: []Kind{Lost}, plant: func(f *fixture) {
			f.deleteBelow(4)
		}},
		{name: "acknowledged record below the log start of a retention topic", wantDeleted: 4, plant: func(f *fixture) {
			f.opts.Retention = []string{"t"}
			f.deleteBelow(4)
		}},
		{name: "retention topic: acknowledged record missing above the log start", want: []Kind{Lost, Divergent, Gap}, plant: func(f *fixture) {
			f.opts.Retention = []string{"t"}
			pl := f.log(1)
			pl.Records = slices.Delete(pl.Records, 4, 5)
		}},
		{name: "earlier reading found where it was", wantEarlier: 10, plant: func(f *fixture) {
			f.earlier(1, 0, 10)
		}},
		{name: "record of an earlier reading dropped", want: []Kind{Rewritten}, wantEarlier: 10, plant: func(f *fixture) {
			// Node 1 held a record of a failed send after a kill; its
			// final log does not: recovery dropped a written batch.
			f.earlier(1, 0, 10)
			pl := f.opts.Earlier[0].Logs[tp0]
			pl.Records = append(pl.Records, LogRecord{Offset: 10, ID: ID{2, 0}, OK: true})
			pl.End++
		}},
		{name: "record of an earlier reading moved", want: []Kind{Rewritten}, wantEarlier: 8, plant: func(f *fixture) {
			f.earlier(1, 0, 10)
			recs := f.opts.Earlier[0].Logs[tp0].Records
			recs[3].ID, recs[4].ID = recs[4].ID, recs[3].ID
		}},
		{name: "earlier reading below the final log start of a retention topic", wantDeleted: 4, wantEarlier: 10, plant: func(f *fixture) {
			f.opts.Retention = []string{"t"}
			f.earlier(1, 0, 10)
			f.deleteBelow(4)
		}},
		{name: "earlier reading of another node is not its log", plant: func(f *fixture) {
			f.earlier(3, 0, 10)
			recs := f.opts.Earlier[0].Logs[tp0].Records
			recs[3].ID, recs[4].ID = recs[4].ID, recs[3].ID
		}},
		{name: "acknowledged commit below an earlier one", want: []Kind{CommitBackwards}, plant: func(f *fixture) {
			i := f.index(is(EvRevoke, 2, -1))
			f.events = slices.Insert(f.events, i, Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 3},
				Event{Kind: EvCommitAck, Client: 2, TP: tp0, Offset: 3},
				Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 5},
				Event{Kind: EvCommitAck, Client: 2, TP: tp0, Offset: 5})
		}},
		{name: "group member resumed at an unanswered commit", plant: func(f *fixture) {
			f.resumeAt(7, EvCommitUnknown)
		}},
		{name: "group member resumed at a refused commit", want: []Kind{ConsumerSkipped}, plant: func(f *fixture) {
			f.resumeAt(7, EvCommitRefused)
		}},
		{name: "group member resumed between two commits tried", want: []Kind{ConsumerSkipped}, plant: func(f *fixture) {
			// Commits of 6 and 8 tried, unanswered; the member resumes
			// at 7, which nobody committed.
			i := f.index(is(EvRevoke, 2, -1))
			f.events = slices.Insert(f.events, i, Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 6},
				Event{Kind: EvCommitUnknown, Client: 2, TP: tp0, Offset: 6},
				Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 8},
				Event{Kind: EvCommitUnknown, Client: 2, TP: tp0, Offset: 8})
			f.drop(func(e *Event) bool { return e.Kind == EvPoll && e.Client == 2 && (e.Offset == 5 || e.Offset == 6) })
		}},
		{name: "group member redelivered below an acknowledged commit", want: []Kind{ResumedBelowCommit}, plant: func(f *fixture) {
			// A second member polls 5 after consumer 2's commit of 5, and
			// then a commit of 9 is acknowledged before it polls 8 again.
			f.events = append(f.events, Event{Kind: EvAssign, Client: 3, TP: tp0, Offset: -1},
				Event{Kind: EvPoll, Client: 3, TP: tp0, Offset: 5, ID: ID{1, 5}, OK: true},
				Event{Kind: EvCommitTry, Client: 2, TP: tp0, Offset: 9},
				Event{Kind: EvCommitAck, Client: 2, TP: tp0, Offset: 9})
			for s := int64(6); s < 10; s++ {
				f.events = append(f.events, Event{Kind: EvPoll, Client: 3, TP: tp0, Offset: s, ID: ID{1, s}, OK: true})
			}
		}},
	}
	// Every rule is shown failing on a history doctored for it.
	planted := map[Kind]bool{}
	for _, tt := range tests {
		for _, k := range tt.want {
			planted[k] = true
		}
	}
	for _, k := range Kinds {
		if !planted[k] {
			t.Errorf("no case plants %s", k)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			tt.plant(f)
			f.opts.Seed = 42
			f.opts.ConsumedAll = f.opts.ConsumedAll || tt.consumedAll
			res := Check(f.events, f.replicas, f.opts)
			if got := res.Found(); !slices.Equal(got, tt.want) {
				t.Fatalf("found %v, want %v\n%s", got, tt.want, res.Report())
			}
			if res.Indeterminate != tt.wantIndet || res.Deleted != tt.wantDeleted || res.EarlierRecords != tt.wantEarlier {
				t.Errorf("indeterminate %d, deleted %d, earlier records %d; want %d, %d, %d\n%s",
					res.Indeterminate, res.Deleted, res.EarlierRecords, tt.wantIndet, tt.wantDeleted, tt.wantEarlier, res.Report())
			}
			for _, k := range tt.want {
				if len(res.Examples[k]) == 0 {
					t.Errorf("%s counted without an example", k)
				}
			}
			if res.Seed != 42 || res.OK() != (len(tt.want) == 0) {
				t.Errorf("seed %d, OK %v: %s", res.Seed, res.OK(), res)
			}
		})
	}
}
