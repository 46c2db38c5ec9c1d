package crashtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/glintstream/glint/connector/kafka"
)

const (
	inputTopic = "reactions"
	partitions = 8
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// jitter is a seeded-random duration in [0, d).
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}

// killRecord is what the harness saw when it killed a worker.
type killRecord struct {
	round    int
	mode     string // "progress": after the worker checkpointed new input; "recovery": soon after it got its partitions
	after    time.Duration
	produced int64 // input records produced so far
	ckpt     int64 // input records covered by the tasks' newest complete checkpoints
	output   int64 // last stable offsets of the output topic, summed: committed output so far
}

func (k killRecord) String() string {
	return fmt.Sprintf("kill %2d: %-8s after %5.2fs: input produced %7d, checkpointed %7d (backlog %6d), output offsets %6d",
		k.round+1, k.mode, k.after.Seconds(), k.produced, k.ckpt, k.produced-k.ckpt, k.output)
}

// killDuringJoin: the harness kills a worker only once it has started the tasks of its
// partitions, never while it is joining the group. A worker killed while its JoinGroup is
// pending stalls the group for the rebalance timeout, 60 s (franz-go's default: pipeline/run.go
// sets the session timeout and heartbeat interval from the job's group section but not
// kgo.RebalanceTimeout), instead of the 3 s session timeout: the embedded broker (kfake) arms a
// member's session timer only when a response to it is delivered (group.reply), so a member
// that died waiting in join is removed only by the rebalance or pending-sync timer, and every
// new join restarts that timer.

// TestCrashSingleWorker: one worker of the emoji job reads a million events while they are
// produced and is killed with SIGKILL at seeded-random moments, GLINT_CRASH_KILLS times,
// restarted after each kill. The final read_committed output, dead letters and table equal
// those of an uninterrupted run of the same job.
func TestCrashSingleWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("crash harness: builds the CLI and runs a million events")
	}
	n := envInt(t, "GLINT_CRASH_EVENTS", 1_000_000)
	nKills := envInt(t, "GLINT_CRASH_KILLS", 10)
	const seed = 20261122
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Now()

	dir := t.TempDir()
	keepLogs(t, dir)
	wh := filepath.Join(dir, "lake")
	c := startCluster(t)
	c.createTopic(t, inputTopic, partitions)
	crash := writeJob(t, dir, "emoji-crash", inputTopic, wh)
	ref := writeJob(t, dir, "emoji-ref", inputTopic, wh)

	f := startFeeder(t, c.addr, inputTopic, seed, n)
	var kills []killRecord
	var w *worker
	for round := 0; ; round++ {
		// The input of this round becomes available while the worker (re)starts: the kill of
		// round i lands before any input of round i+1 exists, so never after the input ended.
		f.open(n * (round + 1) / (nKills + 1))
		w = startWorker(t, fmt.Sprintf("worker-%02d", round), dir, crash.path, c.addr)
		if round == nKills {
			break
		}
		began := time.Now()
		c0 := progress(t, crash)
		mode := "progress"
		if round%3 == 2 {
			// Once the worker has its partitions: while it restores its tasks (state,
			// transaction and table roll-forward) or catches up. (Not before: see
			// killDuringJoin.)
			mode = "recovery"
			waitLog(t, w, `msg="task assigned"`)
			time.Sleep(jitter(rng, 300*time.Millisecond))
		} else {
			waitProgress(t, crash, c0, w.alive)
			time.Sleep(jitter(rng, time.Second)) // anywhere in the checkpoint cycle
		}
		if err := w.alive(); err != nil {
			t.Fatal(err)
		}
		k := killRecord{round: round, mode: mode, after: time.Since(began), produced: f.produced.Load(),
			ckpt: progress(t, crash), output: sum(c.ends(crash.out))}
		w.kill()
		if !w.killedBySIGKILL() {
			t.Fatalf("worker %s ended on its own before the kill (%v); its log ends:\n%s", w.name, w.err, w.tail(40))
		}
		kills = append(kills, k)
		t.Log(k)
	}
	f.wait(t)
	waitCaughtUp(t, crash, int64(n), w.alive)
	w.terminate(t)
	t.Logf("%d events produced, %d kills, the last worker caught up and stopped: %.1fs", n, len(kills), time.Since(start).Seconds())

	for _, k := range kills {
		if k.produced >= int64(n) {
			t.Errorf("%v: the input was complete already; the kill was not mid-stream", k)
		}
	}
	if len(kills) != nKills {
		t.Fatalf("%d kills, want %d", len(kills), nKills)
	}
	if last := kills[len(kills)-1]; last.output == 0 {
		t.Fatalf("%v: no committed output existed at the last kill", last)
	}

	took := drain(t, c.addr, crash, dir)
	t.Logf("crashed job drained in-process in %.1fs", took.Seconds())
	took = drain(t, c.addr, ref, dir)
	t.Logf("reference job ran uninterrupted in-process in %.1fs", took.Seconds())
	compareRuns(t, c, crash, ref, seed, n)
	t.Logf("total %.1fs", time.Since(start).Seconds())
}

