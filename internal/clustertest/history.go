package clustertest

import (
	"fmt"
	"sync"
	"time"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// EventKind is what an Event records.
type EventKind uint8

// What producers and consumers record. A send is followed by exactly one
// of an ack or a fail for the same ID, unless the run ended first.
const (
	// EvSend: a producer handed record ID to its client for TP.
	EvSend EventKind = iota + 1
	// EvAck: the broker acknowledged ID at TP and Offset.
	EvAck
	// EvFail: the client gave up on ID (Err). With acks=all the outcome
	// is unknown: the record may or may not be in the log.
	EvFail
	// EvAssign: consumer Client starts reading TP. Offset is where it
	// must start (a direct consumer), or -1 for a group member, which
	// starts at the group's committed offset.
	EvAssign
	// EvRevoke: consumer Client stopped reading TP (revoked or lost).
	EvRevoke
	// EvPoll: consumer Client polled the record at TP and Offset; ID is
	// its identity, OK false when the value was not one the harness
	// wrote.
	EvPoll
	// EvCommitTry: consumer Client sent a commit of Offset (the next
	// offset to read) for TP.
	EvCommitTry
	// EvCommitAck: that commit was acknowledged.
	EvCommitAck
	// EvCommitRefused: the broker refused it (an error code): it was
	// not stored.
	EvCommitRefused
	// EvCommitUnknown: no answer (Err): it may or may not be stored.
	EvCommitUnknown
)

var eventNames = [...]string{
	EvSend: "send", EvAck: "ack", EvFail: "fail", EvAssign: "assign", EvRevoke: "revoke", EvPoll: "poll",
	EvCommitTry: "commit-try", EvCommitAck: "commit-ack", EvCommitRefused: "commit-refused", EvCommitUnknown: "commit-unknown",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", k)
}

// Event is one step of a run's history.
type Event struct {
	// Index is the event's place in the history (set by History.Add):
	// the order in which the harness saw things happen.
	Index  int
	At     time.Duration // since the history began
	Kind   EventKind
	Client int // the producer's or the consumer's number
	TP     TopicPartition
	Offset int64
	ID     ID
	OK     bool   // EvPoll: the value parsed as a harness value
	Err    string // EvFail, EvCommitRefused, EvCommitUnknown
}

func (e Event) String() string {
	s := fmt.Sprintf("#%d +%v client %d %s %s", e.Index, e.At.Round(time.Millisecond), e.Client, e.Kind, e.TP)
	switch e.Kind {
	case EvSend, EvFail:
		s += " " + e.ID.String()
	case EvAck, EvPoll:
		s += fmt.Sprintf(" %s@%d", e.ID, e.Offset)
	default:
		s += fmt.Sprintf(" @%d", e.Offset)
	}
	if e.Err != "" {
		s += ": " + e.Err
	}
	return s
}

// History is the ordered record of everything the producers and
// consumers of a run did and saw. It is safe for concurrent use.
type History struct {
	began time.Time

	mu     sync.Mutex
	events []Event // guarded by mu
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{began: time.Now()} }

// Add appends e, stamping its Index and At.
func (h *History) Add(e Event) {
	h.mu.Lock()
	e.Index = len(h.events)
	e.At = time.Since(h.began)
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// Events returns a copy of the history so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Len is the number of events so far.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// Count returns how many events of kind k the history holds.
func (h *History) Count(k EventKind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}
