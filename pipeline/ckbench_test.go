package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/checkpoint"
)

// bigStateTask builds a task of the emoji job keyed by (match, user) whose one open window
// holds n keys, with checkpoints to dir.
func bigStateTask(b *testing.B, n int, dir string) (*task, func() *task) {
	b.Helper()
	src := strings.Replace(emojiJob, "key_by: [match_id, emoji]", "key_by: [match_id, user_id]", 1)
	src = strings.Replace(src, "{type: tumbling, size: 2s, allowed_lateness: 5s}", "{type: tumbling, size: 1h}", 1)
	src = strings.Replace(src, "type: kafka\n    topic: counts\n    key: [match_id]", "type: stdout", 1)
	job, err := Parse("big.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv(b)
	plan, err := Compile(job, env)
	if err != nil {
		b.Fatal(err)
	}
	store, err := checkpoint.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m := NewMetrics("big")
	ck := &checkpointer{store: store, job: "big", interval: time.Hour, keep: 2, topics: []string{"reactions"},
		flush: func(context.Context) error { return nil }, m: m}
	mk := func() *task {
		t, err := newTask(0, plan, env, []RowSink{newStdoutRows(plan.Output, io.Discard)}, nil, m.forTask(0, []string{"stdout"}))
		if err != nil {
			b.Fatal(err)
		}
		t.ck = ck
		return t
	}
	t := mk()
	base := int64(1_763_800_000_000)
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < n; i += cap(recs) {
		recs = recs[:0]
		for j := i; j < min(i+cap(recs), n); j++ {
			v := fmt.Sprintf(`{"event_id":"e%d","match_id":"m%d","emoji":"🔥","user_id":"u%d","ts":%d}`, j, j%6, j, base+int64(j%1000))
			recs = append(recs, &kgo.Record{Value: []byte(v), Offset: int64(j)})
		}
		if err := t.process(context.Background(), &batch{recs: recs}); err != nil {
			b.Fatal(err)
		}
	}
	if k := t.win.Stats().Keys; k != n {
		b.Fatalf("window holds %d keys, want %d", k, n)
	}
	return t, mk
}

// BenchmarkCheckpoint1MKeys: a task whose window holds 1 M keys (GLINT_BENCH_KEYS overrides)
// takes a checkpoint while it keeps running, then a new task recovers from it. Reported:
// pause-ms, the time the task stops processing input (target <= 50 ms); checkpoint-ms, barrier
// to durable manifest (off the task goroutine); restore-ms (target <= 5 s); and, as ceilings
// measured in the same run, the time to read the state blob back (read-ms) and restore/read.
func BenchmarkCheckpoint1MKeys(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GLINT_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	t, mk := bigStateTask(b, n, dir)
	ctx := context.Background()
	var pause, took, restore, read time.Duration
	var size int
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		t.barrier(ctx, false, start)
		pause += time.Since(start)
		if t.ckErr != nil {
			b.Fatal(t.ckErr)
		}
		r := <-t.ckDone
		t.checkpointDone(r)
		if r.err != nil {
			b.Fatal(r.err)
		}
		took += r.took
		size = r.size

		m, err := t.ck.store.Latest(ctx, "big", 0)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		rc, err := t.ck.store.OpenState(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		read += time.Since(start)

		t2 := mk()
		start = time.Now()
		if _, err := t2.restoreLatest(ctx); err != nil {
			b.Fatal(err)
		}
		restore += time.Since(start)
		if k := t2.win.Stats().Keys; k != n {
			b.Fatalf("restored window holds %d keys, want %d", k, n)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(pause), "pause-ms")
	b.ReportMetric(ms(took), "checkpoint-ms")
	b.ReportMetric(ms(restore), "restore-ms")
	b.ReportMetric(ms(read), "read-ms")
	b.ReportMetric(float64(restore)/float64(read), "restore/read")
	b.ReportMetric(float64(size)/(1<<20), "state-MiB")
	b.ReportMetric(0, "ns/op")
}
