package gen

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGenerator measures Append alone on one goroutine (the demo's target is well above
// 200 k events/s on one core).
func BenchmarkGenerator(b *testing.B) {
	g, _ := New(DefaultConfig(1))
	buf := make([]byte, 0, 256)
	now := t0
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := range b.N {
		// 1 M events/s of simulated time.
		buf, _ = g.Append(buf[:0], now.Add(time.Duration(i)*time.Microsecond))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProducerKfake runs the Producer flat out (a step clock, an unreachable rate) into a
// one-broker kfake over TCP with a data directory.
func BenchmarkProducerKfake(b *testing.B) {
	brokers := newCluster(b, 8, "reactions")
	g, _ := New(DefaultConfig(1))
	p, err := NewProducer(g, WithBrokers(brokers...), WithRate(1e9), WithMaxEvents(int64(b.N)),
		WithClock(NewStepClock(t0, time.Millisecond)))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := p.Stats(); st.Produced != int64(b.N) {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkKafkaCeiling is the ceiling for BenchmarkProducerKfake: the same kfake setup and the
// same records (generated before the timer starts), produced with franz-go directly in batches
// of 20 000 with 4 in flight.
func BenchmarkKafkaCeiling(b *testing.B) {
	brokers := newCluster(b, 8, "reactions")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("reactions"),
		kgo.MaxBufferedRecords(4*20_000+1))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	g, _ := New(DefaultConfig(1))
	recs := make([]kgo.Record, b.N)
	var buf []byte
	for i := range recs {
		var m Meta
		buf, m = g.Append(buf[:0], t0.Add(time.Duration(i)*time.Microsecond))
		recs[i] = kgo.Record{Key: []byte(g.MatchID(m.Match)), Value: append([]byte(nil), buf...), Timestamp: time.UnixMilli(m.Arrival)}
	}
	sem := make(chan struct{}, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for lo := 0; lo < len(recs); lo += 20_000 {
		hi := min(lo+20_000, len(recs))
		sem <- struct{}{}
		left := hi - lo
		var done func(*kgo.Record, error)
		done = func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			if left--; left == 0 {
				<-sem
			}
		}
		for i := lo; i < hi; i++ {
			cl.Produce(context.Background(), &recs[i], done)
		}
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
