package consumergroup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
	"unique"

	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Record key versions of __consumer_offsets, as Kafka writes them.
const (
	offsetKeyVersion   = 1 // OffsetCommitKey; 0 is read too
	metadataKeyVersion = 2 // GroupMetadataKey
	// offsetValueVersion is written unless the commit carries an expire
	// time, which only v1 has.
	offsetValueVersion        = 3
	offsetValueVersionExpire  = 1
	metadataValueVersion      = 3 // with instance ids and the state timestamp
	maxBatchRecordsBytes      = 512 << 10
	batchHeaderBytes          = 61 // RecordBatch v2 header, offset through record count
	batchLengthFieldEnd       = 12 // baseOffset int64 + batchLength int32
	recordOverhead            = 16 // a record's varints and attributes, at most, for keys and values under 1 MiB
	loadReadBytes             = 1 << 20
	loadDecompressLimit       = 64 << 20
	unknownRecordTypesWarning = 10
)

// record is one key/value for __consumer_offsets; value nil is a tombstone.
type record struct {
	key, value []byte
	tp         TopicPartition    // of an offset record
	om         OffsetAndMetadata // the value of an offset record (not a tombstone)
}

// offsetRecordSize bounds what offsetRecord appends to its arena.
func offsetRecordSize(groupID string, tp TopicPartition, metadata int) int {
	// key: version, two strings with int16 lengths, partition; value:
	// version, offset, leader epoch, metadata, commit and expire times
	return 2 + 2 + len(groupID) + 2 + len(tp.Topic) + 4 + 2 + 8 + 4 + 2 + metadata + 8 + 8
}

// offsetRecord encodes the commit of om (nil: a tombstone) into *arena,
// which a commit sizes once for all its records (offsetRecordSize) so that
// encoding allocates nothing per partition.
func offsetRecord(arena *[]byte, groupID string, tp TopicPartition, om *OffsetAndMetadata) record {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: groupID, Topic: tp.Topic, Partition: tp.Partition}
	start := len(*arena)
	*arena = k.AppendTo(*arena)
	r := record{key: (*arena)[start:len(*arena):len(*arena)], tp: tp}
	if om != nil {
		r.om = *om
		v := kmsg.NewOffsetCommitValue()
		v.Version = offsetValueVersion
		if om.ExpireTime >= 0 {
			v.Version = offsetValueVersionExpire
			v.ExpireTimestamp = om.ExpireTime
		}
		v.Offset = om.Offset
		v.LeaderEpoch = om.LeaderEpoch
		v.Metadata = om.Metadata
		v.CommitTimestamp = om.CommitTime
		start = len(*arena)
		*arena = v.AppendTo(*arena)
		r.value = (*arena)[start:len(*arena):len(*arena)]
	}
	return r
}

func metadataKey(groupID string) []byte {
	k := kmsg.GroupMetadataKey{Version: metadataKeyVersion, Group: groupID}
	return k.AppendTo(nil)
}

func metadataTombstone(groupID string) record { return record{key: metadataKey(groupID)} }

// storeMetadata appends the group's current generation: Kafka writes it
// when a generation's assignment is set and when the group empties. The
// write is the group's (write): apply and fail run when it settles.
func (g *group) storeMetadata(apply func(), fail func(error)) (*pendingWrite, error) {
	v := kmsg.NewGroupMetadataValue()
	v.Version = metadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.CurrentStateTimestamp = g.stateTime
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	for _, m := range g.order {
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: int32(m.rebalanceTimeout.Milliseconds()),
			SessionTimeoutMillis:   int32(m.sessionTimeout.Milliseconds()),
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             m.assignment,
		})
	}
	w, err := g.write([]record{{key: metadataKey(g.id), value: v.AppendTo(nil)}}, false, apply, fail)
	if err == nil {
		// Appended: even a write whose replication then fails may be
		// in the log (and committed later), so deleting the group must
		// tombstone it too.
		g.hasMetadata = true
	}
	return w, err
}

