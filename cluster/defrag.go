package cluster

// Online defragmentation of the embedded members' backend files.
//
// etcd keeps its keys in a bbolt file. Compaction (embedCompactionRetention)
// frees the pages of old revisions, but bbolt never gives pages back to
// the disk: a cluster whose partitions change leaders often grows its file
// with every failover while the data in it stays the same size (50 leader
// kills at 10,000 partitions took each member from 138 to 690 MiB), and a
// bigger file makes a restarted member rejoin slower. Only a
// defragmentation, which copies the live pages into a new file, shrinks it.
//
// A defragmentation blocks the member's reads and writes while it copies
// (etcd's Defragment holds the backend's locks), so each member's
// defragmenter (defragLoop) does one only when:
//
//   - its file is worth it: at least defragPolicy.minSize, and less than
//     defragPolicy.maxInUse of it in use;
//   - it did none in the last defragPolicy.minInterval;
//   - it holds the quorum's defragmentation lock (an etcd mutex under
//     defragLockKey, on a lease of defragPolicy.lockTTL): one member of
//     the quorum at a time, and the lock is kept defragPolicy.settle
//     after it, so that the next member starts only once this one has
//     caught up (etcd's operators wait a minute between members);
//   - every other voting member answers a status request: with a member
//     down, blocking another one leaves the quorum with no slack;
//   - it is not the raft leader: the leader hands its leadership to
//     another voter first (MoveLeader), and defragments only if that
//     succeeded. A leadership transfer stops writes for a few heartbeats;
//     a leader blocked in a defragmentation would stop them for as long,
//     and an election after it for an election timeout more.
//
// Each defragmentation is logged (sizes before and after, how long it
// took) and counted (tributary_cluster_quorum_defrags_total).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"go.uber.org/zap"
)

// Defaults of defragPolicy.
const (
	// defaultDefragCheck is how often a member looks at its file's size.
	defaultDefragCheck = time.Minute
	// defaultDefragMinSize: a file smaller than this is never
	// defragmented, however much of it is free: the gain is small and
	// the member still stops while it copies.
	defaultDefragMinSize = 64 << 20
	// defaultDefragMaxInUse: a file is defragmented when less than this
	// share of it holds data (more than half of it free).
	defaultDefragMaxInUse = 0.5
	// defaultDefragMinInterval bounds how often one member defragments.
	defaultDefragMinInterval = 30 * time.Minute
	// defaultDefragSettle is how long a member keeps the lock after its
	// defragmentation: the next member waits that long.
	defaultDefragSettle = time.Minute
	// defaultDefragLockTTL (seconds) is the lock's lease: a member that
	// dies holding it frees it within this time.
	defaultDefragLockTTL = 60
	// defragStatusTimeout bounds one status request to another member.
	defragStatusTimeout = 2 * time.Second
	// defragLockKey is the etcd key of the quorum's defragmentation
	// lock, outside every cluster's key root (DefaultKeyRoot/<id>).
	defragLockKey = DefaultKeyRoot + "-quorum/defrag"
)

// defragPolicy is when a member defragments its file. A zero field takes
// its default; off disables the defragmenter.
type defragPolicy struct {
	off         bool
	check       time.Duration
	minSize     int64
	maxInUse    float64
	minInterval time.Duration
	settle      time.Duration
	lockTTL     int // seconds
	// defragment runs the defragmentation (nil: the server's
	// Defragment); tests wrap it to watch when it runs.
	defragment func(*etcdserver.EtcdServer) error
}

func (p defragPolicy) withDefaults() defragPolicy {
	if p.check <= 0 {
		p.check = defaultDefragCheck
	}
	if p.minSize <= 0 {
		p.minSize = defaultDefragMinSize
	}
	if p.maxInUse <= 0 {
		p.maxInUse = defaultDefragMaxInUse
	}
	if p.minInterval <= 0 {
		p.minInterval = defaultDefragMinInterval
	}
	if p.settle <= 0 {
		p.settle = defaultDefragSettle
	}
	if p.lockTTL <= 0 {
		p.lockTTL = defaultDefragLockTTL
	}
	if p.defragment == nil {
		p.defragment = (*etcdserver.EtcdServer).Defragment
	}
	return p
}

// due says whether a file of size bytes, inUse of them holding data, is
// worth defragmenting.
func (p defragPolicy) due(size, inUse int64) bool {
	return size >= p.minSize && float64(inUse) < p.maxInUse*float64(size)
}

// errDefragSkipped is why defragOnce did not defragment, when the member
// is not to blame (another member holds the lock or is unhealthy).
var errDefragSkipped = errors.New("cluster: defragmentation put off")

// errDefragLocked is errDefragSkipped because another member holds the
// lock: the usual reason, not logged above debug.
var errDefragLocked = fmt.Errorf("%w: another member holds the lock", errDefragSkipped)

