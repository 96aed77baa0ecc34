package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
)

// Staged writes: a topic whose partitions do not fit one transaction
// (doc.go, Writes, has the rule and why it holds).

// maxTxnOps is the most operations this code puts in one etcd
// transaction, at any nesting level: etcd's default --max-txn-ops, which
// an external etcd has unless lowered. A topic of up to maxTxnOps-1
// partitions is created in one transaction; a larger one is staged.
const maxTxnOps = 128

// stagedTxnsInFlight is how many chunks of a staged write are in flight
// at once: each is a round trip and a raft entry, and they touch
// different keys.
const stagedTxnsInFlight = 8

// stageCleanupTimeout bounds the clean-up of an abandoned staged write
// and the revocation of its lease, which run even when the caller's
// context has ended (what they miss, the controller collects).
const stageCleanupTimeout = 5 * time.Second

// errStagingLost is a staged write whose claim is gone (its lease lapsed,
// or the topic changed under it): nothing it staged is visible, and
// whatever is left is an orphan.
var errStagingLost = errors.New("cluster: staged write lost its claim on the topic")

// createStaged creates t with parts in several transactions: claim the
// name (staging/<name>, absent topic and claim), put the partitions in
// chunks while the claim holds, then put the topic and delete the claim
// in one transaction, the commit point. Readers show partitions only
// once their topic counts them, so nobody sees the topic before the
// commit, and all of it after.
func (s *EtcdStore) createStaged(ctx context.Context, fence []clientv3.Cmp, t Topic, parts []PartitionState) error {
	lease, release, err := s.stagingLease(ctx)
	if err != nil {
		return fmt.Errorf("cluster: create topic %q: %w", t.Name, err)
	}
	defer release()
	claimRev, err := s.claimTopic(ctx, fence, t, lease)
	if err != nil {
		return err
	}
	if err := s.stageCreated(ctx, fence, t, parts, claimRev); err != nil {
		s.abandonCreate(ctx, t.Name, claimRev)
		return fmt.Errorf("cluster: create topic %q: %w", t.Name, err)
	}
	return nil
}

// claimTopic puts staging/<name> bound to lease if neither the topic nor
// a claim exists, waiting out another writer's claim; it returns the
// claim's create revision. A topic that exists is ErrTopicExists.
func (s *EtcdStore) claimTopic(ctx context.Context, fence []clientv3.Cmp, t Topic, lease clientv3.LeaseID) (int64, error) {
	cmps := s.nameFree(t.Name)
	ops := []clientv3.Op{clientv3.OpPut(s.prefix+stagingKey(t.Name), encodeStaging(t.ID, 0, t.Partitions), clientv3.WithLease(lease))}
	for {
		ok, rev, err := s.txn(ctx, fence, cmps, ops)
		if err != nil {
			return 0, fmt.Errorf("cluster: create topic %q: claim the name: %w", t.Name, err)
		}
		if ok {
			return rev, nil
		}
		if err := s.waitNameFree(ctx, t.Name); err != nil {
			return 0, err
		}
	}
}

// stageCreated writes a claimed topic's partitions and commits it.
func (s *EtcdStore) stageCreated(ctx context.Context, fence []clientv3.Cmp, t Topic, parts []PartitionState, claimRev int64) error {
	guard := []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(t.Name)), "=", claimRev),
		clientv3.Compare(clientv3.CreateRevision(s.prefix+topicKey(t.Name)), "=", 0),
	}
	if err := s.putChunks(ctx, fence, guard, parts); err != nil {
		return err
	}
	ok, rev, err := s.txn(ctx, fence, guard, []clientv3.Op{
		clientv3.OpPut(s.prefix+topicKey(t.Name), encodeTopic(t)),
		clientv3.OpDelete(s.prefix + stagingKey(t.Name)),
	})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if !ok {
		return errStagingLost
	}
	s.settle(ctx, rev)
	return nil
}

// abandonCreate deletes what a failed staged creation wrote, while its
// claim still holds (so nothing another writer owns): every key under
// the topic's partitions, which no topic shows, and the claim.
func (s *EtcdStore) abandonCreate(ctx context.Context, name string, claimRev int64) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stageCleanupTimeout)
	defer cancel()
	_, err := s.client.Txn(cctx).If(
		clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(name)), "=", claimRev),
		clientv3.Compare(clientv3.CreateRevision(s.prefix+topicKey(name)), "=", 0),
	).Then(
		clientv3.OpDelete(s.prefix+partitionsPrefix(name), clientv3.WithPrefix()),
		clientv3.OpDelete(s.prefix+stagingKey(name)),
	).Commit()
	if err != nil {
		s.log.Warn("cluster: clean-up of an unfinished topic creation failed; the controller collects it", "topic", name, "err", err)
	}
}