// storeMetadataNow is storeMetadata waited for on the owner (finishNow).
func (g *group) storeMetadataNow() error {
	w, err := g.storeMetadata(nil, nil)
	if err != nil {
		return err
	}
	return g.finishNow(w)
}

// appendRecords appends recs to __consumer_offsets partition in one
// append (several batches when large), so that a write is stored whole or
// not at all, and returns the partition's ownership it appended under (a
// cluster's) and the append's last offset, which Config.WaitAppended
// then waits for (group.write).
func (c *Coordinator) appendRecords(partition int32, recs []record) (*offsetsPartition, int64, error) {
	ps, err := c.appendOwner(partition)
	if err != nil {
		return nil, 0, err
	}
	info, err := c.appendLocal(partition, recs)
	if ps != nil {
		ps.appendMu.RUnlock()
	}
	return ps, info.LastOffset, err
}

// waitAppended waits, with Config.WaitAppended, for the append to
// partition that ended at lastOffset to be committed, and maps its
// failure as Kafka's group coordinator maps its append errors: the
// leadership moved (or the partition was unloaded meanwhile):
// NOT_COORDINATOR; anything else (NOT_ENOUGH_REPLICAS, the
// offsets.commit.timeout.ms timeout): COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) waitAppended(ps *offsetsPartition, partition int32, lastOffset int64) error {
	parent := c.ctx
	if ps != nil {
		parent = ps.ctx
	}
	ctx, cancel := context.WithTimeout(parent, c.cfg.OffsetsCommitTimeout)
	defer cancel()
	err := c.cfg.WaitAppended(ctx, partition, lastOffset)
	if err == nil {
		return nil
	}
	c.logger.Warn("consumergroup: a write to the offsets topic was not replicated", "partition", partition, "offset", lastOffset, "err", err)
	if errors.Is(err, ErrNotCoordinatorForGroup) || ps != nil && ps.ctx.Err() != nil {
		return fmt.Errorf("%w: %s-%d offset %d not replicated: %w", ErrNotCoordinatorForGroup, OffsetsTopic, partition, lastOffset, err)
	}
	return fmt.Errorf("%w: %s-%d offset %d not replicated: %w", ErrCoordinatorNotAvailable, OffsetsTopic, partition, lastOffset, err)
}

// appendLocal appends recs to the local log of partition.
func (c *Coordinator) appendLocal(partition int32, recs []record) (tlog.AppendInfo, error) {
	l, err := c.offsetsLog(partition)
	if err != nil {
		return tlog.AppendInfo{}, err
	}
	buf := encodeBatches(nil, recs, c.cfg.now().UnixMilli())
	var info tlog.AppendInfo
	if c.cfg.AppendAsLeader != nil {
		info, err = c.cfg.AppendAsLeader(partition, l.AppendBatches, buf)
	} else {
		info, err = l.AppendBatches(buf)
	}
	if err != nil {
		c.logger.Warn("consumergroup: append to the offsets topic failed", "partition", partition, "err", err)
		if errors.Is(err, ErrNotCoordinatorForGroup) {
			return info, fmt.Errorf("consumergroup: append to %s-%d: %w", OffsetsTopic, partition, err)
		}
		if errors.Is(err, tlog.ErrMessageTooLarge) {
			return info, fmt.Errorf("%w: %w", ErrCommitTooLarge, err)
		}
		if errors.Is(err, tlog.ErrDiskFull) || errors.Is(err, tlog.ErrStorage) {
			return info, fmt.Errorf("%w: append to %s-%d: %w", ErrNotCoordinator, OffsetsTopic, partition, err)
		}
		return info, fmt.Errorf("%w: append to %s-%d: %w", ErrCoordinatorNotAvailable, OffsetsTopic, partition, err)
	}
	return info, nil
}

