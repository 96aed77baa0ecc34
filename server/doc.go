// Package server speaks the Kafka wire protocol over TCP on top of a
// log.Manager: one Tributary broker, node 0, leader of every partition.
//
// # Connections
//
// Each connection has one goroutine. It reads a size-prefixed frame (the
// prefix is checked against socket.request.max.bytes before any allocation,
// and the body buffer grows only with the bytes that arrive), takes the
// frame's size from the broker-wide queued.max.request.bytes budget,
// decodes it with franz-go's kmsg, handles it and writes the response with
// one writev. Requests of one connection are handled one at a
// time and answered in order, as Kafka does: clients pipeline up to five
// requests, which wait in the socket buffer. A separate writer goroutine
// would only overlap the next read with the last write, and costs a
// goroutine hand-off per request: answering inline took a 1 KiB produce
// round trip from 26 µs to 18 µs (loopback plus write(2): 14 µs). The one
// exception is in a cluster: an acks=all produce waiting for its followers
// leaves its answer to a second goroutine and the next produce is read and
// appended meanwhile, answers still in order (produce_pipeline.go).
//
// Malformed input (a bad size, an unknown API key, an unsupported version
// other than ApiVersions', a body kmsg cannot parse) closes that connection
// with a log line; nothing has been stored for it and other connections are
// unaffected.
//
// # Limits
//
// What a client controls is bounded before it costs memory: the size prefix
// by socket.request.max.bytes; frames of every API but Produce by 2 MiB
// (kmsg allocates array elements for the count a request claims, ~32x the
// frame at worst); frames being decoded and handled, across connections, by
// queued.max.request.bytes, each frame weighing 32x its size while it is
// decoded, so that lying frames cannot multiply their cost by numbers;
// decompressing produced batches (every compressed batch is read before it
// is acknowledged, or re-encoded for compression.type) by one batch per
// core, each decompressed to at most 100 MiB; fetch responses by
// fetch.max.bytes, sent from the page cache. A connection silent, or not
// reading its answers, for connections.max.idle.ms is closed. A handler
// that panics closes its connection, not the broker.
//
// Connections are bounded as Kafka's acceptor bounds them: beyond
// max.connections new ones wait (in the broker, then in the listen
// backlog) until one closes; one over max.connections.per.ip for its
// address is closed at once (server.go).
//
// # Consumer groups
//
// Kafka's classic group protocol (FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
// ListGroups, DeleteGroups, OffsetDelete) is served by package
// consumergroup's coordinator, with this broker as the coordinator of
// every group; committed offsets live in __consumer_offsets.
//
// # Data path in a cluster
//
// With a replica.Manager attached (replication.go) the data path serves
// only the partitions this broker leads: NOT_LEADER_OR_FOLLOWER with
// KIP-951's leader hint elsewhere, acks=all answered once the ISR holds
// the records, followers' fetches answered from the log end with
// DivergingEpoch when their history diverged, consumers' fetches and
// ListOffsets up to the high watermark. Without one, nothing of it runs.
//
// # Listeners, TLS and SASL
//
// A broker serves one or more of Kafka's named listeners (listeners.go):
// each accepted connection knows its listener, which decides the address
// Metadata, FindCoordinator and DescribeCluster tell it. On SSL and
// SASL_SSL listeners the connection's goroutine runs the TLS handshake
// (package auth's ServerTLS, which reloads changed certificate files)
// before the first request, and a client certificate sets the principal.
// On SASL_PLAINTEXT and SASL_SSL listeners the connection is held to
// ApiVersions, SaslHandshake and SaslAuthenticate, in frames of at most
// 512 KiB, until it authenticates (sasl.go, 17_sasl_handshake.go,
// 36_sasl_authenticate.go); a session older than connections.max.reauth.ms
// is closed unless it re-authenticates. PLAINTEXT connections test one
// nil pointer per request for all of this.
//
// # Authorization
//
// Each connection carries its principal (User:ANONYMOUS until
// authentication sets it) and its client address. With
// authorizer.class.name, every handler checks what Kafka's KafkaApis
// checks against package auth's Authorizer and answers with Kafka's
// codes; acl.go has the shared checks and the ACL APIs (29-31) manage the
// bindings, kept in meta/acls. Without it the authorizer is nil and each
// check is one nil test: no lock or allocation is added to any request.
//
// # Idempotent producers
//
// InitProducerId hands out producer ids for idempotent producers; Produce
// checks their sequences in package log. Transactions are not served: a
// transactional id is refused, and the transaction APIs are not
// advertised.
//
// # Not served
//
// Transactions and fetch sessions (declined with session id 0, which
// clients accept) are not advertised by ApiVersions, so clients do not
// try them.
//
// # Zero copy
//
// Produce hands the record bytes kmsg sliced out of the request frame to
// log.Append, which rewrites base offsets in place: no per-record allocation
// and no copy besides the one into the segment. Fetch answers with views of
// the segment mappings: the response framing is encoded by package wire and
// the record bytes go to the socket straight from the page cache, on
// plaintext listeners. TLS connections copy each response into a 64 KiB
// buffer that crypto/tls seals into records.
//
// # Files
//
// One file per Kafka API, named by key (00_produce.go, 01_fetch.go, ...),
// with a note on the versions served. ApiVersions advertises exactly the
// APIs in the apis table (apis.go). Internal errors become Kafka error codes
// in one place, errors.go.
package server
