package consumergroup

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
)

// Commit handles an OffsetCommit request. It returns one error per offset
// (nil for each stored), or a single error for the whole request. Offsets
// are appended to __consumer_offsets, and in a cluster replicated, before
// Commit returns; the group's owner does not wait for the replicas.
func (c *Coordinator) Commit(r CommitRequest) ([]error, error) {
	// The empty group id is valid here, as in Kafka: old clients commit
	// under it.
	errs := make([]error, len(r.Offsets))
	valid := 0
	// The last topic looked up: a commit lists a topic's partitions together.
	var t topicInfo
	topics := make(map[string]tlog.TopicID)
	for i, o := range r.Offsets {
		if !t.ok || t.name != o.Topic {
			t = c.topic(o.Topic)
		}
		if !t.ok || o.Partition < 0 || int(o.Partition) >= t.partitions {
			errs[i] = ErrUnknownTopicOrPartition
		} else if o.Metadata != nil && len(*o.Metadata) > c.cfg.OffsetMetadataMaxBytes {
			errs[i] = ErrMetadataTooLarge
		} else {
			topics[o.Topic] = t.id
			valid++
		}
	}
	// A simple commit (no member, generation -1) may create its group;
	// one naming a generation may not: that generation is gone.
	g, err := c.lookup(r.Group, r.Generation < 0)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, ErrIllegalGeneration
	}
	// One variable for what the closure hands back: one allocation.
	var out struct {
		w   *pendingWrite
		err error
	}
	if err := g.run(func() { out.w, out.err = g.commit(r, errs, valid, topics) }); err != nil {
		return nil, err
	}
	if err := g.awaitWrite(out.w); err != nil {
		setPending(errs, err)
	}
	return errs, out.err
}

// topicInfo is what a commit checks of a topic.
type topicInfo struct {
	name       string
	id         tlog.TopicID
	partitions int
	ok         bool // the topic exists
}

// topic looks a topic up: with Config.LookupTopic when set (a cluster's
// metadata), else in the local Manager.
func (c *Coordinator) topic(name string) topicInfo {
	if c.cfg.LookupTopic != nil {
		id, n, ok := c.cfg.LookupTopic(name)
		return topicInfo{name: name, id: id, partitions: n, ok: ok}
	}
	t, ok := c.mgr.Topic(name)
	if !ok {
		return topicInfo{name: name}
	}
	return topicInfo{name: name, id: t.ID, partitions: len(t.Partitions), ok: true}
}

// commit appends the offsets of r whose errs are nil; topics holds the ID
// each of their topics had when Commit checked it. The write it returns
// (nil when nothing waits: a single broker's, or nothing to store) stores
// them once settled; an error is the whole request's.
func (g *group) commit(r CommitRequest, errs []error, valid int, topics map[string]tlog.TopicID) (*pendingWrite, error) {
	if r.Generation >= 0 || r.MemberID != "" || r.InstanceID != nil {
		// A group member's commit (naming a member or an instance makes
		// it one, whatever the generation): as Kafka, the member and its
		// generation are checked before the group's state, so a stale
		// or removed member learns so (ILLEGAL_GENERATION,
		// UNKNOWN_MEMBER_ID) rather than being told to rejoin.
		m, err := g.generationMember(r.MemberID, r.InstanceID, r.Generation)
		if err != nil {
			return nil, err
		}
		if g.state == CompletingRebalance {
			return nil, ErrRebalanceInProgress // the generation has no assignment yet
		}
		g.heartbeat(m) // a commit proves the member alive, as in Kafka
	} else if g.state != Empty {
		// A simple commit: only members commit into a group that has them.
		return nil, ErrUnknownMemberID
	}
	// Again on the group's loop, right before the append: a topic deleted
	// (or deleted and created again) since Commit looked has had its
	// offsets dropped from this group already, or will have them dropped
	// after this (DeleteTopicOffsets runs on this loop too), so a commit
	// for it must not be stored in between.
	still := make(map[string]bool, len(topics))
	for name, id := range topics {
		t := g.c.topic(name)
		still[name] = t.ok && t.id == id
	}
	for i, o := range r.Offsets {
		if errs[i] == nil && !still[o.Topic] {
			errs[i] = ErrUnknownTopicOrPartition
			valid--
		}
	}
	if valid == 0 {
		// Nothing to store: a simple commit must not leave behind an
		// empty group it created (commits with fresh group ids would
		// pile them up).
		g.dieIfUnused()
		return nil, nil
	}
	now := g.c.cfg.now().UnixMilli()
	expire := int64(-1)
	if r.Retention > 0 {
		expire = now + r.Retention.Milliseconds()
	}
	recs := make([]record, 0, valid)
	size := 0
	for i, o := range r.Offsets {
		if errs[i] == nil {
			size += offsetRecordSize(g.id, o.TopicPartition, len(ptrString(o.Metadata)))
		}
	}
	arena := make([]byte, 0, size)
	for i, o := range r.Offsets {
		if errs[i] != nil {
			continue
		}
		om := OffsetAndMetadata{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: ptrString(o.Metadata), CommitTime: now, ExpireTime: expire}
		recs = append(recs, offsetRecord(&arena, g.id, o.TopicPartition, &om))
	}
	// The offsets take effect, and OffsetFetch shows them, once the
	// write is replicated (Kafka's pending offset commits): the request
	// waits for that off the group's owner (awaitWrite).
	w, err := g.write(recs, true, nil, nil)
	if err != nil {
		setPending(errs, err)
		return nil, nil
	}
	return w, nil
}

