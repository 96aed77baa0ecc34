// Package wire holds the one hand-written Kafka encoder in Tributary: the
// framing of a Fetch response body, written so that record bytes are spliced
// into the socket write instead of being copied.
//
// # Why this exists
//
// Everywhere else the broker encodes and decodes with kmsg and never
// hand-writes a codec. Fetch is the exception because of where record bytes
// live: log.Read returns whole batches as views of the mmapped segment files,
// in the page cache and off the Go heap. kmsg's (*FetchResponse).AppendTo
// would copy every one of those bytes into a heap buffer, putting the whole
// fetch volume through memcpy and the GC-visible heap. AppendFetchResponse
// writes everything except the record bytes into dst and, for each
// partition, records a Splice saying where its RecordBatches go; Buffers then
// interleaves the two into a net.Buffers, whose WriteTo is a writev(2) on a
// TCP connection, so record bytes go from the mapping to the socket once.
//
// # What is spliced
//
// Only FetchResponseTopicPartition.RecordBatches. Its length prefix (int32
// before v12, uvarint length+1 from v12) is written into dst as kmsg writes
// it, including the null encoding for nil RecordBatches, and a Splice{At, Data}
// is appended when the bytes are non-empty: Data belongs at offset At of dst.
// Everything else (names, offsets, aborted transactions, tagged fields,
// unknown tags) is small and is copied into dst.
//
//	dst:     [ header ... len(p0) ][ len(p1) ... tags ][ ... ]
//	                             ^                   ^
//	splices: {At: a0, Data: p0}  {At: a1, Data: p1}
//	wire:    dst[:a0] p0 dst[a0:a1] p1 dst[a1:]
//
// At is an absolute offset into the returned dst, so a caller can reserve
// the 4-byte size prefix and the response header at the start of dst, append
// the body, then patch the size to Size(dst, splices)-4 before writing.
// Splices are produced in increasing At order and never point inside a
// tagged field, so growing dst while encoding never invalidates them.
//
// # Guarding it
//
// The encoder must stay byte-for-byte equal to kmsg's AppendTo at every
// version, including flexible versions (v12+: compact lengths, tagged fields
// and UnknownTags) and the version conditions kmsg applies, even where they
// look odd (kmsg v1.15.1 emits the top-level Brokers tag 0 at any flexible
// version when it is non-empty, not only from v16). A differential test
// encodes many seeded random responses at every version with both encoders
// and compares the bytes, and checks that kmsg decodes ours back to the
// value that went in; FuzzAppendFetchResponse does the same for whatever
// kmsg can decode. When kmsg is upgraded and FetchResponse gains a version or
// a field, those tests fail until this package learns it.
//
// # Allocation
//
// Appending to a dst, splices and net.Buffers with enough capacity does not
// allocate. The exception is UnknownTags: kmsg only exposes them through
// (*kmsg.Tags).AppendEach, which sorts the keys into a fresh slice; a broker
// never sets unknown tags on a response it builds.
package wire