// TestCrashTwoWorkers: two workers share the job's partitions; one is killed with SIGKILL
// mid-run and its partitions move to the survivor, which restores them from the dead worker's
// checkpoints; later the killed worker is restarted and takes partitions back through a clean
// (cooperative) handover. The output still equals an uninterrupted run's.
func TestCrashTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("crash harness: builds the CLI and runs 300k events")
	}
	n := envInt(t, "GLINT_CRASH_EVENTS", 1_000_000) * 3 / 10
	const seed = 20261123
	rng := rand.New(rand.NewPCG(seed, 2))
	start := time.Now()

	dir := t.TempDir()
	keepLogs(t, dir)
	wh := filepath.Join(dir, "lake")
	c := startCluster(t)
	c.createTopic(t, inputTopic, partitions)
	crash := writeJob(t, dir, "emoji-pair", inputTopic, wh)
	ref := writeJob(t, dir, "emoji-pair-ref", inputTopic, wh)

	f := startFeeder(t, c.addr, inputTopic, seed, n)
	f.open(n / 3)
	a := startWorker(t, "worker-a", dir, crash.path, c.addr)
	b := startWorker(t, "worker-b", dir, crash.path, c.addr)
	both := func() error {
		if err := a.alive(); err != nil {
			return err
		}
		return b.alive()
	}
	before := c.waitAssigned(t, crash.name, inputTopic, 2, partitions, both)
	began := time.Now()
	waitProgress(t, crash, progress(t, crash), both)
	time.Sleep(jitter(rng, time.Second))
	if err := both(); err != nil {
		t.Fatal(err)
	}
	atKill := checkpointed(t, crash)
	k := killRecord{mode: "worker-b", after: time.Since(began), produced: f.produced.Load(), ckpt: sum(atKill), output: sum(c.ends(crash.out))}
	b.kill()
	if !b.killedBySIGKILL() {
		t.Fatalf("worker b ended on its own before the kill (%v); its log ends:\n%s", b.err, b.tail(40))
	}
	t.Log(k)
	if len(b.grepLog(`msg="task assigned"`)) == 0 {
		t.Fatalf("worker b ran no task before it was killed; its log ends:\n%s", b.tail(40))
	}
	f.open(2 * n / 3)

	// Its partitions move to a, which goes on from b's checkpoints.
	after := c.waitAssigned(t, crash.name, inputTopic, 1, partitions, a.alive)
	var bParts []int32
	for id, ps := range before {
		if _, ok := after[id]; !ok {
			bParts = ps
		}
	}
	if len(bParts) == 0 || len(before) != 2 {
		t.Fatalf("cannot tell the killed worker's partitions: before the kill %v, after %v", before, after)
	}
	t.Logf("worker b owned partitions %v; now a owns them all", bParts)
	waitPartitionsProgress(t, c, crash, bParts, atKill, a.alive)
	for _, p := range bParts {
		if len(a.grepLog(fmt.Sprintf(`msg="task restored from checkpoint" task=%d `, p))) == 0 {
			t.Fatalf("worker a did not restore task %d from worker b's checkpoint; its log ends:\n%s", p, a.tail(40))
		}
	}

	// b comes back: some partitions move back through a clean revoke (final barrier, commit).
	b = startWorker(t, "worker-b2", dir, crash.path, c.addr)
	both = func() error {
		if err := a.alive(); err != nil {
			return err
		}
		return b.alive()
	}
	c.waitAssigned(t, crash.name, inputTopic, 2, partitions, both)
	waitLog(t, a, `msg="task revoked"`)
	waitLog(t, b, `msg="task restored from checkpoint"`)
	f.wait(t)
	waitCaughtUp(t, crash, int64(n), both)
	a.terminate(t)
	b.terminate(t)
	if k.produced >= int64(n) || k.output == 0 {
		t.Errorf("%v: the kill must land mid-stream, after output existed", k)
	}
	t.Logf("%d events produced, the workers caught up and stopped: %.1fs", n, time.Since(start).Seconds())

	took := drain(t, c.addr, crash, dir)
	t.Logf("crashed job drained in-process in %.1fs", took.Seconds())
	took = drain(t, c.addr, ref, dir)
	t.Logf("reference job ran uninterrupted in-process in %.1fs", took.Seconds())
	compareRuns(t, c, crash, ref, seed, n)
	t.Logf("total %.1fs", time.Since(start).Seconds())
}

