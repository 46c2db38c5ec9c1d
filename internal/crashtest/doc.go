// Package crashtest is the crash harness that shows Glint's exactly-once guarantee end to end
// (DESIGN.md, "Exactly-once: barrier checkpoints"). It holds tests only.
//
// The tests build the real CLI once and run workers as OS processes (`glint run JOB.yaml`)
// against an embedded broker (kfake over TCP on 127.0.0.1) in the test process. A seeded
// generator feeds at least a million emoji reactions, out of order and with late and malformed
// records, into the input topic while the workers run; workers are killed with SIGKILL at
// seeded-random moments and restarted. At the end an in-process run in the same group drains
// the job (restores every task from its checkpoint, reads to the end, fires every window), and
// a second job of the same definition, run once without interruption over the same input, is
// the reference. The read_committed Kafka output, the dead-letter topic and the Iceberg table
// of the crashed job must equal the reference's as multisets: no row lost, none twice.
//
//	TestCrashSingleWorker   one worker, SIGKILLed and restarted GLINT_CRASH_KILLS times (10)
//	TestCrashTwoWorkers     two workers; one is SIGKILLed, its partitions move to the other
//
// Settings, all optional: GLINT_CRASH_EVENTS, the input size (default 1000000; the two-worker
// test uses 30% of it); GLINT_CRASH_KILLS, the number of kills (default 10);
// GLINT_CRASH_TXN_VERSION, the broker's transaction.version (0 behaves as Kafka before 4.0,
// where a producer keeps its epoch across transactions); GLINT_CRASH_LOGDIR, a directory that
// receives every worker's log. `go test -short` skips the harness.
//
// On a difference the test names the first differing rows and, for rows seen too often, the
// output partitions, producer ids and epochs of every copy, and the transaction history of the
// dead-letter partitions with the input offsets each transaction covered: enough to tell which
// transaction was committed that should not have been.
package crashtest