// encodeBatches appends recs to dst as uncompressed RecordBatch v2 batches
// of at most about maxBatchRecordsBytes of records each, base offset 0 (the
// log assigns offsets), no producer.
func encodeBatches(dst []byte, recs []record, ts int64) []byte {
	size := 0
	for _, r := range recs {
		size += len(r.key) + len(r.value) + recordOverhead
	}
	dst = slices.Grow(dst, min(size, maxBatchRecordsBytes+recordOverhead)+batchHeaderBytes)
	body := make([]byte, 0, min(size, 2*maxBatchRecordsBytes))
	for len(recs) > 0 {
		body = body[:0]
		n := 0
		for n < len(recs) && (n == 0 || len(body) < maxBatchRecordsBytes) {
			body = appendRecord(body, int32(n), recs[n].key, recs[n].value)
			n++
		}
		b := kmsg.RecordBatch{
			Magic:           2,
			LastOffsetDelta: int32(n - 1),
			FirstTimestamp:  ts,
			MaxTimestamp:    ts,
			ProducerID:      -1,
			ProducerEpoch:   -1,
			FirstSequence:   -1,
			NumRecords:      int32(n),
			Records:         body,
		}
		start := len(dst)
		dst = b.AppendTo(dst)
		binary.BigEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-batchLengthFieldEnd))
		recordbatch.SetCRC(dst[start:])
		recs = recs[n:]
	}
	return dst
}

// appendRecord appends one record in kmsg's encoding. Its length prefix is
// the size of what follows it: the record is encoded with length 0 (one
// byte), then the real length is put in its place.
func appendRecord(dst []byte, offsetDelta int32, key, value []byte) []byte {
	r := kmsg.Record{OffsetDelta: offsetDelta, Key: key, Value: value}
	start := len(dst)
	dst = r.AppendTo(dst)
	body := len(dst) - start - 1
	var lb [binary.MaxVarintLen32]byte
	n := binary.PutVarint(lb[:], int64(body)) // zigzag, as Kafka's varints
	dst = append(dst, lb[:n-1]...)
	copy(dst[start+n:], dst[start+1:start+1+body])
	copy(dst[start:], lb[:n])
	return dst
}

