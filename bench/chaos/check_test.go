package chaos

import (
	"slices"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/internal/clustertest"
)

// The harness's reports, turned into clustertest's history, must make
// its checker catch what the package comment promises: each case breaks
// one guarantee on purpose (or none) and names the kinds expected. The
// checker's own rules are tested case by case in internal/clustertest.

// oneTopic is a one-partition log of topic t holding records 0/0 ..
// 0/(n-1) at offsets start.., and the acknowledgements of those records.
func oneTopic(t string, start int64, n int) (partLogs, ProducerReport) {
	pl := &clustertest.PartitionLog{Start: start, End: start + int64(n)}
	pr := ProducerReport{ID: 0, Topic: t, Produced: int64(n)}
	for i := range n {
		off := start + int64(i)
		pl.Records = append(pl.Records, clustertest.LogRecord{Offset: off, ID: ID{Producer: 0, Seq: int64(i)}, OK: true})
		pr.Acks = append(pr.Acks, Ack{Seq: int64(i), Partition: 0, Offset: off})
	}
	return partLogs{{Topic: t, Partition: 0}: pl}, pr
}

// check runs the checker as finish does, on one reading.
func check(events []clustertest.Event, logs partLogs, earlier ...clustertest.Replica) *clustertest.Result {
	return clustertest.Check(events, []clustertest.Replica{{Name: "the online read", Logs: logs}}, clustertest.CheckOptions{
		ConsumedAll: true, ConsumedTopics: []string{MainTopic}, Retention: []string{RetentionTopic}, Earlier: earlier})
}

func kinds(res *clustertest.Result) []clustertest.Kind { return res.Found() }

func TestProducerReportsCheckedAgainstTheLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topic string
		edit  func(pl *clustertest.PartitionLog, pr *ProducerReport)
		want  []clustertest.Kind
	}{
		{"clean", RetentionTopic, func(*clustertest.PartitionLog, *ProducerReport) {}, nil},
		{"lost tail", RetentionTopic, func(pl *clustertest.PartitionLog, _ *ProducerReport) {
			pl.Records, pl.End = pl.Records[:8], 8
		}, []clustertest.Kind{clustertest.Lost}},
		{"failed produce appended", RetentionTopic, func(pl *clustertest.PartitionLog, pr *ProducerReport) {
			pr.Acks, pr.Failed = pr.Acks[:9], []int64{9}
		}, nil},
		{"failed produce appended twice", RetentionTopic, func(pl *clustertest.PartitionLog, pr *ProducerReport) {
			pr.Acks, pr.Failed = pr.Acks[:9], []int64{9}
			pl.Records = append(pl.Records, clustertest.LogRecord{Offset: 10, ID: ID{Producer: 0, Seq: 9}, OK: true})
			pl.End++
		}, []clustertest.Kind{clustertest.Duplicated}},
		{"gap", RetentionTopic, func(pl *clustertest.PartitionLog, _ *ProducerReport) {
			pl.Records = slices.Delete(pl.Records, 4, 5)
		}, []clustertest.Kind{clustertest.Lost, clustertest.Gap}},
		{"acknowledgements out of order", RetentionTopic, func(_ *clustertest.PartitionLog, pr *ProducerReport) {
			pr.Acks[4], pr.Acks[5] = pr.Acks[5], pr.Acks[4]
		}, []clustertest.Kind{clustertest.Reordered}},
		{"deleted by retention", RetentionTopic, func(pl *clustertest.PartitionLog, _ *ProducerReport) {
			pl.Records, pl.Start = pl.Records[4:], 4
		}, nil},
		{"log start moved on the main topic", MainTopic, func(pl *clustertest.PartitionLog, _ *ProducerReport) {
			pl.Records, pl.Start = pl.Records[4:], 4
		}, []clustertest.Kind{clustertest.Lost, clustertest.Unconsumed}},
		{"main topic never consumed", MainTopic, func(*clustertest.PartitionLog, *ProducerReport) {}, []clustertest.Kind{clustertest.Unconsumed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, pr := oneTopic(tc.topic, 0, 10)
			tc.edit(logs[clustertest.TopicPartition{Topic: tc.topic}], &pr)
			res := check(producerEvents([]ProducerReport{pr}), logs)
			if got := kinds(res); !slices.Equal(got, tc.want) {
				t.Errorf("found %v, want %v\n%s", got, tc.want, res.Report())
			}
		})
	}
}

