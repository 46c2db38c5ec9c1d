package crashtest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glintstream/glint/checkpoint"
	"github.com/glintstream/glint/pipeline"
)

// job is one job definition of the harness: the crashed job and its reference differ only by
// name, and so by group, output and dead-letter topics, checkpoint directory and table.
type job struct {
	name      string // also the consumer group
	path      string // the job file
	out, dlq  string // topics
	table     string
	warehouse string
	ckDir     string
}

// The emoji counts job of examples/emoji, without idle_timeout (wall-clock time, not
// deterministic by design), with a lakehouse sink next to the Kafka sink, exactly-once
// checkpoints every 500 ms and a short session timeout so that a dead worker's partitions move
// within seconds.
const jobTemplate = `# written by internal/crashtest
name: {{name}}
description: Emoji counts under a crash harness.
sources:
  - name: reactions
    topic: {{input}}
    format: json
    fields:
      event_id: string
      match_id: string
      emoji: string
      user_id: string
      ts: timestamp
    event_time:
      field: ts
      encoding: epoch_ms
    watermark:
      max_out_of_orderness: 2s
    start: earliest
    partitioned_by: [match_id]
pipeline:
  - key_by: [match_id, emoji]
  - window:
      type: tumbling
      size: 2s
      allowed_lateness: 10s
  - aggregate:
      n: count()
sinks:
  - type: kafka
    topic: {{out}}
    key: [match_id]
  - type: lakehouse
    lakehouse:
      table: {{table}}
      warehouse: {{warehouse}}
dead_letter:
  topic: {{dlq}}
checkpoint: {interval: 500ms, storage: {{ckdir}}, mode: exactly_once}
group: {session_timeout: 3s, heartbeat_interval: 1s}
metrics: {listen: "off"}
`

// writeJob writes the job file of name (reading topic input) into dir and checks it with
// `glint validate`.
func writeJob(t *testing.T, dir, name, input, warehouse string) *job {
	t.Helper()
	j := &job{
		name: name, path: filepath.Join(dir, name+".yaml"),
		out: name + ".counts", dlq: name + ".dlq",
		table: strings.ReplaceAll(name, "-", "_"), warehouse: warehouse,
		ckDir: filepath.Join(dir, name+"-checkpoints"),
	}
	src := strings.NewReplacer("{{name}}", j.name, "{{input}}", input, "{{out}}", j.out, "{{dlq}}", j.dlq,
		"{{table}}", j.table, "{{warehouse}}", j.warehouse, "{{ckdir}}", j.ckDir).Replace(jobTemplate)
	if err := os.WriteFile(j.path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(glintBin, "validate", j.path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), j.path+": ok") {
		t.Fatalf("glint validate %s: %v\n%s", j.path, err, out)
	}
	return j
}

// checkpointed returns, per task, the input offset of its newest complete checkpoint: how
// far the job's output is durably decided. ok is false when storage could not be listed this
// time (a worker prunes old checkpoints while it is read).
func (j *job) checkpointed() (offsets map[int32]int64, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := os.Stat(j.ckDir); err != nil {
		return map[int32]int64{}, true // no checkpoint yet
	}
	store, err := checkpoint.Open(ctx, j.ckDir)
	if err != nil {
		return nil, false
	}
	defer store.Close()
	infos, err := store.List(ctx, j.name)
	if err != nil {
		return nil, false
	}
	offsets = map[int32]int64{}
	for _, in := range infos {
		if in.Latest && in.Manifest != nil {
			for _, o := range in.Manifest.Inputs {
				offsets[o.Partition] = o.Offset
			}
		}
	}
	return offsets, true
}

// drain runs the job in-process in its group with Drain closed from the start: every task is
// restored from its checkpoint, reads to the end of the input as of now, fires every window,
// commits, and Run returns. It is how a crashed job is finished, and how the reference runs.
func drain(t *testing.T, addr string, j *job, logDir string) time.Duration {
	t.Helper()
	spec, err := pipeline.Load(j.path)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(logDir, j.name+"-drain.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := pipeline.NewEnv()
	env.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	closed := make(chan struct{})
	close(closed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	err = pipeline.Run(ctx, env, spec, pipeline.RunOptions{Brokers: []string{addr}, MetricsListen: "off", Drain: closed})
	if err != nil {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Fatalf("draining %s: %v; its log ends:\n%s", j.name, err, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return time.Since(start)
}