// setPending answers err for every offset of a commit not answered yet.
func setPending(errs []error, err error) {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
}

// FetchOffsets returns the group's committed offsets: of the given
// partitions, or all of them when tps is nil. A partition without a commit
// is absent from the map; an unknown group has none.
func (c *Coordinator) FetchOffsets(groupID string, tps []TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	g, err := c.lookup(groupID, false)
	if err != nil || g == nil {
		return map[TopicPartition]OffsetAndMetadata{}, err
	}
	out := make(map[TopicPartition]OffsetAndMetadata)
	err = g.run(func() {
		if tps == nil {
			for tp, om := range g.offsets.all() {
				out[tp] = om
			}
			return
		}
		for _, tp := range tps {
			if om, ok := g.offsets.get(tp); ok {
				out[tp] = om
			}
		}
	})
	return out, err
}

// DeleteGroup deletes an empty group and its offsets (DeleteGroups).
func (c *Coordinator) DeleteGroup(groupID string) error {
	g, err := c.lookup(groupID, false)
	if err != nil {
		return err
	}
	if g == nil {
		return ErrGroupNotFound
	}
	var res error
	if err := g.run(func() { res = g.delete() }); err != nil {
		return goneErr(err) // it died meanwhile
	}
	return res
}

func (g *group) delete() error {
	if g.state != Empty {
		return ErrNonEmptyGroup
	}
	recs := make([]record, 0, g.offsets.len()+1)
	for tp := range g.offsetKeys() {
		recs = append(recs, offsetRecord(new([]byte), g.id, tp, nil))
	}
	recs = append(recs, metadataTombstone(g.id))
	if err := g.writeNow(recs); err != nil {
		return err
	}
	g.c.logger.Info("consumergroup: group deleted", "group", g.id, "offsets", g.offsets.len())
	g.offsets = nil
	g.setState(Dead)
	return nil
}

// DeleteOffsets deletes committed offsets of a group (OffsetDelete). A
// group with members keeps the offsets of topics its consumers subscribe
// to (ErrGroupSubscribedToTopic for those); a non-consumer group with
// members refuses with ErrNonEmptyGroup.
func (c *Coordinator) DeleteOffsets(groupID string, tps []TopicPartition) ([]error, error) {
	g, err := c.lookup(groupID, false)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, ErrGroupNotFound
	}
	errs := make([]error, len(tps))
	var res error
	if err := g.run(func() { res = g.deleteOffsets(tps, errs) }); err != nil {
		return nil, goneErr(err)
	}
	return errs, res
}

func (g *group) deleteOffsets(tps []TopicPartition, errs []error) error {
	var subscribed map[string]bool
	known := true
	if g.state != Empty {
		if g.protocolType != "consumer" {
			return ErrNonEmptyGroup
		}
		subscribed, known = g.subscribedTopics()
	}
	var recs []record
	for i, tp := range tps {
		// A subscription that does not decode could name any topic:
		// Kafka then counts every topic as subscribed.
		if !known || subscribed[tp.Topic] {
			errs[i] = ErrGroupSubscribedToTopic
			continue
		}
		if g.hasOffset(tp) {
			recs = append(recs, offsetRecord(new([]byte), g.id, tp, nil))
		}
	}
	if len(recs) > 0 {
		if err := g.writeNow(recs); err != nil {
			return err
		}
	}
	for _, r := range recs {
		g.offsets.delete(r.tp)
	}
	return nil
}

