package replica

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
)

// FetchErrorNetwork is the FetchStats error name of a replica fetch that
// got no answer (dial, write, read or timeout), as opposed to a Kafka
// error code, which is counted by its name (NOT_LEADER_OR_FOLLOWER, ...).
// It is cluster.MetricReplicaFetchErrors' "network".
const FetchErrorNetwork = "network"

// FetchStats counts the replica fetches a broker's fetchers send and the
// ones that failed, for Kafka's fetcher metrics. The zero value is ready;
// it is safe for concurrent use. The error names are Kafka's error codes'
// (a bounded set) and FetchErrorNetwork.
type FetchStats struct {
	requests atomic.Int64
	restarts atomic.Int64

	mu     sync.Mutex       // guards errors
	errors map[string]int64 // by error name
}

func (s *FetchStats) request() {
	if s != nil {
		s.requests.Add(1)
	}
}

func (s *FetchStats) restart() {
	if s != nil {
		s.restarts.Add(1)
	}
}

// fetchError counts one failed fetch (a request, or one partition's
// answer) by its Kafka error name, or other if it carries none: a request
// that got no answer is FetchErrorNetwork, a partition's answer refused
// here (bad records, a failed append) UNKNOWN_SERVER_ERROR.
func (s *FetchStats) fetchError(err error, other string) {
	if s == nil || err == nil {
		return
	}
	name := other
	var ke *kerr.Error
	if errors.As(err, &ke) {
		name = ke.Message
	}
	s.mu.Lock()
	if s.errors == nil {
		s.errors = make(map[string]int64)
	}
	s.errors[name]++
	s.mu.Unlock()
}

// Requests is the number of replica fetches sent.
func (s *FetchStats) Requests() int64 { return s.requests.Load() }

// Restarts is the number of replica fetches ended before their answer
// so that partitions added to the fetcher are fetched at once (each
// costs a dial and a full fetch of every partition of its leader).
func (s *FetchStats) Restarts() int64 { return s.restarts.Load() }

// Errors returns a copy of the failed fetches by error name.
func (s *FetchStats) Errors() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.errors))
	for k, v := range s.errors {
		out[k] = v
	}
	return out
}

// Stats is a Manager's standing, read for metrics and status.
type Stats struct {
	// Leaders and Followers count the partitions this broker leads and
	// follows (fetches).
	Leaders, Followers int
	// ISRShrinks and ISRExpands count the ISR changes this broker, as a
	// leader, proposed and saw committed: a change that drops a member is
	// a shrink, one that adds a member an expansion (one that does both
	// counts as both), as Kafka's IsrShrinksPerSec and IsrExpandsPerSec.
	ISRShrinks, ISRExpands int64
	// MaxLag is the largest lag in records of a partition this broker
	// follows behind its leader: the leader's high watermark in the last
	// answer minus the follower's log end (Kafka's replica fetcher
	// MaxLag); 0 when it follows none, or none is behind.
	MaxLag int64
}

// Stats reports the Manager's standing.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	st := Stats{Leaders: len(m.leaders), Followers: len(m.following)}
	fetchers := make([]*Fetcher, 0, len(m.fetchers))
	for _, f := range m.fetchers {
		fetchers = append(fetchers, f)
	}
	m.mu.Unlock()
	for _, f := range fetchers {
		st.MaxLag = max(st.MaxLag, f.MaxLag())
	}
	st.ISRShrinks, st.ISRExpands = m.isrShrinks.Load(), m.isrExpands.Load()
	return st
}

// FetchStats is the count of replica fetches of every fetcher this
// Manager started.
func (m *Manager) FetchStats() *FetchStats { return m.fetchStats }

// Leaders returns the Leaders of the partitions this broker leads.
func (m *Manager) Leaders() []*Leader {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Leader, 0, len(m.leaders))
	for _, ld := range m.leaders {
		out = append(out, ld)
	}
	return out
}

// countISRChange counts a committed ISR change from old to next.
func (m *Manager) countISRChange(old, next []int32) {
	for _, id := range old {
		if !slices.Contains(next, id) {
			m.isrShrinks.Add(1)
			break
		}
	}
	for _, id := range next {
		if !slices.Contains(old, id) {
			m.isrExpands.Add(1)
			break
		}
	}
}

// MaxLag is the largest lag in records of the partitions f fetches behind
// the leader's high watermark as its last answer gave it (0 before any).
func (f *Fetcher) MaxLag() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lag int64
	for _, p := range f.parts {
		if hw := p.leaderHW.Load(); hw >= 0 {
			lag = max(lag, hw-p.log.NextOffset())
		}
	}
	return lag
}

// ISRStanding is the size of the committed ISR and replica set of the
// partition ld leads, and its min.insync.replicas, for the under- and
// at-min-ISR counts.
func (ld *Leader) ISRStanding() (isr, replicas, minISR int) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.state.ISR), len(ld.state.Replicas), ld.cfg.MinISR
}
