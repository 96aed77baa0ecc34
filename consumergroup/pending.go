package consumergroup

import (
	"iter"
	"slices"
)

// pendingWrite is one write to __consumer_offsets that the group's owner
// has appended and that waits for its partition's in-sync replicas
// (Config.WaitAppended) off the owner, on the goroutine of the request
// that made it, so that the group keeps serving heartbeats, other
// members and other requests meanwhile, as Kafka's coordinator keeps its
// pending offset commits and its pending group metadata write beside the
// group. The write takes effect in the group's state only once it is
// known replicated (settle), which the owner learns from the request's
// goroutine.
type pendingWrite struct {
	// ps is the ownership of the partition the append was made under (its
	// context ends the wait when the partition is unloaded); nil on a
	// single broker.
	ps         *offsetsPartition
	lastOffset int64 // of the append
	// commit is a commit's offset records: applying the write sets them
	// in the group's offsets, in order.
	commit []record
	// apply makes the write take effect (a commit's offsets, a
	// generation's assignment); run by the owner once the write is
	// replicated. It must not write to __consumer_offsets itself: writes
	// settle in append order. Nil: nothing.
	apply func()
	// fail, when set, is run by the owner when the write was not
	// replicated (its error): what the write was to do is undone or
	// given up. It may write.
	fail func(err error)
	// res has room for the one answer the owner sends when it settles the
	// write: nil once applied, else why not.
	res chan error
}

// write appends recs to the group's __consumer_offsets partition in one
// append, as the owner of its state; commit says they are a commit's
// offsets, which applying the write sets. Without Config.WaitAppended (a
// single broker) the write is done once appended: it is applied now and
// the pendingWrite is nil. Otherwise the write joins the group's pending
// writes and is returned: the caller hands it to awaitWrite off the
// owner (a request's goroutine) or to finishNow on it. An append that
// fails returns its error and neither apply nor fail runs.
func (g *group) write(recs []record, commit bool, apply func(), fail func(error)) (*pendingWrite, error) {
	ps, lastOffset, err := g.c.appendRecords(g.partition, recs)
	if err != nil {
		return nil, err
	}
	var commitRecs []record
	if commit {
		commitRecs = recs
	}
	if g.c.cfg.WaitAppended == nil {
		g.applyWrite(commitRecs, apply) // no pendingWrite: a single broker's commit allocates none
		return nil, nil
	}
	w := &pendingWrite{ps: ps, lastOffset: lastOffset, commit: commitRecs, apply: apply, fail: fail, res: make(chan error, 1)}
	g.writes = append(g.writes, w)
	return w, nil
}

// applyWrite makes a write take effect: a commit's offset records are
// set, then apply runs. Caller owns g's state.
func (g *group) applyWrite(commit []record, apply func()) {
	for _, rec := range commit { // in request order: a partition named twice keeps the last
		g.offsets.set(rec.tp, rec.om)
	}
	if apply != nil {
		apply()
	}
}

// offsetKeys is every partition the group has an offset for, or will
// have once its pending commits are applied, each once: what a write that
// drops offsets (DeleteGroups, OffsetDelete, a deleted topic) must
// tombstone, so that a pending commit applied before it does not outlive
// it, in memory or in the compacted log.
func (g *group) offsetKeys() iter.Seq[TopicPartition] {
	return func(yield func(TopicPartition) bool) {
		for tp := range g.offsets.all() {
			if !yield(tp) {
				return
			}
		}
		var seen map[TopicPartition]bool
		for _, w := range g.writes {
			for _, rec := range w.commit {
				if _, ok := g.offsets.get(rec.tp); ok || seen[rec.tp] {
					continue
				}
				if seen == nil {
					seen = make(map[TopicPartition]bool)
				}
				seen[rec.tp] = true
				if !yield(rec.tp) {
					return
				}
			}
		}
	}
}

// hasOffset reports whether the group has an offset for tp, or will have
// once its pending commits are applied.
func (g *group) hasOffset(tp TopicPartition) bool {
	if _, ok := g.offsets.get(tp); ok {
		return true
	}
	for _, w := range g.writes {
		for _, rec := range w.commit {
			if rec.tp == tp {
				return true
			}
		}
	}
	return false
}

// awaitWrite waits for w's replicas on the caller's goroutine, which must
// not be the group's owner (the owner keeps serving the group meanwhile),
// then has the owner settle it, and returns its answer. A group stopped
// meanwhile answers with why (its partition unloaded:
// ErrNotCoordinatorForGroup), unless a later write had already settled w.
// Nil w (a single broker's write) is done: nil.
func (g *group) awaitWrite(w *pendingWrite) error {
	if w == nil {
		return nil
	}
	err := g.c.waitAppended(w.ps, g.partition, w.lastOffset)
	runErr := g.run(func() { g.settle(w, err) })
	select {
	case err := <-w.res:
		return err
	default:
		// Not settled: the group stopped before the owner could (settle
		// always answers).
		return runErr
	}
}

// finishNow waits for w's replicas on the owner itself and settles it:
// for the writes that change the group at once (deleting it or its
// offsets, expiry, an empty group's generation), which are rare, and after
// which the owner goes on as the write went. Nil w is done: nil.
func (g *group) finishNow(w *pendingWrite) error {
	if w == nil {
		return nil
	}
	g.settle(w, g.c.waitAppended(w.ps, g.partition, w.lastOffset))
	return <-w.res
}

// writeNow is write then finishNow: the write takes effect, and the
// caller goes on, only once it is replicated.
func (g *group) writeNow(recs []record) error {
	w, err := g.write(recs, false, nil, nil)
	if err != nil {
		return err
	}
	return g.finishNow(w)
}

// settle records, as the owner, that w's wait for its replicas ended with
// err. Replicated: w takes effect, after every write appended before it
// that is still pending, in append order (they are below w in the log,
// so the high watermark passed them too; their own requests find them
// answered). Not replicated: w is dropped and answered with err, taking
// no effect (OffsetFetch keeps showing what was committed before it, as
// Kafka's pending offset commits), and its fail runs. A write settled
// already (by a later one) is left as it is.
func (g *group) settle(w *pendingWrite, err error) {
	i := slices.Index(g.writes, w)
	if i < 0 {
		return
	}
	if err != nil {
		g.writes = slices.Delete(g.writes, i, i+1)
		if w.fail != nil {
			w.fail(err)
		}
		w.res <- err
		return
	}
	done := slices.Clone(g.writes[:i+1])
	g.writes = slices.Delete(g.writes, 0, i+1)
	for _, x := range done {
		g.applyWrite(x.commit, x.apply)
		x.res <- nil
	}
}