// subscribedTopics decodes the consumer members' subscriptions for the
// group's protocol; ok is false when one does not decode (then nothing is
// known about what the group reads).
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	topics = make(map[string]bool)
	if g.protocol == "" {
		// No generation formed since the group was empty: it reads
		// nothing yet (Kafka's subscribed topics of an empty generation).
		return topics, true
	}
	for _, m := range g.order {
		metadata := m.metadataFor(g.protocol)
		if metadata == nil {
			// Joined since the generation formed, with protocols
			// without the group's: not part of what the group reads.
			continue
		}
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(metadata); err != nil {
			return topics, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// expireOffsets drops offsets past their retention, as Kafka does since
// KIP-211: a consumer group's offsets expire offsets.retention.minutes
// after it became empty; offsets of a group without a protocol (simple
// commits) each expire that long after their commit; a commit's explicit
// expire time wins. An empty group with no offsets left is deleted.
func (g *group) expireOffsets(now time.Time) {
	nowMs := now.UnixMilli()
	retention := g.c.cfg.OffsetsRetention.Milliseconds()
	var subscribed map[string]bool
	if g.state != Empty {
		// A live group's offsets expire only for topics a stable consumer
		// group no longer subscribes to; otherwise nothing can be judged.
		var ok bool
		if subscribed, ok = g.subscribedTopics(); !ok || g.state != Stable || g.protocolType != "consumer" {
			return
		}
	}
	var recs []record
	for tp, om := range g.offsets.all() {
		var expired bool
		switch {
		case g.state != Empty && subscribed[tp.Topic]:
			// The group consumes it: not even a commit's explicit
			// expire time (OffsetCommit v2-v4) drops it, as in Kafka.
		case om.ExpireTime >= 0:
			expired = nowMs >= om.ExpireTime
		case g.state == Empty && g.protocolType != "":
			expired = nowMs >= g.stateTime+retention
		default: // a simple group's, or a topic the live group left
			expired = nowMs >= om.CommitTime+retention
		}
		if expired {
			recs = append(recs, offsetRecord(new([]byte), g.id, tp, nil))
		}
	}
	// A group with commits pending is not dead: they are newer than
	// any retention.
	dead := g.state == Empty && len(recs) == g.offsets.len() && len(g.writes) == 0
	if dead && g.hasMetadata {
		recs = append(recs, metadataTombstone(g.id))
	}
	if len(recs) == 0 && !dead {
		return
	}
	if len(recs) > 0 {
		if err := g.writeNow(recs); err != nil {
			g.c.logger.Warn("consumergroup: expiring offsets failed", "group", g.id, "err", err)
			return
		}
	}
	for _, r := range recs {
		if r.tp.Topic != "" { // an offset's tombstone, not the group's
			g.offsets.delete(r.tp)
		}
	}
	if len(recs) > 0 {
		g.c.logger.Info("consumergroup: offsets expired", "group", g.id, "count", len(recs))
	}
	if dead {
		g.setState(Dead)
	}
}

// goneErr is the answer to an operation on a group that stopped before it
// ran: not found, as it was deleted meanwhile, unless its partition was
// unloaded (ErrNotCoordinatorForGroup: the client finds the new
// coordinator).
func goneErr(err error) error {
	if errors.Is(err, ErrNotCoordinatorForGroup) {
		return err
	}
	return ErrGroupNotFound
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DeleteTopicOffsets drops every group's committed offsets for topics, as
// Kafka does when a topic is deleted: a topic created again under the same
// name then starts without commits, so its consumers do not resume at
// offsets of the old one. Tombstones are appended before the offsets are
// forgotten, so the removal survives a restart. Live groups lose them too
// (their members fall back to their reset policy, as in Kafka). Called
// while the offsets are still being replayed after a start, it waits for
// the replay.
func (c *Coordinator) DeleteTopicOffsets(topics ...string) error {
	// Right after a start the offsets are still being replayed: wait, or
	// the deleted topics' offsets would come back with the replay.
	if err := c.WaitLoaded(); err != nil {
		return err
	}
	if err := c.ready(); err != nil {
		return err
	}
	deleted := make(map[string]bool, len(topics))
	for _, t := range topics {
		deleted[t] = true
	}
	var errs []error
	for _, g := range c.allGroups() {
		var err error
		if g.run(func() { err = g.dropTopicOffsets(deleted) }) != nil {
			continue // the group went away meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("consumergroup: group %q: %w", g.id, err))
		}
	}
	return errors.Join(errs...)
}

func (g *group) dropTopicOffsets(topics map[string]bool) error {
	var recs []record
	for tp := range g.offsetKeys() {
		if topics[tp.Topic] {
			recs = append(recs, offsetRecord(new([]byte), g.id, tp, nil))
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := g.writeNow(recs); err != nil {
		return err
	}
	for _, r := range recs {
		g.offsets.delete(r.tp)
	}
	return nil
}
