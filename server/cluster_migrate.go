package server

// A single broker's data dir becomes the first member of a cluster
// (issue 14): its topics, their data, committed group offsets, idempotent
// producers, users and ACLs stay where they are, and the metadata a
// cluster keeps in etcd is written from them once.
//
// Two steps, so that the conversion is always asked for and never
// happens because a cluster setting was pointed at the wrong data dir
// (a data dir with topics and no meta/cluster-id is still refused):
//
//  1. offline, the broker stopped: PrepareClusterMigration (`tributary
//     cluster migrate --data-dir DIR --node-id N`) opens the data dir
//     (its lock proves no broker runs on it), checks that it is a single
//     broker's (topics, every partition hosted, no meta/cluster-id) and
//     writes meta/cluster-migrate, the opt-in, naming the node ID;
//  2. the first start with cluster settings (StartCluster) finds the
//     marker, joins (or founds) the cluster, registers the broker and
//     then, before the reconciler first runs (which would drop every
//     local topic the metadata does not hold): raises the cluster's
//     producer ID counter past every ID the single broker handed out,
//     and registers each topic with one CreateTopic transaction (its
//     name, topic ID, partition count and configs; each partition with
//     replicas = ISR = [node], led by the node at an epoch above every
//     epoch its log holds). The marker goes once every topic is
//     registered.
//
// A start that stops half way leaves the marker, and the next start
// carries on: a topic the metadata holds under the same topic ID is one
// registered before. A topic the metadata holds under another ID (the
// cluster already had it: migration is into a new cluster, or one that
// holds none of these names) stops the start before anything is
// written, with the names. Users and ACLs move by the import every
// cluster start does (cluster_auth.go): the first broker with a
// credential (ACL) file imports it into a cluster that has none.
//
// Once migrated, the data dir is a cluster member's: a second
// PrepareClusterMigration, and a start as a single broker (New without
// Config.Cluster), fail with ErrClusterDataDir, as does a single broker
// start while the marker waits (delete the file to stay a single broker).
//
// The marker is JSON, {"v":1,"node_id":N}: v is
// clusterMigrateVersion; a reader refuses any other.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/syncjournal"
	tlog "github.com/tributary-io/tributary/log"
)

const (
	// clusterMigrateFile, under meta/, is a prepared migration: the
	// data dir's topics are registered in the cluster at the next start
	// with cluster settings.
	clusterMigrateFile = "cluster-migrate"
	// clusterMigrateVersion is the marker's format version. Rule: a
	// reader takes only the versions it knows (this one).
	clusterMigrateVersion = 1
)

// ErrClusterDataDir is a data dir that is (or is prepared to become) a
// cluster member's, where a single broker's is needed: a start as a single
// broker, or a second migration.
var ErrClusterDataDir = errors.New("server: the data dir is a cluster member's")

// ErrNotMigratable is a data dir PrepareClusterMigration cannot convert.
var ErrNotMigratable = errors.New("server: the data dir cannot be migrated to a cluster")

// clusterMigrateMarker is meta/cluster-migrate.
type clusterMigrateMarker struct {
	V      int   `json:"v"`
	NodeID int32 `json:"node_id"`
}

// MigrationTopic is one topic a prepared migration registers.
type MigrationTopic struct {
	Name       string
	ID         tlog.TopicID
	Partitions int32
	// LogEnd is the sum of the partitions' log end offsets: the records
	// (and offsets) that move with it.
	LogEnd int64
}

// MigrationPlan is what PrepareClusterMigration prepared.
type MigrationPlan struct {
	NodeID int32
	Topics []MigrationTopic // by name
	// ProducerIDsEnd is where the cluster's producer ID counter is
	// raised to (tlog.Manager.LocalProducerIDsEnd).
	ProducerIDsEnd int64
}

func clusterIDPath(dir string) string     { return filepath.Join(dir, "meta", clusterIDFile) }
func migrateMarkerPath(dir string) string { return filepath.Join(dir, "meta", clusterMigrateFile) }

// readMigrateMarker returns dir's prepared migration, nil if none.
func readMigrateMarker(dir string) (*clusterMigrateMarker, error) {
	path := migrateMarkerPath(dir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: cluster migration: %w", err)
	}
	var m clusterMigrateMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("server: cluster migration: %s: %w", path, err)
	}
	if m.V != clusterMigrateVersion || m.NodeID < 0 {
		return nil, fmt.Errorf("server: cluster migration: %s: format version %d, node id %d: this release reads version %d", path, m.V, m.NodeID, clusterMigrateVersion)
	}
	return &m, nil
}

