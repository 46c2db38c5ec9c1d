package emoji

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDemo runs the whole demo in this process (embedded broker, generator at 200 k
// reactions/s, both jobs, the dashboard) for 20 s, after measuring its ceilings on the same
// broker with 2 M reactions: the Producer alone, flat out, then both jobs alone over them. Each
// iteration is one full run (about 40 s); run it with -benchtime=1x and -count for medians:
//
//	go test -run XXX -bench Demo -benchtime 1x -count 3 ./examples/emoji/
//
// GLINT_DEMO_RATE, GLINT_DEMO_DURATION (a Go duration) and GLINT_DEMO_CEILING (reactions; 0
// skips the ceilings, for a clean -cpuprofile of the demo alone) change the defaults.
// Metrics: produced/s and processed/s with their ratio to the ceilings, the records not yet
// read by emoji-counts when generation stopped and how long it took to read them, the latency
// after the watermark and the delivery latency (p50, p99), the cores the process used and the
// machine's load. A run whose emoji-counts output is wrong fails; emoji-mood is only logged.
func BenchmarkDemo(b *testing.B) {
	rate, dur, ceiling := 200_000.0, 20*time.Second, int64(2_000_000)
	if v, err := strconv.ParseFloat(os.Getenv("GLINT_DEMO_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	if v, err := time.ParseDuration(os.Getenv("GLINT_DEMO_DURATION")); err == nil && v > 0 {
		dur = v
	}
	if v, err := strconv.ParseInt(os.Getenv("GLINT_DEMO_CEILING"), 10, 64); err == nil && v >= 0 {
		ceiling = v
	}
	var s *Speed
	for range b.N {
		rep, err := Run(context.Background(), Options{
			DataDir: b.TempDir(), Addr: "127.0.0.1:0", Rate: rate, Seed: 1, Duration: dur, Ceiling: ceiling,
			// The summary goes to stdout as it comes: a benchmark's log is cut at a few lines.
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: os.Stdout,
		})
		if err != nil && !errors.Is(err, ErrMismatch) {
			b.Fatal(err)
		}
		if !rep.CountsOK() {
			b.Fatalf("emoji-counts output is wrong: %s", rep.Problems())
		}
		if !rep.MoodOK() {
			b.Logf("emoji-mood output is wrong: %s", rep.Problems())
		}
		s = rep.Speed
	}
	l := s.Latency
	for _, m := range []struct {
		v    float64
		unit string
	}{
		{s.Produced, "produced/s"},
		{s.Produced / s.Target, "produced/target"},
		{ratio(s.Produced, s.CeilingProduce), "produced/ceiling"},
		{s.CeilingProduce, "ceiling-produce/s"},
		{s.Processed, "processed/s"},
		{ratio(s.Processed, s.CeilingProcess), "processed/ceiling"},
		{s.CeilingProcess, "ceiling-process/s"},
		{s.MoodRead, "mood-processed/s"},
		{float64(s.LagRecords), "lag-records"},
		{float64(s.MoodLagRecords), "mood-lag-records"},
		{float64(s.CatchUp.Milliseconds()), "catchup-ms"},
		{l.AfterWatermark.P50, "after-wm-p50-ms"},
		{l.AfterWatermark.P99, "after-wm-p99-ms"},
		{l.Delivery.P50, "delivery-p50-ms"},
		{l.Delivery.P99, "delivery-p99-ms"},
		{float64(l.Samples), "latency-samples"},
		{s.CPU, "cores"},
		{s.Load, "load"},
	} {
		b.ReportMetric(m.v, m.unit)
	}
}

func ratio(x, ceiling float64) float64 {
	if ceiling <= 0 {
		return 0
	}
	return x / ceiling
}
