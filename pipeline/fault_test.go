package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glintstream/glint/checkpoint"
)

// faultJob is the emoji job with exactly-once Kafka output, an Iceberg table and fast
// checkpoints: every protocol step happens many times per second.
func faultJob(t *testing.T, name string) (*Job, string) {
	t.Helper()
	dir, wh := t.TempDir(), t.TempDir()
	src := strings.Replace(emojiJob, "name: e2e", "name: "+name, 1) + fmt.Sprintf(`  - type: lakehouse
    lakehouse: {table: emoji_counts, warehouse: %s, partition_by: [match_id]}
checkpoint: {interval: 100ms, storage: %s, mode: exactly_once}
`, wh, dir)
	job, err := Parse(name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return job, wh
}

// checkExact compares the read_committed Kafka output and the table with the reference of an
// uninterrupted run: every row once, none twice.
func checkExact(t *testing.T, addr, wh string, evs []event, parts []int32) {
	t.Helper()
	want, _, _ := reference(evs, parts, 2000, 5000, 2000)
	if dups := checkKafkaRows(t, addr, want); dups != 0 {
		t.Errorf("Kafka: %d rows seen twice by a read_committed reader", dups)
	}
	rows := tableRows(t, wh, "emoji_counts")
	sortRows(rows)
	sortRows(want)
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("table: %d rows, want %d, each exactly once", len(rows), len(want))
	}
}

// checkKafkaRows checks that the counts topic holds exactly the rows of want (repeats must be
// identical) and returns how many rows were seen more than once.
func checkKafkaRows(t *testing.T, addr string, want []outRow) int {
	t.Helper()
	got, dups := distinctRows(t, addr)
	if len(got) != len(want) {
		t.Errorf("Kafka: %d distinct rows, want %d", len(got), len(want))
	}
	for _, w := range want {
		k := [4]string{w.WindowStart, w.Match, w.Emoji, string(rune('0' + w.Revision))}
		if got[k] != w {
			t.Fatalf("Kafka: row %v: got %v", w, got[k])
		}
	}
	return dups
}

