// Package bench drives Kafka-protocol brokers with load and measures them:
// a small load engine on franz-go's kgo client, and a way to run a broker in
// a child process so that its CPU time can be read on its own.
//
// # Load engine
//
// [Produce] writes a fixed number of records of a fixed size to one topic
// and reports throughput and per-record latency (from the Produce call to
// the broker's acknowledgement, as Kafka's producer-perf-test measures it).
// [Consume] reads a topic from its start until it has a fixed number of
// records and reports throughput. Both are bounded twice: by their record
// count and by their context. The producer never holds more than
// [ProduceConfig.MaxBufferedRecords] records that the broker has not yet
// acknowledged (kgo blocks Produce beyond that), so memory stays bounded
// whatever the record count.
//
// A run can instead be bounded by a duration (ProduceConfig.Duration,
// ConsumeConfig.Duration), and a producer held to a rate
// (ProduceConfig.Rate, records/s over all its clients). [EndToEnd] produces
// and consumes at once: the producer stamps each value with its send time
// and the consumer measures every record's end-to-end latency.
//
// Latencies go into a [Histogram] (HdrHistogram: every record, three
// significant digits, constant memory, exact max). Every run samples its
// throughput once per sample interval into Result.Timeline, and writes a
// progress line per interval to a writer if given one; the run starts and
// stops that sampling goroutine itself. [WritePlot] draws a timeline and
// latency distributions as a PNG; [Report] is a run's summary as JSON.
// `tributary bench` is a command line over these.
//
// Record values are deterministic pseudo-random bytes (a seeded ChaCha8
// stream), so runs are repeatable, nothing is all zeros and compression
// cannot make the payload vanish. Bytes and MB/s count record values (and
// keys, which the engine does not set), not protocol overhead; MB is 10^6
// bytes.
//
// # Broker processes
//
// [StartBroker] starts a broker in a child process: it re-executes the
// current executable with [EnvBroker] (and friends) set, and that program
// must hand control to [ServeChild] when it sees them, typically from
// TestMain in a test binary. The child prints the broker's address on
// stdout, answers a few commands on stdin (start and stop a CPU profile) and
// shuts the broker down when stdin closes or on SIGTERM. Because the broker
// has its own process, its rusage is its own: [BrokerProc.CPU] (the child's
// user+system time, all threads) is the broker's CPU alone, not the load
// generator's. [ProcessCPU] reads the same figure from /proc/<pid>/stat
// without the child's help, in 10 ms ticks.
//
// This package does not import any broker: the program that calls
// ServeChild supplies the function that starts one (this package's tests
// start Tributary from log and server, and franz-go's kfake).
package bench
