package chaos

import (
	"strings"
	"testing"
)

// The checks must catch what they claim to: each case breaks one
// guarantee on purpose (or none) and names the violation expected.

// oneTopic is a one-partition log holding records 0/0 .. 0/(n-1) at
// offsets start.. and the acknowledgements of those records.
func oneTopic(start int64, n int) (topicLog, ProducerReport) {
	pl := &partLog{Start: start, End: start + int64(n)}
	pr := ProducerReport{ID: 0, Topic: "t", Produced: int64(n)}
	for i := range n {
		off := start + int64(i)
		pl.Recs = append(pl.Recs, logRec{Offset: off, ID: ID{Producer: 0, Seq: int64(i)}, OK: true})
		pr.Acks = append(pr.Acks, Ack{Seq: int64(i), Partition: 0, Offset: off})
	}
	return topicLog{0: pl}, pr
}

func kinds(v *violations) string {
	return strings.Join(v.order, ",")
}

func TestCheckLog(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(tl topicLog, pr *ProducerReport)
		deletable bool
		want      string // violation kinds, in order found
	}{
		{"clean", func(topicLog, *ProducerReport) {}, false, ""},
		{"lost tail", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs, tl[0].End = tl[0].Recs[:8], 8
		}, false, "lost"},
		{"duplicate", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs = append(tl[0].Recs, logRec{Offset: 10, ID: ID{Producer: 0, Seq: 3}, OK: true})
			tl[0].End++
		}, false, "duplicated record"},
		{"gap", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs = append(tl[0].Recs[:4:4], tl[0].Recs[5:]...)
		}, false, "offsets not contiguous,lost"},
		{"reordered", func(tl topicLog, pr *ProducerReport) {
			r := tl[0].Recs
			r[4].ID, r[5].ID = r[5].ID, r[4].ID
			pr.Acks[4].Offset, pr.Acks[5].Offset = 5, 4
		}, false, "out of order,acknowledged out of order"},
		{"foreign", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs[2].OK = false
		}, false, "foreign record,lost"},
		{"deleted by retention", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs, tl[0].Start = tl[0].Recs[4:], 4
		}, true, ""},
		{"log start moved on a kept topic", func(tl topicLog, _ *ProducerReport) {
			tl[0].Recs, tl[0].Start = tl[0].Recs[4:], 4
		}, false, "log start moved,lost"},
		{"unacked record in the log", func(_ topicLog, pr *ProducerReport) {
			pr.Acks = pr.Acks[:9]
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, pr := oneTopic(0, 10)
			tc.edit(tl, &pr)
			v := newViolations()
			_, _ = checkLog(v, "t", tl, []ProducerReport{pr}, tc.deletable)
			if got := kinds(v); got != tc.want {
				t.Errorf("violations %q, want %q: %v", got, tc.want, v.list())
			}
		})
	}
}

func TestCheckGroup(t *testing.T) {
	const exit = "exit"
	for _, tc := range []struct {
		name  string
		lines []string // "<member>:<line>"; "<member>:exit" ends a member
		want  string
	}{
		{"redelivery after the last commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3",
			"0:rec 0 3 p0#3", "0:rec 0 4 p0#4", "0:exit",
			"1:assign 0", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, ""},
		{"assignment reported after the first record", []string{
			"0:rec 0 0 p0#0", "0:assign 0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, ""},
		{"started past the commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2", "0:exit",
			"1:assign 0", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, "skipped records,acknowledged record never processed"},
		{"rewound below the commit", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3", "0:lost 0",
			"1:assign 0", "1:rec 0 1 p0#1", "1:rec 0 2 p0#2", "1:rec 0 3 p0#3", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5",
			"1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, "rewound below a commit,redelivered below a commit"},
		{"unanswered commit may have been applied", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2",
			"0:rec 0 2 p0#2", "0:rec 0 3 p0#3", "0:try 0 4", "0:cfail 0 4", "0:lost 0",
			"1:assign 0", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, ""},
		{"refused commit was not applied", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:try 0 2", "0:commit 0 2",
			"0:rec 0 2 p0#2", "0:rec 0 3 p0#3", "0:try 0 4", "0:reject 0 4 22", "0:lost 0",
			"1:assign 0", "1:rec 0 4 p0#4", "1:rec 0 5 p0#5", "1:rec 0 6 p0#6", "1:rec 0 7 p0#7",
		}, "skipped records"},
		{"gap within an assignment", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, "skipped records,acknowledged record never processed"},
		{"record not in the log", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#2", "0:rec 0 2 p0#2", "0:rec 0 3 p0#3",
			"0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, "processed a record not in the log"},
		{"commit went backwards", []string{
			"0:assign 0", "0:rec 0 0 p0#0", "0:rec 0 1 p0#1", "0:rec 0 2 p0#2", "0:try 0 3", "0:commit 0 3",
			"0:try 0 1", "0:commit 0 1",
			"0:rec 0 3 p0#3", "0:rec 0 4 p0#4", "0:rec 0 5 p0#5", "0:rec 0 6 p0#6", "0:rec 0 7 p0#7",
		}, "commit went backwards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, pr := oneTopic(0, 8)
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
			v := newViolations()
			checkGroup(v, events, tl, []ProducerReport{pr})
			if got := kinds(v); got != tc.want {
				t.Errorf("violations %q, want %q: %v", got, tc.want, v.list())
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