// checkpointed returns the newest complete checkpoint's input offset of each task of j,
// retrying while storage is being pruned under the reader.
func checkpointed(t *testing.T, j *job) map[int32]int64 {
	t.Helper()
	for range 100 {
		if offs, ok := j.checkpointed(); ok {
			return offs
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("cannot list the checkpoints of %s in %s", j.name, j.ckDir)
	return nil
}

// progress is how many input records the job's complete checkpoints cover.
func progress(t *testing.T, j *job) int64 { return sum(checkpointed(t, j)) }

// waitLog waits until the worker's log has a line containing s.
func waitLog(t *testing.T, w *worker, s string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for len(w.grepLog(s)) == 0 {
		if err := w.alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s did not log %s within 2 minutes; its log ends:\n%s", w.name, s, w.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitProgress waits until the job's checkpoints cover more input than from: the worker is
// up, restored, processing and checkpointing. (The group's committed offsets are no measure:
// a worker commits them only when a poll returns records.)
func waitProgress(t *testing.T, j *job, from int64, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for progress(t, j) <= from {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: checkpoints did not cover more than %d input records within 2 minutes", j.name, from)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCaughtUp waits until the job's checkpoints cover all n input records.
func waitCaughtUp(t *testing.T, j *job, n int64, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got := progress(t, j)
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%s: checkpoints cover %d input offsets, more than the %d records", j.name, got, n)
		}
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: checkpoints cover %d of %d records after 5 minutes", j.name, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPartitionsProgress waits until the checkpoint of each of parts that has input beyond its
// offset in from covers more of it.
func waitPartitionsProgress(t *testing.T, c *cluster, j *job, parts []int32, from map[int32]int64, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ends, now := c.ends(inputTopic), checkpointed(t, j)
		var behind []int32
		for _, p := range parts {
			if ends[p] > from[p] && now[p] <= from[p] {
				behind = append(behind, p)
			}
		}
		if len(behind) == 0 {
			return
		}
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions %v of the killed worker made no progress in 2 minutes (checkpointed %v at the kill, %v now)", behind, from, now)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// compareRuns checks that the crashed job's read_committed output, dead letters and table
// equal the reference's, and that the reference itself is non-trivial and accounts for every
// input record.
func compareRuns(t *testing.T, c *cluster, crash, ref *job, seed uint64, n int) {
	t.Helper()
	for _, topic := range []string{crash.out, crash.dlq, ref.out, ref.dlq} {
		if open := c.openTransactions(t, topic); len(open) > 0 {
			t.Errorf("transactions left open after the drain: %v", open)
		}
	}
	outC, outR := c.consumeAll(t, crash.out), c.consumeAll(t, ref.out)
	dlqC, dlqR := c.consumeAll(t, crash.dlq), c.consumeAll(t, ref.dlq)
	tabC, tabR := tableSet(t, crash.warehouse, crash.table), tableSet(t, ref.warehouse, ref.table)

	// The reference on its own: a real workload, every record accounted for.
	classes := dlqClasses(dlqR)
	late, bad := classes[kafka.ClassLate], classes[kafka.ClassDecode]
	if wantBad := countBad(seed, n); bad != wantBad {
		t.Errorf("reference: %d decode dead letters, want the %d malformed records generated", bad, wantBad)
	}
	if late == 0 || len(classes) != 2 {
		t.Errorf("reference: dead letters by class %v: want late and decode only, some of each", classes)
	}
	rows, revised := outputStats(t, "reference", outR, late, bad, n)
	if rows < 10_000 || revised == 0 {
		t.Fatalf("reference: %d rows of which %d revisions: too small a workload to show anything", rows, revised)
	}
	t.Logf("reference: %d result rows (%d revisions), %d late and %d malformed records dead-lettered, %d table rows",
		rows, revised, late, bad, tabR.size())
	if d := diff(tabR, values(outR), "table", "Kafka output"); d != "" {
		t.Errorf("reference: the table differs from the Kafka output: %s", d)
	}

	// The crashed job equals it.
	// On a difference, say which transactions the excess rows came from and, through the
	// dead letters' input offsets, which input each transaction covered.
	wantOut, wantDLQ := outputSet(outR), dlqSet(dlqR)
	if d := diff(outputSet(outC), wantOut, "crashed run", "reference"); d != "" {
		t.Errorf("read_committed Kafka output of the crashed job differs from the reference: %s%s", d, provenance(outC, wantOut, outputKey))
	}
	if d := diff(dlqSet(dlqC), wantDLQ, "crashed run", "reference"); d != "" {
		t.Errorf("dead letters of the crashed job differ from the reference: %s%s", d, provenance(dlqC, wantDLQ, dlqKey))
		for _, p := range excessPartitions(dlqC, wantDLQ, dlqKey) {
			t.Logf("transactions in partition %d of %s (read_uncommitted):%s", p, crash.dlq, c.txnHistory(t, crash.dlq, p))
		}
	}
	if d := diff(tabC, tabR, "crashed run", "reference"); d != "" {
		t.Errorf("table %s of the crashed job differs from the reference table %s: %s", crash.table, ref.table, d)
	}
	if !t.Failed() {
		t.Logf("crashed job: %d result rows, %d dead letters, %d table rows: equal to the reference", len(outC), len(dlqC), tabC.size())
	}
}