// addStaged grows topic t, read at topic-key revision read, by parts in
// several transactions, as createStaged: claim, chunks, then the topic
// with its larger count and the claim's deletion in one transaction. A
// topic changed since read is ErrConflict.
func (s *EtcdStore) addStaged(ctx context.Context, fence []clientv3.Cmp, t Topic, read int64, parts []PartitionState) error {
	lease, release, err := s.stagingLease(ctx)
	if err != nil {
		return fmt.Errorf("cluster: add partitions to %q: %w", t.Name, err)
	}
	defer release()
	topicK, stageK := s.prefix+topicKey(t.Name), s.prefix+stagingKey(t.Name)
	unchanged := clientv3.Compare(clientv3.ModRevision(topicK), "=", read)
	ok, claimRev, err := s.txn(ctx, fence,
		[]clientv3.Cmp{unchanged, clientv3.Compare(clientv3.CreateRevision(stageK), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(stageK, encodeStaging(t.ID, t.Partitions, t.Partitions+int32(len(parts))), clientv3.WithLease(lease))})
	if err != nil {
		return fmt.Errorf("cluster: add partitions to %q: claim the topic: %w", t.Name, err)
	}
	if !ok {
		// Another writer's claim, or the topic changed: either way the
		// caller reads again, once no claim is held.
		if err := s.waitUnclaimed(ctx, t.Name, false); err != nil {
			return err
		}
		return fmt.Errorf("cluster: add partitions to %q: %w", t.Name, ErrConflict)
	}
	mine := clientv3.Compare(clientv3.CreateRevision(stageK), "=", claimRev)
	guard := []clientv3.Cmp{mine, unchanged}
	if err = s.putChunks(ctx, fence, guard, parts); err == nil {
		grown := t
		grown.Partitions += int32(len(parts))
		var rev int64
		ok, rev, err = s.txn(ctx, fence, guard, []clientv3.Op{clientv3.OpPut(topicK, encodeTopic(grown)), clientv3.OpDelete(stageK)})
		switch {
		case err == nil && ok:
			s.settle(ctx, rev)
			return nil
		case err == nil:
			err = fmt.Errorf("%w: %w", errStagingLost, ErrConflict)
		}
	}
	s.abandonAdd(ctx, parts, stageK, mine)
	return fmt.Errorf("cluster: add partitions to %q: %w", t.Name, err)
}

// abandonAdd deletes the partitions a failed growth staged, and its
// claim, while the claim holds: past the topic's count, no reader shows
// them.
func (s *EtcdStore) abandonAdd(ctx context.Context, parts []PartitionState, stageK string, mine clientv3.Cmp) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stageCleanupTimeout)
	defer cancel()
	var err error
	for chunk := range slices.Chunk(parts, maxTxnOps) {
		ops := make([]clientv3.Op, len(chunk))
		for i, p := range chunk {
			ops[i] = clientv3.OpDelete(s.prefix + partitionKey(p.Topic, p.Partition))
		}
		if _, err = s.client.Txn(cctx).If(mine).Then(ops...).Commit(); err != nil {
			break
		}
	}
	if err == nil {
		_, err = s.client.Txn(cctx).If(mine).Then(clientv3.OpDelete(stageK)).Commit()
	}
	if err != nil {
		s.log.Warn("cluster: clean-up of unfinished added partitions failed; the controller collects them", "topic", parts[0].Topic, "err", err)
	}
}

// putChunks puts parts in transactions of maxTxnOps, each applied only
// while guard (and fence) hold, up to stagedTxnsInFlight at once.
func (s *EtcdStore) putChunks(ctx context.Context, fence, guard []clientv3.Cmp, parts []PartitionState) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stagedTxnsInFlight)
	for chunk := range slices.Chunk(parts, maxTxnOps) {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			ops := make([]clientv3.Op, len(chunk))
			for i, p := range chunk {
				ops[i] = clientv3.OpPut(s.prefix+partitionKey(p.Topic, p.Partition), encodePartition(p))
			}
			ok, _, err := s.txn(gctx, fence, guard, ops)
			switch {
			case err != nil:
				return fmt.Errorf("stage partitions %d to %d: %w", chunk[0].Partition, chunk[len(chunk)-1].Partition, err)
			case !ok:
				return errStagingLost
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// nameFree is the compare that topic name is neither a topic nor
// claimed by a staged write.
func (s *EtcdStore) nameFree(name string) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(s.prefix+topicKey(name)), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(name)), "=", 0),
	}
}

// waitNameFree returns ErrTopicExists if topic name exists, else waits
// until no staged write claims it (committed or abandoned: the caller
// tries again), as long as ctx allows.
func (s *EtcdStore) waitNameFree(ctx context.Context, name string) error {
	return s.waitUnclaimed(ctx, name, true)
}

// waitUnclaimed waits until no staged write claims topic name, as long
// as ctx allows; when creating, a topic of that name is ErrTopicExists
// at once.
func (s *EtcdStore) waitUnclaimed(ctx context.Context, name string, creating bool) error {
	topicK, stageK := s.prefix+topicKey(name), s.prefix+stagingKey(name)
	resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(topicK, clientv3.WithCountOnly()), clientv3.OpGet(stageK, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return fmt.Errorf("cluster: topic %q: %w", name, err)
	}
	if creating && resp.Responses[0].GetResponseRange().Count > 0 {
		return fmt.Errorf("cluster: create topic %q: %w", name, ErrTopicExists)
	}
	if resp.Responses[1].GetResponseRange().Count == 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range s.client.Watch(wctx, stageK, clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("cluster: topic %q: waiting for another writer's staged partitions: %w", name, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return nil
			}
		}
	}
	return fmt.Errorf("cluster: topic %q: waiting for another writer's staged partitions: %w", name, context.Cause(ctx))
}

