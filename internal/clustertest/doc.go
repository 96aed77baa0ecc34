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
//     built with -tags powerloss (PowerLossBinary) that journals its
//     syncs (internal/syncjournal).
//   - Producer and Consumer (producer.go, consumer.go): franz-go clients
//     that record every send, acknowledgement, failure, assignment, poll
//     and commit in a History, each bounded in time (and count) and
//     stopping by itself.
//   - ReadReplica (readlog.go): a stopped or killed broker's partitions
//     read straight from its data dir with log.VerifyPartition, which
//     opens nothing for writing and repairs nothing (log.Open would
//     truncate a torn tail and rewrite checkpoints).
//   - Check (check.go): the history against every replica, linear in
//     both; a Result with a count and the first few examples of each
//     Kind of broken guarantee.
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
// comes from it; a Result carries it.
//
// # The binary
//
// Binary returns $TRIBUTARY_BIN, or cmd/tributary built once per test
// binary without the race detector (the broker under test is the one
// operators run); PowerLossBinary, $TRIBUTARY_POWERLOSS_BIN or the same
// built once with -tags powerloss. A package whose tests use it calls Main from TestMain
// so that the built binary's temp dir is removed.
//
// # Running
//
// The real-process tests are skipped with -short. The three-node
// scenarios of issue 14 (cluster_scenarios_test.go) need the cluster
// wiring and are behind the build tag cluster:
//
//	go test -count=1 ./internal/clustertest/...
//	go test -count=1 -tags cluster -run TestCluster -v ./internal/clustertest/...
package clustertest