func TestSegmentFilesAfterAKillCheckedAgainstTheFinalLog(t *testing.T) {
	logs, pr := oneTopic(RetentionTopic, 0, 10)
	atKill, _ := oneTopic(RetentionTopic, 0, 10)
	pl := atKill[clustertest.TopicPartition{Topic: RetentionTopic}]
	// On disk at the kill: a record not acknowledged yet, which the
	// final log lost.
	pl.Records = append(pl.Records, clustertest.LogRecord{Offset: 10, ID: ID{Producer: 0, Seq: 10}, OK: true})
	pl.End++
	pr.Produced, pr.Failed = 11, []int64{10}
	res := check(producerEvents([]ProducerReport{pr}), logs, clustertest.Replica{Name: "the segment files after kill 1", Logs: atKill})
	if got := kinds(res); !slices.Equal(got, []clustertest.Kind{clustertest.Rewritten}) || res.EarlierRecords != 10 {
		t.Errorf("found %v with %d records kept, want rewritten with 10\n%s", got, res.EarlierRecords, res.Report())
	}
}

func TestGroupReportsCheckedAgainstTheLog(t *testing.T) {
	const exit = "exit"
	for _, tc := range []struct {
		name  string
		lines []string // "<member>:<line>"; "<member>:exit" ends a member
		want  []clustertest.Kind
	}{
		{"redelivery after the last commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3",
			"0:rec 0 3 p0#3", "0:rec 0 4 p0#4", "0:exit",
			"1:assign 0", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, nil},
		{"assignment reported after the first record", []string{
			"0:rec 0 0 p0#0", "0:assign 0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, nil},
		{"started past the commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2", "0:exit",
			"1:assign 0", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.ConsumerSkipped, clustertest.Unconsumed}},
		{"rewound below the commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3", "0:lost 0",
			"1:assign 0", "1:rec 0 1 p0#1", "1:rec 0 2 p0#2", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5",
			"1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.ResumedBelowCommit}},
		{"unanswered commit may have been applied", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2",
			"0:rec 0 2 p0#2", "0:rec 0 3 p0#3", "0:try 0 4", "0:cfail 0 4", "0:lost 0",
			"1:assign 0", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, nil},
		{"refused commit was not applied", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2",
			"0:rec 0 2 p0#2", "0:rec 0 3 p0#3", "0:try 0 4", "0:reject 0 4 22", "0:lost 0",
			"1:assign 0", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.ConsumerSkipped}},
		{"gap within an assignment", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.ConsumerSkipped, clustertest.Unconsumed}},
		{"record not in the log", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#2", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.ConsumedPhantom}},
		{"commit went backwards", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3",
			"0:try 0 1", "0:commit 0 1",
			"0:rec 0 3 p0#3", "0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, []clustertest.Kind{clustertest.CommitBackwards}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, pr := oneTopic(MainTopic, 0, 8)
			l := NewGroupLog()
			for _, s := range tc.lines {
				m, line, _ := strings.Cut(s, ":")
				member := int(m[0] - '0')
				if line == exit {
					l.add(event{member: member, kind: evExit, p: -1})
					continue
				}
				l.line(member, line)
			}
			events, bad := l.snapshot()
			if len(bad) > 0 {
				t.Fatalf("bad lines: %v", bad)
			}
			group, _ := groupEvents(events, MainTopic)
			res := check(append(producerEvents([]ProducerReport{pr}), group...), logs)
			if got := kinds(res); !slices.Equal(got, tc.want) {
				t.Errorf("found %v, want %v\n%s", got, tc.want, res.Report())
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, id := range []ID{{Producer: 0, Seq: 0}, {Producer: 3, Seq: 123456789}, {Producer: 12, Seq: 1 << 40}} {
		v := EncodeValue(id)
		if len(v) != ValueSize {
			t.Errorf("%v: value of %d bytes, want %d", id, len(v), ValueSize)
		}
		got, ok := ParseValue(v)
		if !ok || got != id {
			t.Errorf("%v: parsed back as %v, %v", id, got, ok)
		}
		if back, ok := parseID(id.String()); !ok || back != id {
			t.Errorf("%v: String parsed back as %v, %v", id, back, ok)
		}
	}
	for _, bad := range []string{"", "ct", "ct x 1 ", "ct 1 ", "other 1 2 "} {
		if id, ok := ParseValue([]byte(bad)); ok {
			t.Errorf("%q parsed as %v", bad, id)
		}
	}
	for _, bad := range []string{"", "?", "1/2", "p1#", "p1#2x", "p-1#2", "p1#-2"} {
		if id, ok := parseID(bad); ok {
			t.Errorf("ID %q parsed as %v", bad, id)
		}
	}
}
