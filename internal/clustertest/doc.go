// Package clustertest runs real `tributary serve` processes, puts them
// under idempotent acks=all load, and checks afterwards, from the brokers'
// own data dirs, that nothing acknowledged was lost, moved, duplicated or
// reordered and that replicas agree. It is a helper for tests (of any
// package) and for bench; no production code imports it.
//
// # The pieces
//
//   - Cluster (cluster.go): N brokers as child processes on 127.0.0.2 to
//     127.0.0.(N+1), each with free ports picked on its own address, its
//     data dir and its log file in the test's temp dir (the logs' tails
//     are printed when the test fails). N == 1 without voters is today's
//     single broker; N > 1 passes --node-id, --controller-listen and
//     --controller-quorum-voters. Kill9, Term, Stop/Cont (SIGSTOP and
//     SIGCONT), Restart (same data dir and ports) and WipeAndRestart act
//     on one node by PID; t.Cleanup kills whatever still runs, by PID.
//   - PowerLoss (powerloss.go): kill -9, then every write the node had
//     not fsynced is dropped (files cut to their last fsync, names put
//     back to their directory's last fsync, optionally a torn page), as a
//     power loss would; it needs Config.PowerLoss, which runs the binary
//     built with -tags powerloss,clockfault (FaultBinary) that journals
//     its syncs (internal/syncjournal).
//   - ClockJump (clock.go): one node's wall clock set to the system's
//     plus an offset, forward or back, seconds to hours, and reset with
//     0; it needs Config.ClockFault, which runs the same fault build,
//     whose wall clock (internal/wallclock) reads an offset file the
//     harness writes. See Clock jumps below.
//   - Producer and Consumer (producer.go, consumer.go): franz-go clients
//     that record every send, acknowledgement, failure, assignment, poll
//     and commit in a History, each bounded in time (and count) and
//     stopping by itself.
//   - ReadReplica (readlog.go): a stopped or killed broker's partitions
//     read straight from its data dir with log.VerifyPartition, which
//     opens nothing for writing and repairs nothing (log.Open would
//     truncate a torn tail and rewrite checkpoints).
//   - Network faults (net.go): with Config.Faults every listener of every
//     node (Kafka, etcd peer, etcd client) has a faultproxy in front of
//     it on the node's own address, which the others and the clients
//     dial; each node binds its listeners behind them and dials from its
//     own address (--inter.broker.source.bind.enable), so each proxy
//     knows which node, or client, every connection comes from.
//     Partition, Isolate (from the other nodes; clients still reach
//     it), Freeze, CutOneWay, Delay and Heal act on nodes by id, Net on
//     anything else. The harness's probes go around the proxies; a
//     node's proxies refuse connections while its process is down and
//     stay on the same addresses across restarts. The three-node
//     scenarios under network faults (cluster_faults_test.go, tag
//     cluster: an isolated leader, a leader cut one way, the
//     controller's links frozen, the ISR shrunk to the leader and then
//     the leader isolated) run with the issue 14 ones, at the same 3 s
//     broker.session.timeout.ms, each after moving the metadata
//     quorum's leadership onto the node it faults (MoveQuorumLeader,
//     quorum.go: etcd's leadership transfer), the worst case for the
//     other brokers' leases. See Session timeout below.
//   - Check (check.go, check_consumers.go): the history against every
//     replica, linear in both; a Result with a count and the first few
//     examples of each Kind of broken guarantee. bench/chaos (one broker
//     under kill -9) checks its runs with it too: its online and offline
//     readings are two replicas of one node, the segment files after
//     each kill earlier readings (CheckOptions.Earlier).
//   - Schedule (schedule.go): faults injected one at a time from a plan
//     drawn up front from the seed (NewPlan: gaps of Interval ± Jitter,
//     a kind among the enabled Nemesis kinds, a node and a peer), each
//     healed before the next; then everything healed and a bounded wait
//     for a settled cluster (WaitSettled: every broker registered, every
//     ISR whole). Every injection, heal and skip is logged with its time
//     since the start, the seed first; Timeline has them all, and ends
//     with each kind's planned, injected, skipped and failed counts
//     (Counts). A skip is a step its kind cannot apply now; an injection
//     or heal that fails is an error of the run, never a skip, and the
//     nodes it left down are revived before the next step. A ten-minute
//     run (make chaos-cluster) fails if a kind was never injected
//     (RequireEveryKind); make test's minute may miss some. A kind is
//     a Nemesis (Inject returns a Fault whose Heal is idempotent); the
//     process faults are in nemesis_process.go (kill -9, SIGSTOP, SIGTERM
//     of a node or of the controller, a broker back with an empty log),
//     the network and power-loss ones in nemesis_plug.go over the
//     Cluster's own fault methods (Config.Faults, Config.PowerLoss), the
//     clock jump (one of ClockJumps, healed by a reset; the timeline
//     names the offset) in nemesis_clock.go (Config.ClockFault).
//
// # Session timeout
//
// Every scenario and the chaos run use broker.session.timeout.ms=3000.
// When the node whose etcd member leads the quorum is cut off or paused,
// the other brokers keep their leases if the rest of the quorum elects a
// leader within the session (etcd's election timeout is 1 s; the new
// leader extends every lease): their renewals do not queue behind one
// forwarded to the silent leader (cluster/lease_keeper.go), and their
// etcd clients leave its member (cluster/endpoint_guard.go). On a machine
// loaded far past its cores an election can take longer than that; then
// every broker is fenced and registers again. That loses nothing and the
// checks still hold; the scenarios log each node's fences ("fenced (by
// node)", faulted and bystanders apart) rather than assert them. A
// longer session (Kafka's 9 s) is the setting that makes it rarer. An
// etcd leader paused for longer than the session revokes the others'
// leases when it resumes (an etcd bug, cluster_faults_test.go): the same
// re-registration, and nothing lost.
//
// # Clock jumps
//
// A jump moves a node's wall clock only: what the broker stamps or
// compares with record and commit timestamps (LogAppendTime, retention.ms,
// segment.ms, producer.id.expiration.ms, offsets.retention.minutes). Its
// leases, broker session, fencing, ISR lag, timeouts and its etcd member
// run on Go's monotonic clock, which a real jump does not move either, so
// a jump moves no leadership and fences nobody (clock_scenarios_test.go
// checks the leader epochs). The leader stamps LogAppendTime and followers
// copy its bytes: a follower's clock never shows in a record. The time
// index keeps the largest timestamp so far, as Kafka's does, so a jump
// back adds no entry and it never goes back on disk; ListOffsets by time
// answers the first record at or after the time asked.
//
// A forward jump past a topic's retention.ms makes its leader delete the
// segments that now look that old, as Kafka would: that is data gone, and
// a Check of that topic would report it lost. Past
// offsets.retention.minutes an empty group's commits (and a simple
// commit) expire; past producer.id.expiration.ms (a day) an idle
// producer's state, so that a retry still in flight could be appended
// twice. The settings that prevent it are Kafka's: retention by size only
// (retention.ms=-1), or a clock slewed rather than stepped (NTP slews
// offsets below 128 ms by default; chrony's makestep bounds a step). So
// ClockJumps, which the chaos run draws, stay below every default kept by
// time (six hours at most); clock_test.go and clock_scenarios_test.go
// jump past retention.ms and offsets.retention.minutes on purpose.
//
// # Values
//
// Every record's value names its producer and a sequence number that
// producer never reuses ("ct <producer> <seq> " and filler), so a record
// found twice, out of order, at the wrong offset or nowhere is told apart
// from every other, in a log, a poll or an acknowledgement alike.
//
// # Seeds
//
// Seed returns the seed of a run: $CLUSTERTEST_SEED, or the clock's. It is
// logged, and every random choice of a test (which node to kill, ports)
// comes from it; a Result carries it. A schedule's plan comes from its own
// stream of the seed (PlanRand), so that the ports picked, which depend on
// what is free, do not change it: a failing seed replays the same faults.
//
// # The binary
//
// Binary returns $TRIBUTARY_BIN, or cmd/tributary built once per test
// binary without the race detector (the broker under test is the one
// operators run); FaultBinary (PowerLossBinary), $TRIBUTARY_POWERLOSS_BIN
// or the same built once with -tags powerloss,clockfault. A package whose tests use it calls Main from TestMain
// so that the built binary's temp dir is removed.
//
// # Running
//
// The real-process tests are skipped with -short. The three-node
// scenarios of issues 14 and 15 (cluster_scenarios_test.go,
// chaos_scenarios_test.go) and the chaos run (chaos_test.go) need the
// cluster wiring and are behind the build tag cluster:
//
//	go test -count=1 ./internal/clustertest/...
//	go test -count=1 -tags cluster -run TestCluster -v ./internal/clustertest/...
//
// The chaos run takes its length from $CLUSTERTEST_CHAOS_DURATION (60s by default, make test's; make
// chaos-cluster runs 10m).
package clustertest