// drainRun runs the job in its group to the end of its input and fires every window.
func drainRun(t *testing.T, addr string, job *Job, env *Env, opts RunOptions) {
	t.Helper()
	drain := make(chan struct{})
	close(drain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts.Brokers, opts.MetricsListen, opts.Drain = []string{addr}, "off", drain
	if err := Run(ctx, env, job, opts); err != nil {
		t.Fatalf("drain run: %v", err)
	}
}

// TestCrashAtEachProtocolStep: a task dies at each step of the checkpoint protocol (after the
// barrier, after staging the table's files, after a failed or torn state/manifest write,
// after the manifest, after the Kafka commit, after the table commit); the job is restarted
// and drained. The read_committed Kafka output and the table equal an uninterrupted run's.
func TestCrashAtEachProtocolStep(t *testing.T) {
	cases := []struct {
		step  string
		fault *checkpoint.Fault // a storage fault that makes the step happen
		// afterFailure: the crash comes at step of the first checkpoint after the faulted
		// one, of the same task (whose manifest must cover the failed one's rows too).
		afterFailure bool
	}{
		{step: stepBarrier},
		{step: stepStaged},
		{step: stepSaveFailed, fault: &checkpoint.Fault{Target: checkpoint.TargetState, Nth: 9, Mode: checkpoint.FaultFail}},
		{step: stepSaveFailed, fault: &checkpoint.Fault{Target: checkpoint.TargetManifest, Nth: 9, Mode: checkpoint.FaultFail}},
		{step: stepSaveFailed, fault: &checkpoint.Fault{Target: checkpoint.TargetManifest, Nth: 9, Mode: checkpoint.FaultTear, Bytes: -1}},
		{step: stepManifest},
		{step: stepKafkaCommit},
		{step: stepLakeCommit},
		{step: stepManifest, fault: &checkpoint.Fault{Target: checkpoint.TargetManifest, Nth: 1, Mode: checkpoint.FaultFail}, afterFailure: true},
	}
	for _, c := range cases {
		name := c.step
		if c.afterFailure {
			name += "-after-a-failed-checkpoint"
		}
		if c.fault != nil {
			name += "/" + c.fault.Target.String()
			if c.fault.Mode == checkpoint.FaultTear {
				name += "-torn"
			}
		}
		t.Run(name, func(t *testing.T) {
			addr := testBroker(t)
			createTopic(t, addr, "reactions", 4)
			evs := genEvents(uint64(len(name)), 20_000)
			half := len(evs) / 2
			parts := produce(t, addr, "reactions", evs[:half])
			job, wh := faultJob(t, "crash")
			env := testEnv(t)

			var crashed, failed atomic.Int32
			crashed.Store(-1)
			failed.Store(-1)
			opts := RunOptions{Brokers: []string{addr}, MetricsListen: "off"}
			opts.fault = func(step string, task int32, id uint64) error {
				if c.afterFailure {
					if step == stepSaveFailed {
						failed.CompareAndSwap(-1, task)
					} else if step == c.step && task == failed.Load() && crashed.CompareAndSwap(-1, task) {
						return errInjectedCrash
					}
					return nil
				}
				// Task 1 dies at its 3rd checkpoint (or at the injected storage fault).
				if step == c.step && (c.fault != nil || task == 1 && id == 3) && crashed.CompareAndSwap(-1, task) {
					return errInjectedCrash
				}
				return nil
			}
			if c.fault != nil {
				f := checkpoint.NewFaults()
				f.Add(*c.fault)
				opts.storeOpts = []checkpoint.Option{checkpoint.WithFaults(f)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, env, job, opts) }()
			// The rest of the input arrives while the job runs, so the crash comes mid-stream.
			for i, n := half, (len(evs)-half)/10; i < len(evs); i += n {
				parts = append(parts, produce(t, addr, "reactions", evs[i:min(i+n, len(evs))])...)
				time.Sleep(30 * time.Millisecond)
			}
			if err := <-done; !errors.Is(err, errInjectedCrash) {
				t.Fatalf("want the injected crash at %s, got %v", c.step, err)
			}
			t.Logf("task %d crashed at %s; %d output rows were committed before", crashed.Load(), c.step, len(consumeAll(t, addr, "counts")))

			drainRun(t, addr, job, env, RunOptions{})
			checkExact(t, addr, wh, evs, parts)
		})
	}
}

// TestCheckpointStorageFaults: checkpoint writes fail (an error, a torn manifest) while the job
// runs; those checkpoints fail cleanly, the job goes on, later checkpoints cover the rows of
// the failed ones, and the output stays exact.
func TestCheckpointStorageFaults(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 4)
	evs := genEvents(44, 20_000)
	half := len(evs) / 2
	parts := produce(t, addr, "reactions", evs[:half])
	job, wh := faultJob(t, "faults")
	env := testEnv(t)

	f := checkpoint.NewFaults()
	f.Add(checkpoint.Fault{Target: checkpoint.TargetState, Nth: 3, Mode: checkpoint.FaultFail})
	f.Add(checkpoint.Fault{Target: checkpoint.TargetManifest, Nth: 6, Mode: checkpoint.FaultFail, Bytes: 10})
	f.Add(checkpoint.Fault{Target: checkpoint.TargetManifest, Nth: 9, Mode: checkpoint.FaultTear, Bytes: -1})
	m := NewMetrics("faults")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, job, RunOptions{Brokers: []string{addr}, MetricsListen: "off", Metrics: m,
			storeOpts: []checkpoint.Option{checkpoint.WithFaults(f)}})
	}()
	waitSettled(t, addr, "counts")
	stop()
	if err := <-done; err != nil {
		t.Fatalf("the job must go on through storage faults: %v", err)
	}
	tot := m.Totals()
	if tot["checkpoint_failures_total"] != 3 {
		t.Fatalf("want exactly the 3 injected checkpoint failures, metrics say %v", tot["checkpoint_failures_total"])
	}
	if tot["checkpoints_total"] < 8 {
		t.Fatalf("want checkpoints to go on after the failures, metrics say %v", tot["checkpoints_total"])
	}
	t.Logf("%v checkpoints, %v failed", tot["checkpoints_total"], tot["checkpoint_failures_total"])
	for _, k := range []string{"checkpoint_duration_seconds", "checkpoint_pause_seconds", "checkpoint_alignment_seconds", "checkpoint_state_bytes"} {
		if tot[k] <= 0 {
			t.Errorf("metric glint_%s not reported (%v)", k, tot[k])
		}
	}

	parts = append(parts, produce(t, addr, "reactions", evs[half:])...)
	drainRun(t, addr, job, env, RunOptions{})
	checkExact(t, addr, wh, evs, parts)
}

// TestRunFromCheckpoint: a job's checkpoints are copied aside; the job then runs with empty
// storage of its own and --from-checkpoint pointing at the copy: each task restores from it,
// and the output is that of an uninterrupted run. Storage without the job's checkpoints is
// refused with an error that names it.
func TestRunFromCheckpoint(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 4)
	evs := genEvents(55, 20_000)
	half := len(evs) / 2
	parts := produce(t, addr, "reactions", evs[:half])
	job, wh := faultJob(t, "from")
	env := testEnv(t)
	runUntilSettled(t, addr, job, env)

	saved := t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(job.Checkpoint.Storage)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(job.Checkpoint.Storage); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	err := Run(context.Background(), env, job, RunOptions{Brokers: []string{addr}, MetricsListen: "off", FromCheckpoint: empty})
	if err == nil || !strings.Contains(err.Error(), "holds no complete checkpoint of job \"from\"") {
		t.Fatalf("want an error naming the empty storage, got %v", err)
	}

	parts = append(parts, produce(t, addr, "reactions", evs[half:])...)
	drainRun(t, addr, job, env, RunOptions{FromCheckpoint: saved})
	checkExact(t, addr, wh, evs, parts)
}
