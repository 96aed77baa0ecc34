package chaos

import (
	"fmt"
	"strings"

	"github.com/tributary-io/tributary/internal/clustertest"
)

// The run's history in the terms of clustertest's checker, which checks
// it: what the producers and the group's members reported, as events; the
// log read online, from the data dir and after each kill, as replicas of
// one node. What the checker does not see (a broker that did not restart,
// a group stuck, an unclean shutdown, damage in the data dir, a member's
// bad output) the harness collects itself as violations.

// maxExamples is how many instances of one kind of violation are kept.
const maxExamples = 10

// violations collects what the harness found broken, by kind, with a few
// examples each.
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

// addResult adds every kind of broken guarantee the checker found.
func (v *violations) addResult(res *clustertest.Result) {
	for _, k := range res.Found() {
		kind := string(k)
		if v.counts[kind] == 0 {
			v.order = append(v.order, kind)
		}
		v.counts[kind] += res.Counts[k]
		v.examples[kind] = append(v.examples[kind], res.Examples[k]...)
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

// producerEvents is what the producers reported, as the checker's
// events: every sequence number sent, then the acknowledgements in the
// order they came and the failures.
func producerEvents(reports []ProducerReport) []clustertest.Event {
	var evs []clustertest.Event
	for _, pr := range reports {
		for seq := range pr.Produced {
			evs = append(evs, clustertest.Event{Kind: clustertest.EvSend, Client: pr.ID, TP: clustertest.TopicPartition{Topic: pr.Topic, Partition: -1},
				Offset: -1, ID: ID{Producer: pr.ID, Seq: seq}})
		}
		for _, a := range pr.Acks {
			evs = append(evs, clustertest.Event{Kind: clustertest.EvAck, Client: pr.ID, TP: clustertest.TopicPartition{Topic: pr.Topic, Partition: a.Partition},
				Offset: a.Offset, ID: ID{Producer: pr.ID, Seq: a.Seq}})
		}
		for _, seq := range pr.Failed {
			evs = append(evs, clustertest.Event{Kind: clustertest.EvFail, Client: pr.ID, TP: clustertest.TopicPartition{Topic: pr.Topic, Partition: -1},
				Offset: -1, ID: ID{Producer: pr.ID, Seq: seq}})
		}
	}
	return evs
}

// groupStats is what the members' events say of the commits.
type groupStats struct {
	Commits   int // acknowledged
	Uncertain int // without an answer
}

// groupEvents is what the members of the group reading topic reported,
// in the order it arrived, as the checker's events. Member numbers are
// never reused, so a member's exit ends its assignments. A member may
// print its assignment after the first records of it (the callback and
// the processing race in the child): that assignment is the one already
// under way, not a new one.
func groupEvents(events []event, topic string) ([]clustertest.Event, groupStats) {
	var st groupStats
	type mp struct {
		member int
		p      int32
	}
	// running: the member is processing the partition; the value says
	// whether its assignment was reported.
	running := map[mp]bool{}
	var evs []clustertest.Event
	add := func(kind clustertest.EventKind, e event) {
		ev := clustertest.Event{Kind: kind, Client: e.member, TP: clustertest.TopicPartition{Topic: topic, Partition: e.p}, Offset: e.o}
		if kind == clustertest.EvCommitRefused {
			ev.Err = fmt.Sprintf("error code %d", e.code)
		}
		evs = append(evs, ev)
	}
	for _, e := range events {
		k := mp{e.member, e.p}
		switch e.kind {
		case evExit:
			for r := range running {
				if r.member == e.member {
					delete(running, r)
					add(clustertest.EvRevoke, event{member: r.member, p: r.p, o: -1})
				}
			}
		case evAssign:
			if assigned, ok := running[k]; ok && !assigned {
				running[k] = true
				continue
			}
			running[k] = true
			e.o = -1
			add(clustertest.EvAssign, e)
		case evRevoke, evLost:
			delete(running, k)
			e.o = -1
			add(clustertest.EvRevoke, e)
		case evRec:
			if _, ok := running[k]; !ok {
				running[k] = false
			}
			evs = append(evs, clustertest.Event{Kind: clustertest.EvPoll, Client: e.member, TP: clustertest.TopicPartition{Topic: topic, Partition: e.p},
				Offset: e.o, ID: e.id, OK: e.idOK})
		case evTry:
			add(clustertest.EvCommitTry, e)
		case evCommit:
			st.Commits++
			add(clustertest.EvCommitAck, e)
		case evReject:
			add(clustertest.EvCommitRefused, e)
		case evCfail:
			st.Uncertain++
			add(clustertest.EvCommitUnknown, e)
		}
	}
	return evs, st
}