// readClusterID is dir's meta/cluster-id, "" if none.
func readClusterID(dir string) (string, error) {
	b, err := os.ReadFile(clusterIDPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("server: cluster id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// refuseClusterDataDir fails for a data dir a single broker must not
// serve: a cluster member's (its topics would be served with no
// replication, their metadata forked from the cluster's), or one whose
// migration is prepared.
func refuseClusterDataDir(dir string) error {
	id, err := readClusterID(dir)
	if err != nil {
		return err
	}
	if id != "" {
		return fmt.Errorf("%w: %s is a member of cluster %s (%s): start it with its cluster settings (controller.quorum.voters or metadata.store)",
			ErrClusterDataDir, dir, id, filepath.Join("meta", clusterIDFile))
	}
	m, err := readMigrateMarker(dir)
	if err != nil {
		return err
	}
	if m != nil {
		return fmt.Errorf("%w: %s is prepared to join a cluster as node %d (%s): start it with cluster settings, or delete that file to keep it a single broker",
			ErrClusterDataDir, dir, m.NodeID, filepath.Join("meta", clusterMigrateFile))
	}
	return nil
}

// checkMigrateNode fails when dir's prepared migration names another
// node than nodeID: its partitions would be registered as the other
// node's replicas.
func checkMigrateNode(dir string, nodeID int32) error {
	m, err := readMigrateMarker(dir)
	if err != nil || m == nil {
		return err
	}
	if m.NodeID != nodeID {
		return fmt.Errorf("server: cluster: %w: %s was prepared to join as node %d (%s), not node.id=%d",
			ErrClusterConfig, dir, m.NodeID, filepath.Join("meta", clusterMigrateFile), nodeID)
	}
	return nil
}

// PrepareClusterMigration prepares the data dir of mgr, a stopped single
// broker's (opened as a single broker's, by a tool), to join a cluster
// as node nodeID: it checks the data dir and writes the marker its next
// start with cluster settings acts on (see the top of this file). A data
// dir that is a cluster member's or already prepared is
// ErrClusterDataDir; one that holds no topic, or that no cluster could
// take, ErrNotMigratable. Nothing is written unless it succeeds.
func PrepareClusterMigration(mgr *tlog.Manager, nodeID int32) (MigrationPlan, error) {
	dir := mgr.Dir()
	if nodeID < 0 {
		return MigrationPlan{}, fmt.Errorf("%w: node id %d: a node.id is 0 or more", ErrNotMigratable, nodeID)
	}
	if err := refuseClusterDataDir(dir); err != nil {
		return MigrationPlan{}, err
	}
	plan := MigrationPlan{NodeID: nodeID}
	for _, t := range mgr.Topics() {
		mt := MigrationTopic{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))}
		for p, l := range t.Partitions {
			if l == nil {
				return MigrationPlan{}, fmt.Errorf("%w: topic %s has no log of partition %d: not a single broker's data dir", ErrNotMigratable, t.Name, p)
			}
			mt.LogEnd += l.NextOffset()
		}
		if ops := len(t.Partitions) + 1; ops > cluster.EmbedMaxTxnOps {
			return MigrationPlan{}, fmt.Errorf("%w: topic %s has %d partitions: registering it takes %d operations in one etcd transaction, more than the embedded member allows (%d)",
				ErrNotMigratable, t.Name, len(t.Partitions), ops, cluster.EmbedMaxTxnOps)
		}
		plan.Topics = append(plan.Topics, mt)
	}
	if len(plan.Topics) == 0 {
		return MigrationPlan{}, fmt.Errorf("%w: %s holds no topic: start it with cluster settings as it is", ErrNotMigratable, dir)
	}
	slices.SortFunc(plan.Topics, func(a, b MigrationTopic) int { return strings.Compare(a.Name, b.Name) })
	var err error
	if plan.ProducerIDsEnd, err = mgr.LocalProducerIDsEnd(); err != nil {
		return MigrationPlan{}, fmt.Errorf("server: cluster migration: %w", err)
	}
	b, err := json.Marshal(clusterMigrateMarker{V: clusterMigrateVersion, NodeID: nodeID})
	if err != nil {
		return MigrationPlan{}, fmt.Errorf("server: cluster migration: %w", err)
	}
	if err := writeFileSynced(migrateMarkerPath(dir), append(b, '\n')); err != nil {
		return MigrationPlan{}, fmt.Errorf("server: cluster migration: %w", err)
	}
	return plan, nil
}

// migrateSingleBroker registers a prepared migration's topics in the
// cluster (see the top of this file). StartCluster calls it once the
// broker is registered (so that the partitions' leadership is written
// after this incarnation's registration and the reconciler takes it up)
// and before the reconciler runs.
func (n *brokerNode) migrateSingleBroker(ctx context.Context) error {
	mgr := n.s.mgr
	marker, err := readMigrateMarker(mgr.Dir())
	if err != nil || marker == nil {
		return err
	}
	snap := n.store.Snapshot()
	topics := mgr.Topics()
	slices.SortFunc(topics, func(a, b *tlog.Topic) int { return strings.Compare(a.Name, b.Name) })
	var taken []string
	for _, lt := range topics {
		if ct, ok := snap.Topics[lt.Name]; ok && tlog.TopicID(ct.ID) != lt.ID {
			taken = append(taken, lt.Name)
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("server: cluster migration: the cluster %s already has topics of these names (under other topic ids): %s; a single broker's data dir joins a new cluster, or one without its topics",
			n.clusterID, strings.Join(taken, ", "))
	}
	end, err := mgr.LocalProducerIDsEnd()
	if err != nil {
		return fmt.Errorf("server: cluster migration: %w", err)
	}
	if err := n.store.RaiseProducerIDs(ctx, end); err != nil {
		return fmt.Errorf("server: cluster migration: %w", err)
	}
	registered := 0
	for _, lt := range topics {
		if ct, ok := snap.Topics[lt.Name]; ok {
			// Registered by a start that stopped before the marker went.
			if int(ct.Partitions) != len(lt.Partitions) {
				return fmt.Errorf("server: cluster migration: topic %s has %d partitions here, %d in the cluster", lt.Name, len(lt.Partitions), ct.Partitions)
			}
			continue
		}
		t := cluster.Topic{Name: lt.Name, ID: lt.ID, Partitions: int32(len(lt.Partitions)), Configs: maps.Clone(lt.Overrides)}
		parts := make([]cluster.PartitionState, len(lt.Partitions))
		for p, l := range lt.Partitions {
			if l == nil {
				return fmt.Errorf("server: cluster migration: topic %s has no log of partition %d", lt.Name, p)
			}
			epoch, err := migrationLeaderEpoch(l)
			if err != nil {
				return fmt.Errorf("server: cluster migration: %s-%d: %w", lt.Name, p, err)
			}
			parts[p] = cluster.PartitionState{Topic: lt.Name, Partition: int32(p),
				Replicas: []int32{n.self}, ISR: []int32{n.self}, Leader: n.self, LeaderEpoch: epoch}
		}
		if err := n.store.CreateTopic(ctx, t, parts); err != nil {
			return fmt.Errorf("server: cluster migration: %w", err)
		}
		registered++
		n.log.Info("server: cluster migration: registered a topic of the single broker", "topic", lt.Name,
			"topic_id", lt.ID.String(), "partitions", len(parts), "leader_epoch", parts[0].LeaderEpoch)
	}
	if err := os.Remove(migrateMarkerPath(mgr.Dir())); err != nil {
		return fmt.Errorf("server: cluster migration: %w", err)
	}
	if err := syncDir(filepath.Dir(migrateMarkerPath(mgr.Dir()))); err != nil {
		return fmt.Errorf("server: cluster migration: %w", err)
	}
	n.log.Info("server: cluster migration done: the single broker's topics are the cluster's", "cluster_id", n.clusterID,
		"topics", len(topics), "registered_now", registered, "producer_ids_from", end)
	return nil
}

// migrationLeaderEpoch readies a single broker's partition log to be led
// in a cluster and returns the leader epoch to register it at: one above
// every epoch the log holds, so that no batch of the single broker's
// looks like it came from the cluster's leader, and fencing by epoch
// holds from the first leadership on. A log whose epoch cache is empty
// (a single broker keeps its epoch 0 from the log start in memory only)
// first records that epoch 0 and writes it, as a replicated log keeps
// its cache: a follower that fetched part of the epoch-0 data must find
// that epoch on the leader, or it would be told to truncate it.
func migrationLeaderEpoch(l *tlog.Log) (int32, error) {
	if l.LeaderEpoch() < 0 {
		if err := l.BecomeLeader(0); err != nil {
			return 0, err
		}
	}
	// Replicated from here on: the high watermark starts at the log end
	// (everything a single broker acknowledged is committed) and the
	// epoch cache is written.
	l.SetReplicated(true)
	return l.LeaderEpoch() + 1, nil
}

// syncDir fsyncs a directory, after a file in it was removed.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncjournal.Sync(d)
}
