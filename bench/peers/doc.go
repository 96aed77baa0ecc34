// Package peers runs the peer benchmark: the same workloads, driven by the
// same process, against Tributary (through franz-go), NATS JetStream with
// file storage, Redis Streams with an append-only file, and franz-go's
// in-memory kfake as a control, each server a process of its own on
// loopback, interleaved within every repetition so that a noisy stretch of
// the machine lands on all of them.
//
// # Workloads
//
//	produce-100B   1,000,000 records of 100 bytes, acknowledged
//	consume-100B   the same records, read from the start
//	produce-1KiB   200,000 records of 1 KiB
//	consume-1KiB   the same records
//	latency        10,000 records/s of 100 bytes for 10 s, each record's
//	               time from the producer's send call to its arrival at a
//	               consumer that reads as the records come
//
// Every system gets 4 partitions' worth of parallelism: a 4-partition
// topic (Kafka), one stream with 4 subjects (JetStream: a stream is one
// log whatever its subjects), 4 stream keys (Redis). Values are the
// bench package's deterministic pseudo-random bytes ([bench.Values]);
// bytes and MB/s count values only, MB = 10^6 bytes.
//
// Each client is used the way its users use it, with its own defaults
// except where noted:
//
//   - Kafka (Tributary, kfake): the bench engine's producer (franz-go,
//     acks=all, idempotent, linger 5 ms, 50,000 records buffered at most)
//     and consumer (franz-go fetch defaults); for the latency workload
//     linger 0, as a latency-sensitive Kafka producer is configured.
//   - NATS JetStream (nats.go's jetstream package): asynchronous publish,
//     every publish waited for until the server's ack (the analogue of
//     acks=all on one node), at most 4,000 unacknowledged (the client's
//     default); an ordered consumer (ephemeral, no acks) reads, pulling
//     5,000 messages at a time (the default 500 was 20-40% slower).
//   - Redis Streams (go-redis): XADD pipelined, 1,000 commands a pipeline,
//     4 pipelines in flight on 4 connections, every reply awaited; XREAD
//     COUNT 1,000 per stream, one reader per stream key; the latency
//     consumer blocks in XREAD on all 4 keys.
//
// Servers: Tributary and kfake run in a child process of the benchmark
// program (bench.StartBroker re-executes it; [ServeBroker] is the child's
// side), nats-server with `-js -sd <dir>` and a file-storage stream,
// redis-server with `--appendonly yes --appendfsync everysec --save ""`
// and automatic AOF rewrites off (a rewrite runs in a forked child whose
// CPU the server's clock would not count). Each is started on 127.0.0.1 on
// a free port over a fresh temporary directory and stopped by its PID
// (SIGTERM; SIGINT for nats-server, which exits with status 1 on SIGTERM;
// SIGKILL after a grace period).
//
// What an acknowledgement means differs, and the report says so: Tributary
// has written the record to its partition's segment log (the page cache;
// no fsync, Kafka's default flush.messages); JetStream has stored it in
// its file store, which writes its block files moments later and fsyncs
// on an interval (two minutes by default); Redis has written it to the
// append-only file (fsync once a second); kfake holds it in memory.
//
// # Measures
//
// Per workload: records/s and MB/s over the workload's wall time (from
// the first send or read to the last acknowledgement or record), and the
// server's CPU seconds per GB of values: the server process's CPU-time
// clock (bench.ProcessCPUClock: user + system, all threads, ns
// resolution) read before and after the workload, the same way for all
// four servers. The client's CPU is measured the same way (both share the
// machine's cores). Setup (creating the topic or stream) is outside both.
//
// [Run] drives the grid; [Summarise] turns its runs into medians and
// spreads; [WriteMarkdown] and [WriteChart] draw them; [RewriteSection]
// puts the markdown between [BeginMarker] and [EndMarker] in a file so that
// a rerun replaces it. [Command] is the command line; it runs from this
// package's test binary (TestPeers, make bench-peers), where kfake, a test
// dependency, is wired in (kfake_test.go).
package peers