// load replays __consumer_offsets into groups. Called once, by Start.
func (c *Coordinator) load() error {
	t, ok := c.mgr.Topic(OffsetsTopic)
	if !ok {
		return nil
	}
	c.mu.Lock()
	c.partitions = len(t.Partitions)
	c.mu.Unlock()
	st := make(loadState)
	var unknown int
	for p, l := range t.Partitions {
		if l == nil {
			continue // not hosted here (a single broker hosts every one)
		}
		if err := c.replayInto(int32(p), l, nil, st, &unknown); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, lg := range st {
		if lg.meta == nil && lg.offsets.len() == 0 {
			continue
		}
		c.newGroupLocked(id, lg)
	}
	return nil
}

// replayInto replays partition p's log l into st, until stop is closed
// (nil: never); unknown counts the records skipped, over calls, so that
// only the first few are logged.
func (c *Coordinator) replayInto(p int32, l *tlog.Log, stop <-chan struct{}, st loadState, unknown *int) error {
	err := replay(l, stop, func(key, value []byte) {
		if err := st.apply(key, value); err != nil {
			if *unknown++; *unknown <= unknownRecordTypesWarning {
				c.logger.Warn("consumergroup: skipping a record of the offsets topic", "partition", p, "err", err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("consumergroup: replay %s-%d: %w", OffsetsTopic, p, err)
	}
	return nil
}

// loadedGroup is what replay found of one group.
type loadedGroup struct {
	offsets offsetTable
	meta    *kmsg.GroupMetadataValue
}

type loadState map[string]*loadedGroup

func (st loadState) get(id string) *loadedGroup {
	lg := st[id]
	if lg == nil {
		lg = &loadedGroup{}
		st[id] = lg
	}
	return lg
}

// apply replays one record; later records replace earlier ones.
func (st loadState) apply(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("key of %d bytes", len(key))
	}
	switch v := int16(binary.BigEndian.Uint16(key)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		lg := st.get(k.Group)
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			lg.offsets.delete(tp)
			return nil
		}
		var val kmsg.OffsetCommitValue
		if err := val.ReadFrom(value); err != nil {
			return fmt.Errorf("offset commit value of group %q: %w", k.Group, err)
		}
		expire := int64(-1)
		if val.Version == offsetValueVersionExpire && val.ExpireTimestamp >= 0 {
			expire = val.ExpireTimestamp
		}
		lg.offsets.set(tp, OffsetAndMetadata{Offset: val.Offset, LeaderEpoch: val.LeaderEpoch, Metadata: val.Metadata, CommitTime: val.CommitTimestamp, ExpireTime: expire})
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		lg := st.get(k.Group)
		if value == nil {
			lg.meta = nil
			lg.offsets = nil // a deleted group's offsets are tombstoned before it
			return nil
		}
		val := new(kmsg.GroupMetadataValue)
		if err := val.ReadFrom(value); err != nil {
			return fmt.Errorf("group metadata value of group %q: %w", k.Group, err)
		}
		lg.meta = val
	default:
		return fmt.Errorf("unknown record key version %d", v)
	}
	return nil
}

// errReplayStopped ends a replay whose stop channel closed.
var errReplayStopped = errors.New("consumergroup: replay stopped")

// replay calls fn for every record of l, in offset order, until stop is
// closed (nil: never).
func replay(l *tlog.Log, stop <-chan struct{}, fn func(key, value []byte)) error {
	off := l.StartOffset()
	for off < l.NextOffset() {
		select {
		case <-stop:
			return errReplayStopped
		default:
		}
		b, err := l.Read(off, loadReadBytes)
		if err != nil {
			return err
		}
		if len(b.Data) == 0 {
			b.Release()
			return nil
		}
		data := b.Data
		for len(data) > 0 {
			h, err := recordbatch.ParseHeader(data)
			if err != nil {
				b.Release()
				return err
			}
			batch := data[:h.Size()]
			data = data[h.Size():]
			off = h.NextOffset()
			if h.Control() {
				continue
			}
			if err := recordbatch.Records(batch, loadDecompressLimit, func(r recordbatch.Record) error {
				fn(r.Key, r.Value)
				return nil
			}); err != nil {
				b.Release()
				return err
			}
		}
		b.Release()
	}
	return nil
}

// restore sets a loaded group's state: Stable with its members when its
// last generation had any (their sessions start now), else Empty.
func (g *group) restore(lg *loadedGroup) {
	g.offsets = lg.offsets
	md := lg.meta
	if md == nil {
		return
	}
	g.hasMetadata = true
	g.protocolType = unique.Make(md.ProtocolType).Value()
	g.generation = md.Generation
	if md.CurrentStateTimestamp > 0 {
		g.stateTime = md.CurrentStateTimestamp
	}
	if len(md.Members) == 0 || md.Protocol == nil {
		return
	}
	g.protocol = *md.Protocol
	if md.Leader != nil {
		g.leader = *md.Leader
	}
	g.makeMaps()
	for _, mm := range md.Members {
		m := &member{
			id:               mm.MemberID,
			instanceID:       mm.InstanceID,
			clientID:         mm.ClientID,
			clientHost:       mm.ClientHost,
			sessionTimeout:   msDuration(mm.SessionTimeoutMillis),
			rebalanceTimeout: msDuration(mm.RebalanceTimeoutMillis),
			protocolType:     md.ProtocolType,
			protocols:        []Protocol{{Name: g.protocol, Metadata: mm.Subscription}},
			assignment:       mm.Assignment,
		}
		g.members[m.id] = m
		g.order = append(g.order, m)
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	g.state = Stable
	// Sessions start now: members that do not come back are removed
	// after their session timeout and the group rebalances. The timers
	// post to the loop, which runs them once it is started.
	for _, m := range g.order {
		g.heartbeat(m)
	}
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
