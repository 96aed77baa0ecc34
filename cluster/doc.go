// Package cluster owns a cluster's metadata — brokers and their liveness,
// topics, each partition's replicas, leader, leader epoch and ISR — and
// keeps it in etcd, never in consensus code of our own. types.go is the
// model every part shares; this comment describes the etcd side.
//
// # Embedded quorum
//
// Brokers named in controller.quorum.voters (Kafka's syntax,
// "1@host:port,2@host:port,3@host:port", parsed by ParseVoters) each run
// an embedded etcd member (StartEmbedded). A broker started without
// voters runs no member, opens no port and starts no goroutine here.
//
//	name                the decimal node.id
//	peer (raft) URL     binds --controller-listen host:port; the others dial
//	                    (advertised) the address controller.quorum.voters
//	                    gives for the node, which may differ (a proxy or
//	                    NAT in front)
//	client URL          binds the same host, controller port +
//	                    ClientPortOffset (1), e.g. 127.0.0.2:9093 →
//	                    127.0.0.2:9094; overridable per member
//	                    (EmbedConfig.ClientListen); advertised at the voter
//	                    entry's host and port + 1, since brokers derive the
//	                    quorum's client URLs by this rule
//	                    (VoterClientEndpoints)
//	peer source         with EmbedConfig.BindPeerSource, the voter entry's
//	                    host (etcd's SetMemberLocalAddr), unless it is
//	                    loopback or not an IP (PeerSourceBindable)
//	initial cluster     every voter, token DefaultClusterToken; with
//	                    EmbedConfig.JoinExisting and no WAL, the running
//	                    quorum's started members (read from the other
//	                    voters) and this one (JoinInitialCluster)
//	cluster state       "new" when the member's data dir holds no WAL,
//	                    "existing" (rejoin from the WAL) otherwise, and
//	                    "existing" when joining
//	TLS                 https peer and/or client URLs when given TLSFiles
//
// A voter joins a running quorum as etcd's runtime reconfiguration has
// it (membership.go): AddVoter adds it as a learner, the member starts
// with JoinExisting, and PromoteVoter makes it a voter once it has caught
// up; StartEmbedded returns only then. RemoveVoter is member remove.
//
// With peer TLS and ClientCertAuth, etcd also checks each peer's
// certificate against the address the peer connects from. Voters on one
// host (127.0.0.2-4, as `make cluster` runs them) dial each other from
// 127.0.0.1, even with BindPeerSource, so their certificate must name
// 127.0.0.1 as well.
//
// On disk, under the broker's data dir:
//
//	<data-dir>/
//	  metadata/
//	    etcd/            the member's etcd data dir (EtcdDataDir)
//	      member/wal/    etcd's write-ahead log
//	      member/snap/   etcd's snapshots and bbolt database
//
// etcd owns those files and their format. Each member keeps 5 minutes of
// revisions (periodic compaction) and takes a raft snapshot every 1,000
// entries, so that a restarted member, which rebuilds its key index from
// every revision kept and replays its WAL since its last snapshot, starts
// in a time bounded by the last minutes of writes, not by every failover
// since the quorum started. Adding or replacing a voter of a running
// quorum (etcd member add/remove) is not done here yet: the voter set is
// the one the quorum was first started with.
//
// An external etcd cluster takes the embedded one's place with
// metadata.store=etcd://h1:2379,h2:2379[/root] (etcds:// for TLS; see
// StoreURL). It must allow transactions of 128 operations (etcd's
// --max-txn-ops default; the embedded member allows EmbedMaxTxnOps): no
// write here needs more, whatever a topic's partition count (Writes).
//
// # Keys
//
// Every key of a cluster lives under <root>/<cluster-id>/, root
// DefaultKeyRoot (/tributary) unless the store URL gives one:
//
//	brokers/<node-id>               a live broker; bound to its lease
//	topics/<name>                   a topic
//	partitions/<topic>/<partition>  a partition's state: replicas, ISR, leader,
//	                                epochs, and while it is reassigned the target,
//	                                adding and removing replicas (reassign.go)
//	controller/<lease-id hex>       controller candidates (concurrency.Election)
//	staging/<name>                  a topic whose partitions are being written in
//	                                several transactions (Writes): the topic ID
//	                                and the partitions staged; bound to the
//	                                writer's lease
//	producer-ids                    the next producer ID no broker has a block of
//	users/<mechanism>/<name>        a user's SCRAM credential for SCRAM-SHA-256
//	                                or SCRAM-SHA-512: salt, iterations, StoredKey,
//	                                ServerKey (never a password)
//	acls/<id>                       one ACL binding; id is 32 hex digits of the
//	                                SHA-256 of its fields (ACL.ID), so an identical
//	                                binding has one key
//	auth-imported/credentials       markers: a data dir's credentials (or ACLs)
//	auth-imported/acls              were imported once; never again
//	broker-configs/<node-id>        a broker's dynamic broker configs (the
//	broker-configs/default          throttle rates), and every broker's default
//	                                (broker_configs.go)
//
// One key of the embedded quorum lives outside every cluster's root:
// /tributary-quorum/defrag, the lock that lets one voter at a time
// defragment its etcd file (defrag.go), bound to that voter's lease.
//
// Values are JSON objects with a format version "v" (FormatVersion; its
// comment states the compatibility rule). A partition state's Version,
// the compare-and-swap token, is its key's ModRevision and is not stored;
// a broker's Epoch is its key's ModRevision, the revision of the
// registration write, so it grows with every registration.
//
// # Watching
//
// A broker's store dials every voter's client URL (VoterClientEndpoints),
// not only its own member's, so the client moves to a member that still
// has a quorum when its own is cut off.
//
// EtcdStore loads the whole prefix with one Get and watches it from the
// next revision, publishing a new immutable Snapshot per watch response
// (copying only the maps it touches; of the partitions, a PartitionMap,
// only the buckets of those it changes) and closing the Changed channel.
// Each Snapshot lists the partitions it changed and links to the next
// one's list (Snapshot.Changes), so a reader finds what changed since a
// Snapshot it applied without comparing every partition (ChangedSince);
// a reload starts a new chain. A
// watch that fails — compacted past its revision, or cancelled because its
// member lost the raft leader — is replaced by a reload at the current
// revision and a watch from there, retried with a doubling pause (200 ms
// to 5 s) while no quorum answers. Writes return once the store's own
// Snapshot shows them (or ctx ends), so a writer reads its writes.
//
// # Writes
//
// No transaction holds more than 128 operations at any nesting level
// (etcd's default --max-txn-ops), so the same code runs on the embedded
// member and on any external etcd. A topic of up to 127 partitions is
// created in one transaction: if neither the topic key nor a staging/
// key of its name exists, put the topic and every partition key.
// DeleteTopic deletes the topic key and the partitions prefix in one
// transaction: a range delete is one operation, whatever the partition
// count. UpdatePartitions is one transaction that compares each key's
// ModRevision with Old.Version and puts every New state, or changes
// nothing and returns ErrConflict (the controller sends at most
// MaxUpdatesPerTxn). On a voter, these partition writes go through a
// client of the raft leader's client URLs, one per leader, switched as
// the local member learns of each new leader (LeaderClient,
// EtcdStoreConfig.Leader): a follower would forward each to the leader,
// at a cost in etcd CPU a failover's thousands of them feel. While that
// client is not connected, or when it fails to reach its member, the
// same transaction goes through the store's client. A partition write
// still unanswered when the local member learns of a new leader is sent
// again (a follower that forwarded it to a leader that died would answer
// only at etcd's request timeout, seconds later).
//
// A larger topic is staged (stage_etcd.go). The visibility rule every
// Snapshot keeps: a partition key is shown only while its topic key
// exists and counts it (partition < Topic.Partitions); any other is
// held back by the watcher (and counted in Snapshot.OrphanPartitions
// when no staging/ key claims its topic). The topic key is then the
// commit point, and CreateTopic is:
//
//  1. claim: grant a lease of the session timeout, kept alive while
//     the writer works; if neither topics/<name> nor staging/<name>
//     exists, put staging/<name> bound to it. Else the topic exists
//     (ErrTopicExists), or another writer holds the claim: wait until
//     its key is deleted, then claim again;
//  2. stage: put the partition keys in transactions of 128, up to
//     stagedTxnsInFlight at once, each only if staging/<name> still has
//     the claim's create revision (and the topic key is absent);
//  3. commit: under the same compare, put topics/<name> and delete
//     staging/<name>, in one transaction.
//
// So a reader shows none of the topic before the commit and all of it
// after; two creations of one name are serialised by the claim, and
// every loser (the direct path included, whose compare covers
// staging/) returns ErrTopicExists once the winner committed. A writer
// that fails cleans up under its claim (the partitions prefix and the
// claim, if the topic is still absent). One that dies stops renewing its
// lease: within the session timeout its claim is gone, its later writes
// all fail their compare, the name is free again (the next creation
// overwrites every partition key it counts before its commit), and what
// it staged is an orphan. The active controller deletes orphans
// (CollectOrphans), each deletion only if that topic and its claim are
// still as it read them. AddPartitions of more than 127 is staged the
// same way: claim only if the topic key is unchanged since read, stage
// the new partitions (past the count, so unseen), commit the topic with
// its larger count; a lost race is ErrConflict, after any claim held
// is released.
//
// During a rolling upgrade, brokers of a release without this rule
// ignore staging/ keys but show staged partitions as topicless or past
// their topic's count: create topics of more than 127 partitions once
// every broker runs this release (before it, they could not be created
// on an etcd of 128 operations at all).
//
// AllocateProducerIDBlock (KIP-730's producer ID blocks, producerids.go)
// is a compare-and-swap on producer-ids ({"v":1,"next":N}; absent means
// 0): read it, then if its ModRevision is still the one read, put
// N+size and return [N, N+size-1]; else pause (full-jitter exponential
// backoff, 1 ms doubling up to 50 ms) and read again, at most 100 rounds
// or until ctx ends. So blocks never
// overlap, each starts above every block handed out before it, and a
// broker that dies holding a block only leaves a gap. RaiseProducerIDs
// moves N up (never down) by the same compare-and-swap: a single
// broker's data dir joining a cluster raises it past the IDs it handed
// out itself. The key is not part
// of the Snapshot; an unreadable value is an error, never a restart at 0.
//
// AlterCredentials is one transaction per call (the server calls it per
// user, Kafka's unit): it compares that every credential it deletes
// exists and applies every change, or changes nothing and returns
// ErrCredentialNotFound. CreateACLs puts each binding only if its key is
// absent (nested transactions, at most 64 per transaction), so creating a
// stored binding is a no-op. Each binding is its own unit, as Kafka's
// CreateAcls answers per binding: a request of more than 64 is several
// transactions, and one that fails part way has stored the bindings
// before the failure and fails whole (its retry stores the rest; none
// is stored twice). DeleteACLs reads acls/ at one revision, selects
// with the caller's filter and deletes the selection, in transactions of
// 64, each only if no key under acls/ was put since (a compare over the
// prefix), reporting the previous values it deleted; else it reads
// again. ImportCredentials and ImportACLs write a data dir's file into a
// cluster that holds no user (binding) and has no import marker, with
// the marker, in one transaction (so at most 127 of them on an etcd of
// 128 operations).
//
// # Brokers, fencing and the controller
//
// Register binds a broker's key to a lease of broker.session.timeout.ms
// (DefaultSessionTimeout, 9 s; whole seconds, etcd's unit) that a
// concurrency.Session keeps alive. A broker whose lease lapses (paused,
// partitioned, dead) loses its key and so leaves every Snapshot.Brokers:
// it is fenced. The broker learns it from Registration.Fenced: the
// keep-alive stopped (the client gives up once the TTL passes without an
// answer) or its key was deleted or taken over by a newer incarnation
// (a restart revokes the previous incarnation's lease).
//
// The active controller is the winner of a concurrency.Election on
// controller/, under the same lease: Registration.Campaign blocks until
// this broker wins and returns a Leadership whose Lost channel closes when
// the term ends (resigned, lease lapsed, key deleted). Snapshot.Controller
// names the candidate whose key is oldest, the election's own rule.
//
// Fast fencing (fastfence.go) ends a registration ahead of its lease
// when its process is known to be gone: a FastFencer keeps an idle
// connection to every other registered broker's inter-broker listener,
// and when one ends and two dials in a row are refused, EndRegistration
// revokes the lease of exactly the registration watched (its key's
// ModRevision must still be that broker epoch), which deletes the key and
// the controller candidacy with it. A paused process, a partition or a
// host that is down never refuses a connection, so the lease stays their
// rule. So a killed controller costs no more than another killed broker:
// the revoke that fences it deletes its election key, the next candidate
// wins on that watch event and reconciles every partition from its first
// snapshot, which already shows the fencing. What a controller's kill
// waits for beyond that is etcd's own election when the same process
// also led etcd's raft: no revoke commits without a raft leader.
//
// Registration.Store and Leadership.Store return views of the store whose
// writes are fenced: each transaction first checks that the broker's key
// still holds its lease, or that the controller's election key is still
// the one it won, and fails with ErrFenced otherwise — a stale leader or a
// deposed controller cannot write, whatever it believes.
//
// # Concurrency
//
// EtcdStore.mu guards only the Changed channel; the Snapshot is an atomic
// pointer. One goroutine per store (the watch), one per registration and
// one per leadership (their guards), one per LeaderClient (following
// the leader); Close and Resign stop and wait for them.
package cluster