// defragLoop is the member's defragmenter: it checks the file every
// p.check and defragments it when due and the quorum allows (defragOnce).
func (m *Embedded) defragLoop(p defragPolicy, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.done:
		case <-m.etcd.Server.StopNotify():
		}
		cancel()
	}()
	tick := time.NewTicker(p.check)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		if !last.IsZero() && time.Since(last) < p.minInterval {
			continue
		}
		if st := m.Stats(); !p.due(st.DBSize, st.DBSizeInUse) {
			continue
		}
		// A client of the voters as they are now: voters come and go
		// (add-voter, remove-voter), and this runs rarely.
		cli, err := m.quorumClient()
		if err != nil {
			log.Warn("cluster: metadata quorum defragmentation: no client", "err", err)
			continue
		}
		err = m.defragOnce(ctx, cli, p, log)
		_ = cli.Close()
		switch {
		case err == nil:
			last = time.Now()
		case errors.Is(err, errDefragLocked):
			log.Debug("cluster: metadata quorum defragmentation put off", "err", err)
		case errors.Is(err, errDefragSkipped):
			log.Info("cluster: metadata quorum defragmentation put off", "err", err)
		case ctx.Err() == nil:
			log.Warn("cluster: metadata quorum defragmentation failed", "err", err)
		}
	}
}

// quorumClient is a client of every voting member's client URLs but this
// member's own: the lock's lease is kept alive through another member
// while this one defragments (all of them in a quorum of one).
func (m *Embedded) quorumClient() (*clientv3.Client, error) {
	srv := m.etcd.Server
	var eps []string
	for _, mem := range srv.Cluster().Members() {
		if mem.ID != srv.MemberID() && !mem.IsLearner {
			eps = append(eps, mem.ClientURLs...)
		}
	}
	if len(eps) == 0 {
		eps = m.clientURLs
	}
	tlsCfg, err := m.ClientTLS()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: DefaultDialTimeout, TLS: tlsCfg, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client for %v: %w", eps, err)
	}
	return cli, nil
}

// defragOnce takes the quorum's defragmentation lock (or gives up at
// once if another member holds it), checks that every other voter
// answers, hands the raft leadership away if this member holds it,
// defragments, and keeps the lock p.settle longer. It returns an error
// wrapping errDefragSkipped when the quorum does not allow it now.
func (m *Embedded) defragOnce(ctx context.Context, cli *clientv3.Client, p defragPolicy, log *slog.Logger) error {
	srv := m.etcd.Server
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(p.lockTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("cluster: defragmentation lock session: %w", err)
	}
	defer func() { _ = sess.Close() }() // revokes the lease: the lock goes with it
	mu := concurrency.NewMutex(sess, defragLockKey)
	if err := mu.TryLock(ctx); err != nil {
		if errors.Is(err, concurrency.ErrLocked) {
			return errDefragLocked
		}
		return fmt.Errorf("cluster: defragmentation lock: %w", err)
	}
	// The file may have been checked a while ago, by a member that
	// waited for the lock: check again.
	before := m.Stats()
	if !p.due(before.DBSize, before.DBSizeInUse) {
		return fmt.Errorf("%w: the file no longer needs it", errDefragSkipped)
	}
	healthy, err := m.healthyVoters(ctx, cli)
	if err != nil {
		return err
	}
	if srv.Leader() == srv.MemberID() {
		if err := m.handLeadership(ctx, healthy, log); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := p.defragment(srv); err != nil {
		return fmt.Errorf("cluster: defragment: %w", err)
	}
	m.defrags.Add(1)
	after := m.Stats()
	log.Info("cluster: metadata quorum member defragmented",
		"size_before", before.DBSize, "size_after", after.DBSize, "in_use", after.DBSizeInUse,
		"took", time.Since(start).Round(time.Millisecond))
	// Keep the lock while the member catches up on what it did not
	// apply while it copied.
	select {
	case <-time.After(p.settle):
	case <-ctx.Done():
	}
	return nil
}

// healthyVoters returns the other voting members, each having answered a
// status request naming a leader; an error wrapping errDefragSkipped if
// one did not.
func (m *Embedded) healthyVoters(ctx context.Context, cli *clientv3.Client) ([]uint64, error) {
	srv := m.etcd.Server
	var ok []uint64
	for _, mem := range srv.Cluster().Members() {
		if mem.ID == srv.MemberID() || mem.IsLearner {
			continue
		}
		answered := false
		for _, u := range mem.ClientURLs {
			sctx, cancel := context.WithTimeout(ctx, defragStatusTimeout)
			st, err := cli.Status(sctx, u)
			cancel()
			if err == nil && st.Leader != 0 {
				answered = true
				break
			}
		}
		if !answered {
			return nil, fmt.Errorf("%w: voter %s does not answer", errDefragSkipped, mem.Name)
		}
		ok = append(ok, uint64(mem.ID))
	}
	return ok, nil
}

// handLeadership moves the raft leadership from this member to one of
// the healthy voters, within an election timeout each.
func (m *Embedded) handLeadership(ctx context.Context, healthy []uint64, log *slog.Logger) error {
	srv := m.etcd.Server
	if len(healthy) == 0 {
		return fmt.Errorf("%w: the leader has no other voter to hand its leadership to", errDefragSkipped)
	}
	var errs []error
	for _, to := range slices.Sorted(slices.Values(healthy)) {
		tctx, cancel := context.WithTimeout(ctx, m.ElectionTimeout())
		err := srv.MoveLeader(tctx, uint64(srv.MemberID()), to)
		cancel()
		if err == nil {
			log.Info("cluster: metadata quorum leadership handed over before a defragmentation", "to", types.ID(to).String())
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: the leadership could not be handed over: %w", errDefragSkipped, errors.Join(errs...))
}
