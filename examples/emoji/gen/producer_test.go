package gen

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newCluster starts a one-broker kfake over TCP on 127.0.0.1, persisting to a temp dir.
func newCluster(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// consumeAll reads n records of topic from the start.
func consumeAll(t testing.TB, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

type generated struct {
	value []byte
	meta  Meta
}

// TestProducerRoundTrip produces through kfake with a simulated clock, reads everything back
// and checks it three ways: per key the exact bytes in generation order; the decoded valid
// events against Expected's counts; and the malformed records against Expected's list.
func TestProducerRoundTrip(t *testing.T) {
	brokers := newCluster(t, 8, "reactions")
	cfg := DefaultConfig(1234)
	cfg.MalformedFraction, cfg.DuplicateFraction = 0.005, 0.01
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exp := NewExpected(g)
	var all []generated
	const n = 60_000
	p, err := NewProducer(g, WithBrokers(brokers...), WithRate(20_000), WithMaxEvents(n),
		WithClock(NewStepClock(t0, time.Millisecond)),
		WithOnEvent(func(m Meta, b []byte) {
			exp.Add(m, b)
			all = append(all, generated{bytes.Clone(b), m})
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Generated != n || st.Produced != n || st.Errors != 0 {
		t.Fatalf("stats %+v, want %d generated and produced, no errors", st, n)
	}
	if st.Duplicates != exp.Totals().Duplicates || st.Malformed != exp.Totals().Malformed {
		t.Fatalf("stats %+v disagree with expected totals %+v", st, exp.Totals())
	}
	// 20 000/s on a 1 ms step clock: 20 records per step, so a batch holds the 10 000
	// records of one 500 ms flush interval; 60 000 records make 6 batches.
	if st.Batches != 6 {
		t.Fatalf("%d batches, want 6 (one per 500 ms flush interval)", st.Batches)
	}

	recs := consumeAll(t, brokers, "reactions", n)

	// Per match, the bytes arrive in generation order, with the match id as key and the
	// arrival time as the Kafka timestamp.
	want := map[string][]generated{}
	for _, e := range all {
		id := g.MatchID(e.meta.Match)
		want[id] = append(want[id], e)
	}
	got := map[string][]*kgo.Record{}
	partOf := map[string]int32{}
	for _, r := range recs {
		k := string(r.Key)
		got[k] = append(got[k], r)
		if p, ok := partOf[k]; ok && p != r.Partition {
			t.Fatalf("match %s on partitions %d and %d", k, p, r.Partition)
		}
		partOf[k] = r.Partition
	}
	for id, ws := range want {
		gs := got[id]
		if len(gs) != len(ws) {
			t.Fatalf("match %s: %d records read, %d generated", id, len(gs), len(ws))
		}
		for i := range ws {
			if !bytes.Equal(gs[i].Value, ws[i].value) || gs[i].Timestamp.UnixMilli() != ws[i].meta.Arrival {
				t.Fatalf("match %s record %d: read %s @%d, generated %s @%d", id, i, gs[i].Value, gs[i].Timestamp.UnixMilli(), ws[i].value, ws[i].meta.Arrival)
			}
		}
	}

	// Decode what Kafka holds, independently of Meta, and compare with Expected.
	counts := map[CountKey]Count{}
	var malformed [][]byte
	seen := map[string]bool{}
	for _, r := range recs {
		ev, ts, err := decodeEvent(r.Value)
		if err != nil {
			malformed = append(malformed, r.Value)
			continue
		}
		k := CountKey{WindowStart: ts - ts%2000, Match: ev.MatchID, Emoji: ev.Emoji}
		c := counts[k]
		c.N++
		if seen[ev.EventID] {
			c.Duplicates++
		}
		seen[ev.EventID] = true
		if r.Timestamp.UnixMilli()-ts > cfg.MaxDelay.Milliseconds() {
			c.Late++
		}
		counts[k] = c
	}
	if wantCounts := exp.Counts(); !maps.Equal(counts, wantCounts) {
		for k, c := range wantCounts {
			if counts[k] != c {
				t.Errorf("%+v: read %+v, expected %+v", k, counts[k], c)
			}
		}
		t.Fatalf("counts read back (%d rows) differ from Expected (%d rows)", len(counts), len(wantCounts))
	}
	wantBad := exp.Malformed()
	sortBytes := func(s [][]byte) { slices.SortFunc(s, bytes.Compare) }
	sortBytes(malformed)
	sortBytes(wantBad)
	if len(malformed) != len(wantBad) || len(malformed) == 0 {
		t.Fatalf("%d malformed records read, %d expected", len(malformed), len(wantBad))
	}
	for i := range malformed {
		if !bytes.Equal(malformed[i], wantBad[i]) {
			t.Fatalf("malformed record %d: read %q, expected %q", i, malformed[i], wantBad[i])
		}
	}
}

// TestProducerDeterministic: the same seed and clock produce the same bytes in each partition.
func TestProducerDeterministic(t *testing.T) {
	const n = 30_000
	read := func() map[int32][]string {
		brokers := newCluster(t, 4, "reactions")
		g, _ := New(DefaultConfig(77))
		p, err := NewProducer(g, WithBrokers(brokers...), WithRate(50_000), WithMaxEvents(n),
			WithClock(NewStepClock(t0, time.Millisecond)), WithBatchSize(7_000))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// 50 records per 1 ms step fill a 7 000-record batch every 140 steps, well before
		// 500 ms: 4 full batches and a last one of 2 000.
		if b := p.Stats().Batches; b != 5 {
			t.Fatalf("%d batches, want 5 (size-triggered)", b)
		}
		out := map[int32][]string{}
		for _, r := range consumeAll(t, brokers, "reactions", n) {
			out[r.Partition] = append(out[r.Partition], string(r.Value)+"@"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		}
		return out
	}
	a, b := read(), read()
	if !maps.EqualFunc(a, b, slices.Equal) {
		t.Fatal("two runs with the same seed and clock wrote different records")
	}
}

// TestProducerWallClock runs live (wall clock) until cancelled and checks that everything
// generated was acknowledged and can be read back.
func TestProducerWallClock(t *testing.T) {
	brokers := newCluster(t, 4, "reactions")
	g, _ := New(DefaultConfig(5))
	p, err := NewProducer(g, WithBrokers(brokers...), WithRate(20_000), WithFlushInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.After(30 * time.Second)
	for p.Stats().Produced < 5_000 {
		select {
		case <-deadline:
			t.Fatalf("stats after 30 s: %+v", p.Stats())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Produced != st.Generated || st.Errors != 0 || st.Batches == 0 {
		t.Fatalf("stats %+v: want everything generated acknowledged", st)
	}
	consumeAll(t, brokers, "reactions", int(st.Generated))
}

// TestProducerErrors: records for a topic that does not exist fail and are counted; Run still
// drains and returns.
func TestProducerErrors(t *testing.T) {
	brokers := newCluster(t, 1, "reactions")
	g, _ := New(DefaultConfig(5))
	p, err := NewProducer(g, WithBrokers(brokers...), WithTopic("no-such-topic"), WithMaxEvents(100),
		WithClock(NewStepClock(t0, time.Millisecond)), WithRate(10_000),
		WithClientOpts(kgo.RecordDeliveryTimeout(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Errors != 100 || st.Produced != 0 || st.LastError == nil {
		t.Fatalf("stats %+v, want 100 errors", st)
	}
}

func TestProducerOptions(t *testing.T) {
	g, _ := New(DefaultConfig(1))
	_, err := NewProducer(g, WithTopic(""), WithRate(0), WithClock(nil), WithMaxEvents(-1),
		WithFlushInterval(0), WithBatchSize(0), WithMaxInFlight(0), WithDrainTimeout(0))
	if !errors.Is(err, ErrProducerConfig) {
		t.Fatalf("err = %v, want ErrProducerConfig", err)
	}
	for _, opt := range []string{"WithBrokers", "WithTopic", "WithRate", "WithClock", "WithMaxEvents", "WithFlushInterval", "WithBatchSize", "WithMaxInFlight", "WithDrainTimeout"} {
		if !bytes.Contains([]byte(err.Error()), []byte(opt+":")) {
			t.Errorf("error does not name %s: %v", opt, err)
		}
	}
}