// stagingLease grants the lease a staged write binds its claim to, of
// the store's session timeout, and keeps it alive until release, which
// revokes it. A writer that dies stops renewing it, so its claim
// disappears within the timeout and the name is free again. A
// leaseKeeper renews it, as it does a broker's registration: etcd's
// keep-alive stream stalls for seconds behind a renewal a member forwards
// to a leader that stopped answering, and a claim lapsing under a large
// staged creation fails it half-way.
func (s *EtcdStore) stagingLease(ctx context.Context) (clientv3.LeaseID, func(), error) {
	granted := time.Now()
	g, err := s.client.Grant(ctx, s.ttl)
	if err != nil {
		return 0, nil, fmt.Errorf("grant a staging lease: %w", err)
	}
	kctx, cancel := context.WithCancel(ctx)
	ch, err := newLeaseKeeper(s.client.Lease, time.Duration(s.ttl)*time.Second, granted).KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		return 0, nil, fmt.Errorf("keep a staging lease alive: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Drained: the answers say nothing a writer acts on, and it
		// learns of a lapsed lease from its guarded writes failing.
		for range ch {
		}
	}()
	release := func() {
		cancel()
		<-done
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), stageCleanupTimeout)
		defer rcancel()
		if _, err := s.client.Revoke(rctx, g.ID); err != nil {
			s.log.Debug("cluster: revoke a staging lease", "err", err)
		}
	}
	return g.ID, release, nil
}

// CollectOrphans implements OrphanCollector: it deletes the partition
// keys no topic shows and no staged write claims (Snapshot.OrphanPartitions),
// deciding against the stored keys at one revision, and each deletion
// only if that topic and its claim are still as read. It returns how many
// keys it deleted.
func (s *EtcdStore) CollectOrphans(ctx context.Context) (int, error) {
	return s.collectOrphans(ctx, nil)
}

func (s *EtcdStore) collectOrphans(ctx context.Context, fence []clientv3.Cmp) (int, error) {
	resp, err := s.client.Txn(ctx).Then(
		clientv3.OpGet(s.prefix+keyPartitions, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(s.prefix+keyTopics, clientv3.WithPrefix()),
		clientv3.OpGet(s.prefix+keyStaging, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return 0, fmt.Errorf("cluster: collect orphan partitions: %w", err)
	}
	type topicRead struct {
		partitions int32
		modRev     int64
	}
	topics := map[string]topicRead{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		key := strings.TrimPrefix(string(kv.Key), s.prefix)
		if t, err := decodeTopic(key, kv.Value); err == nil {
			topics[t.Name] = topicRead{t.Partitions, kv.ModRevision}
		}
	}
	claimed := map[string]bool{}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		claimed[strings.TrimPrefix(string(kv.Key), s.prefix+keyStaging)] = true
	}
	orphans := map[string][]string{} // topic → keys
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		rest := strings.TrimPrefix(string(kv.Key), s.prefix+keyPartitions)
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			continue
		}
		topic := rest[:i]
		p, err := strconv.ParseInt(rest[i+1:], 10, 32)
		if err != nil || claimed[topic] {
			continue
		}
		if t, ok := topics[topic]; ok && int32(p) < t.partitions {
			continue
		}
		orphans[topic] = append(orphans[topic], string(kv.Key))
	}
	deleted := 0
	for topic, keys := range orphans {
		stageFree := clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(topic)), "=", 0)
		t, exists := topics[topic]
		if !exists {
			// No topic: everything under its partitions is an orphan.
			absent := clientv3.Compare(clientv3.CreateRevision(s.prefix+topicKey(topic)), "=", 0)
			ok, _, err := s.txn(ctx, fence, []clientv3.Cmp{absent, stageFree},
				[]clientv3.Op{clientv3.OpDelete(s.prefix+partitionsPrefix(topic), clientv3.WithPrefix())})
			if err != nil {
				return deleted, fmt.Errorf("cluster: collect orphan partitions of %q: %w", topic, err)
			}
			if ok {
				deleted += len(keys)
			}
			continue
		}
		same := clientv3.Compare(clientv3.ModRevision(s.prefix+topicKey(topic)), "=", t.modRev)
		for chunk := range slices.Chunk(keys, maxTxnOps) {
			ops := make([]clientv3.Op, len(chunk))
			for i, k := range chunk {
				ops[i] = clientv3.OpDelete(k)
			}
			ok, _, err := s.txn(ctx, fence, []clientv3.Cmp{same, stageFree}, ops)
			if err != nil {
				return deleted, fmt.Errorf("cluster: collect orphan partitions of %q: %w", topic, err)
			}
			if !ok {
				break // the topic changed: next time
			}
			deleted += len(chunk)
		}
	}
	return deleted, nil
}
