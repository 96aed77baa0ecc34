package clustertest

// The consumers' side of Check: the history's assignments, polls and
// commits replayed in order.

// session is a consumer reading one partition, from its assignment on.
type session struct {
	open   bool  // polled at least once since the assignment
	from   int64 // where it must start; -1: the group's commit
	next   int64 // the offset after the last one polled
	direct bool  // started with an explicit offset
}

// commitTry is a commit a consumer sent for a partition.
type commitTry struct {
	client   int
	next     int64
	pos      int  // its place in the history
	answered bool // acknowledged or unanswered (a refused try is dropped)
}

// commits is what the history says of one partition's group commits.
type commits struct {
	lastAcked    int64 // -1: none acknowledged
	lastAckedPos int   // the history place of lastAcked's try
	maxAcked     int64 // -1: none acknowledged
	// open are the tries that may be the stored commit: sent after
	// lastAcked's and not refused. An acknowledged commit makes every
	// try sent before it history; an unanswered one may have been
	// applied (the broker died after storing it), so it stays.
	open []*commitTry
}

// find returns the oldest try of client with next not answered yet.
func (c *commits) find(client int, next int64) *commitTry {
	for _, t := range c.open {
		if t.client == client && t.next == next && !t.answered {
			return t
		}
	}
	return nil
}

// checkConsumers replays the consumers' events in history order.
func checkConsumers(r *Result, events []Event, ref map[TopicPartition]*PartitionLog, consumedAll bool, consumedTopics map[string]bool) {
	type key struct {
		client int
		tp     TopicPartition
	}
	sessions := map[key]*session{}
	cs := map[TopicPartition]*commits{}
	getCommits := func(tp TopicPartition) *commits {
		c := cs[tp]
		if c == nil {
			c = &commits{lastAcked: -1, lastAckedPos: -1, maxAcked: -1}
			cs[tp] = c
		}
		return c
	}
	polledAt := map[at]bool{}
	groupPolled := map[at]bool{} // offsets polled by a group member
	for pos, e := range events {
		k := key{e.Client, e.TP}
		switch e.Kind {
		case EvAssign:
			sessions[k] = &session{from: e.Offset, direct: e.Offset >= 0}
		case EvRevoke:
			delete(sessions, k)
		case EvCommitTry:
			c := getCommits(e.TP)
			c.open = append(c.open, &commitTry{client: e.Client, next: e.Offset, pos: pos})
		case EvCommitAck:
			c := getCommits(e.TP)
			tryPos := pos // an acknowledgement without its try: sent just now
			if t := c.find(e.Client, e.Offset); t != nil {
				tryPos = t.pos
			}
			if e.Offset < c.maxAcked {
				r.add(CommitBackwards, at{e.TP, e.Offset}, "consumer %d's commit of %s@%d acknowledged after one of %d",
					e.Client, e.TP, e.Offset, c.maxAcked)
			}
			c.lastAcked, c.lastAckedPos = e.Offset, tryPos
			c.maxAcked = max(c.maxAcked, e.Offset)
			keep := c.open[:0]
			for _, t := range c.open {
				if t.pos > tryPos {
					keep = append(keep, t)
				}
			}
			c.open = keep
		case EvCommitRefused:
			c := getCommits(e.TP)
			if t := c.find(e.Client, e.Offset); t != nil {
				c.open = deleteTry(c.open, t) // not stored
			}
		case EvCommitUnknown:
			if t := getCommits(e.TP).find(e.Client, e.Offset); t != nil {
				t.answered = true // and stays open: it may be stored
			}
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
			c := getCommits(e.TP)
			if !s.open {
				s.open = true
				r.Starts++
				checkStart(r, e, s, c, pl)
			} else if e.Offset > s.next {
				r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d polled %s right after %d", e.Client, here, s.next-1)
			} else if e.Offset < s.next {
				r.add(ConsumerRewound, key2{e.Client, here}, "consumer %d polled %s after %d in one assignment", e.Client, here, s.next-1)
			}
			s.next = e.Offset + 1
			if !s.direct {
				if groupPolled[here] {
					r.Repolled++
					if e.Offset < c.maxAcked {
						r.add(ResumedBelowCommit, key2{e.Client, here}, "consumer %d polled %s again, a commit of %d was acknowledged before",
							e.Client, here, c.maxAcked)
					}
				}
				groupPolled[here] = true
			}
		}
	}
	if !consumedAll {
		return
	}
	for _, e := range events {
		if e.Kind != EvAck || len(consumedTopics) > 0 && !consumedTopics[e.TP.Topic] {
			continue
		}
		if e.Offset >= 0 && !polledAt[at{e.TP, e.Offset}] {
			r.add(Unconsumed, e.ID, "%s acknowledged at %s@%d was never polled", e.ID, e.TP, e.Offset)
		}
	}
}

func deleteTry(ts []*commitTry, t *commitTry) []*commitTry {
	for i, x := range ts {
		if x == t {
			return append(ts[:i], ts[i+1:]...)
		}
	}
	return ts
}

type key2 struct {
	client int
	at     at
}

// checkStart checks the first poll of an assignment. A direct consumer
// starts where it was told. A group member starts at the committed
// offset: the last acknowledged commit, or a commit tried since that was
// not refused (its answer may have been lost with the broker that stored
// it); without a commit (or below the log start) at the log start.
func checkStart(r *Result, e Event, s *session, c *commits, pl *PartitionLog) {
	here := at{e.TP, e.Offset}
	if s.direct {
		if e.Offset > s.from {
			r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d started %s at %d, asked to start at %d", e.Client, e.TP, e.Offset, s.from)
		}
		return
	}
	base := max(c.lastAcked, 0)
	if c.lastAcked >= 0 && e.Offset < c.lastAcked {
		r.add(ResumedBelowCommit, key2{e.Client, here}, "consumer %d started %s at %d, the last acknowledged commit is %d", e.Client, e.TP, e.Offset, c.lastAcked)
		return
	}
	if e.Offset == base || pl != nil && e.Offset <= pl.Start {
		return
	}
	var tried []int64
	for _, t := range c.open {
		if t.next == e.Offset {
			return
		}
		tried = append(tried, t.next)
	}
	r.add(ConsumerSkipped, key2{e.Client, here}, "consumer %d started %s at %d; the last acknowledged commit is %d, commits tried since and not refused: %v",
		e.Client, e.TP, e.Offset, c.lastAcked, tried)
}
