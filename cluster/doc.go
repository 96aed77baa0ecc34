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
// etcd owns those files and their format. Adding or replacing a voter of a
// running quorum (etcd member add/remove) is not done here yet: the voter
// set is the one the quorum was first started with.
//
// An external etcd cluster takes the embedded one's place with
// metadata.store=etcd://h1:2379,h2:2379[/root] (etcds:// for TLS; see
// StoreURL). It must allow transactions of a topic's partition count + 1
// operations (etcd's --max-txn-ops, 128 by default; the embedded member
// allows EmbedMaxTxnOps).
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
// (copying only the maps it touches) and closing the Changed channel. A
// watch that fails — compacted past its revision, or cancelled because its
// member lost the raft leader — is replaced by a reload at the current
// revision and a watch from there, retried with a doubling pause (200 ms
// to 5 s) while no quorum answers. Writes return once the store's own
// Snapshot shows them (or ctx ends), so a writer reads its writes.
//
// # Writes
//
// CreateTopic is one transaction: the topic key is absent → put it and
// every partition key. DeleteTopic deletes the topic key and the
// partitions prefix in one transaction. UpdatePartitions is one
// transaction that compares each key's ModRevision with Old.Version and
// puts every New state, or changes nothing and returns ErrConflict.
//
// AllocateProducerIDBlock (KIP-730's producer ID blocks, producerids.go)
// is a compare-and-swap on producer-ids ({"v":1,"next":N}; absent means
// 0): read it, then if its ModRevision is still the one read, put
// N+size and return [N, N+size-1]; else pause (full-jitter exponential
// backoff, 1 ms doubling up to 50 ms) and read again, at most 100 rounds
// or until ctx ends. So blocks never
// overlap, each starts above every block handed out before it, and a
// broker that dies holding a block only leaves a gap. The key is not part
// of the Snapshot; an unreadable value is an error, never a restart at 0.
//
// AlterCredentials is one transaction per call (the server calls it per
// user, Kafka's unit): it compares that every credential it deletes
// exists and applies every change, or changes nothing and returns
// ErrCredentialNotFound. CreateACLs puts each binding only if its key is
// absent (nested transactions, at most 64 per transaction), so creating a
// stored binding is a no-op. DeleteACLs reads acls/ at one revision,
// selects with the caller's filter and deletes the selection only if no
// key under acls/ was put since (a compare over the prefix), reporting
// the previous values it deleted; else it reads again. ImportCredentials
// and ImportACLs write a data dir's file into a cluster that holds no
// user (binding) and has no import marker, with the marker, in one
// transaction.
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
// rule.
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
// one per leadership (their guards); Close and Resign stop and wait for
// them.
package cluster
