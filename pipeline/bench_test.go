package pipeline

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/format"
	"github.com/glintstream/glint/row"
)

// benchEvents is the size of the pre-filled topic (GLINT_BENCH_EVENTS overrides).
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("GLINT_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 2_000_000
}

// fillEmojiTopic produces n ~100-byte emoji events over 8 partitions, keyed by match.
func fillEmojiTopic(b *testing.B, addr string, n int) {
	createTopic(b, addr, "reactions", 8)
	cl, err := kafka.NewClient([]string{addr}, kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(10*time.Millisecond), kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	emojis := []string{"🔥", "😂", "😢", "😡", "👏", "🎉", "🏏", "😮", "❤️", "🙏", "💯", "😱"}
	base := int64(1_763_800_000_000)
	ctx := context.Background()
	for i := range n {
		m := "m" + strconv.Itoa(i%8)
		ts := base + int64(i/100) - int64(i%7)*50 // 100 k events per second of event time, disordered
		v := fmt.Sprintf(`{"event_id":"e%09d","match_id":"%s","emoji":"%s","user_id":"u%07d","ts":%d}`, i, m, emojis[(i*7)%len(emojis)], i%9999991, ts)
		cl.Produce(ctx, &kgo.Record{Topic: "reactions", Key: []byte(m), Value: []byte(v)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// rawConsumeDecode is the ceiling: franz-go reading every partition directly and the same JSON
// decoder filling a row, nothing else.
func rawConsumeDecode(b *testing.B, addr string, n int) time.Duration {
	fields := []format.Field{{Name: "event_id", Type: row.TypeString}, {Name: "match_id", Type: row.TypeString},
		{Name: "emoji", Type: row.TypeString}, {Name: "user_id", Type: row.TypeString}, {Name: "ts", Type: row.TypeTimestamp}}
	dec, err := format.NewRegistry().New("json", fields)
	if err != nil {
		b.Fatal(err)
	}
	r := make(row.Row, len(fields))
	start := time.Now()
	cl, err := kafka.NewClient([]string{addr}, kgo.ConsumeTopics("reactions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollRecords(context.Background(), 50_000)
		fs.EachRecord(func(rec *kgo.Record) {
			if dec.Decode(rec.Value, r) == nil {
				got++
			}
		})
	}
	return time.Since(start)
}

// benchJob is the test job (emojiJob) without allowed lateness, with a name and an output topic
// to fill in.
var benchJob = strings.NewReplacer("name: e2e", "name: %s", "topic: counts", "topic: %s",
	", allowed_lateness: 5s", "").Replace(emojiJob)

// BenchmarkEmojiJob: the emoji job (2 s tumbling count per (match, emoji), 8 partitions) over
// a pre-filled topic on the embedded broker with DataDir, against raw franz-go consume+decode
// of the same topic in the same run. Reports both rates and engine/raw.
func BenchmarkEmojiJob(b *testing.B) {
	n := benchEvents()
	addr := testBroker(b)
	fillEmojiTopic(b, addr, n)
	env := testEnv(b)
	var raw, eng time.Duration
	var ms runtime.MemStats
	var peak uint64
	b.ResetTimer()
	for i := range b.N {
		raw += rawConsumeDecode(b, addr, n)
		name := fmt.Sprintf("bench%d", i)
		job, err := Parse("bench.yaml", []byte(fmt.Sprintf(benchJob, name, name+"-out")))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := Run(context.Background(), env, job, RunOptions{Brokers: []string{addr}, UntilEnd: true, MetricsListen: "off"}); err != nil {
			b.Fatal(err)
		}
		eng += time.Since(start)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	rawRate := float64(n*b.N) / raw.Seconds()
	engRate := float64(n*b.N) / eng.Seconds()
	b.ReportMetric(rawRate, "raw-rec/s")
	b.ReportMetric(engRate, "engine-rec/s")
	b.ReportMetric(engRate/rawRate, "engine/raw")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCheckpointOverhead: the emoji job in the consumer group, drained at the end of a
// pre-filled topic, with 1 s checkpoints against none (GLINT_BENCH_CKPT_BASE=1h: against the
// same mode with only the final checkpoint), in the same run. Reports both rates and
// with/without.
func BenchmarkCheckpointOverhead(b *testing.B) {
	n := benchEvents()
	addr := testBroker(b)
	fillEmojiTopic(b, addr, n)
	env := testEnv(b)
	dir := b.TempDir()
	var plain, ck time.Duration
	var checkpoints float64
	run := func(name, extra string) time.Duration {
		job, err := Parse("bench.yaml", []byte(fmt.Sprintf(benchJob, name, name+"-out")+extra))
		if err != nil {
			b.Fatal(err)
		}
		drain := make(chan struct{})
		close(drain)
		m := NewMetrics(name)
		start := time.Now()
		if err := Run(context.Background(), env, job, RunOptions{Brokers: []string{addr}, MetricsListen: "off", Drain: drain, Metrics: m}); err != nil {
			b.Fatal(err)
		}
		checkpoints += m.Totals()["checkpoints_total"]
		return time.Since(start)
	}
	mode := os.Getenv("GLINT_BENCH_CKPT_MODE") // exactly_once (default) or at_least_once
	if mode == "" {
		mode = "exactly_once"
	}
	interval := os.Getenv("GLINT_BENCH_CKPT_INTERVAL") // 1s by default
	if interval == "" {
		interval = "1s"
	}
	b.ResetTimer()
	for i := range b.N { // alternate which goes first: the first run of a pair warms the broker
		ckJob := fmt.Sprintf("checkpoint: {interval: %s, storage: %s, mode: %s}\n", interval, dir, mode)
		baseJob := "" // no checkpoints
		if base := os.Getenv("GLINT_BENCH_CKPT_BASE"); base != "" {
			// e.g. 1h: the same mode with only the final checkpoint, isolating the cost of
			// the periodic ones from that of the mode (transactions)
			baseJob = fmt.Sprintf("checkpoint: {interval: %s, storage: %s, mode: %s}\n", base, dir, mode)
		}
		if i%2 == 0 {
			plain += run(fmt.Sprintf("plain%d", i), baseJob)
			ck += run(fmt.Sprintf("ck%d", i), ckJob)
		} else {
			ck += run(fmt.Sprintf("ck%d", i), ckJob)
			plain += run(fmt.Sprintf("plain%d", i), baseJob)
		}
	}
	pr, cr := float64(n*b.N)/plain.Seconds(), float64(n*b.N)/ck.Seconds()
	b.ReportMetric(pr, "plain-rec/s")
	b.ReportMetric(cr, "ckpt-rec/s")
	b.ReportMetric(cr/pr, "ckpt/plain")
	b.ReportMetric(checkpoints/float64(b.N), "checkpoints/run")
	b.ReportMetric(0, "ns/op")
}
