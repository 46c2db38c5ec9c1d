package emoji

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestDemoBoundedRunEqualsGeneratorCount: a bounded run of the whole demo (embedded broker,
// generator, both jobs, dashboard) whose Kafka output equals the generator's independent count,
// with the malformed records in the DLQ.
func TestDemoBoundedRunEqualsGeneratorCount(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Rate: 20_000, Seed: 42, Duration: 6 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: &out,
	})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Produced < 50_000 || rep.WantBad == 0 || rep.Revisions == 0 {
		t.Fatalf("report: %+v", rep)
	}
}
