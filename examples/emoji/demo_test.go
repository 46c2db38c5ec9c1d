package emoji

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestDemoBoundedRunEqualsGeneratorCount: a bounded run of the whole demo (embedded broker,
// generator, both jobs, dashboard) whose Kafka output equals the generator's independent
// count, with the malformed records in the DLQ, and whose speed report is filled in.
func TestDemoBoundedRunEqualsGeneratorCount(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Rate: 20_000, Seed: 42, Duration: 6 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: &out,
	})
	t.Log(out.String())
	if err != nil && !errors.Is(err, ErrMismatch) {
		t.Fatal(err)
	}
	if (err == nil) != rep.OK() {
		t.Fatalf("Run returned %v for a report with OK()=%v", err, rep.OK())
	}
	t.Run("counts", func(t *testing.T) {
		if !rep.CountsOK() || rep.Produced < 50_000 || rep.WantBad == 0 || rep.Revisions == 0 {
			t.Fatalf("emoji-counts: %s; report %+v", rep.Problems(), rep)
		}
	})
	t.Run("mood", func(t *testing.T) {
		if !rep.MoodOK() {
			t.Fatalf("%s\nfirst mismatches: %q", rep.Problems(), rep.MoodMismatches[:min(3, len(rep.MoodMismatches))])
		}
	})
	t.Run("speed", func(t *testing.T) {
		s := rep.Speed
		// Sanity, not timing: the figures exist and are consistent with one another. (A job
		// slowed down enough, under -race say, may read nothing within the span: then it
		// reads it all in the catch-up, and the windows fire then.)
		if s == nil {
			t.Fatal("no speed report")
		}
		read := s.Processed * s.Span.Seconds()
		if s.Span <= 0 || s.Span > 6*time.Second || s.Produced <= 0 || s.Target != 20_000 ||
			read < 0 || read > float64(rep.Produced) || s.LagRecords < 0 || s.LagRecords > rep.Produced || s.CatchUp >= time.Minute ||
			s.Latency.Samples == 0 || s.Latency.MaxOutOfOrdernessMs != 2000 ||
			s.Latency.AfterWatermark.P50 != s.Latency.Arrival.P50-2000 || s.Latency.Delivery.P50 < 0 || s.CeilingRecords != 0 {
			t.Fatalf("speed %+v", s)
		}
	})
}
