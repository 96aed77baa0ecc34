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
// goroutine hand-off per request: measured, answering inline halves the
// broker's overhead on small request/response exchanges.
//
// Malformed input (a bad size, an unknown API key, an unsupported version
// other than ApiVersions', a body kmsg cannot parse) closes that connection
// with a log line; nothing has been stored for it and other connections are
// unaffected.
//
// # Zero copy
//
// Produce hands the record bytes kmsg sliced out of the request frame to
// log.Append, which rewrites base offsets in place: no per-record allocation
// and no copy besides the one into the segment. Fetch answers with views of
// the segment mappings: the response framing is encoded by package wire and
// the record bytes go to the socket straight from the page cache.
//
// # Files
//
// One file per Kafka API, named by key (00_produce.go, 01_fetch.go, ...),
// with a note on the versions served. ApiVersions advertises exactly the
// APIs in the apis table (apis.go). Internal errors become Kafka error codes
// in one place, errors.go.
package server
