package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
)

// Input shape (the job's window: 2 s tumbling, 2 s out-of-orderness, 10 s allowed lateness).
const (
	matches   = 16                // keys; spread over the 8 partitions by the key hash
	eventStep = 3                 // ms of event time per event: ~333 events per second
	baseTime  = 1_763_800_000_000 // event time of the first event, ms
)

var emojis = []string{"🔥", "😂", "😢", "😡", "👏", "🎉", "🏏"}

// generator makes the input deterministically from a seed, one event at a time (nothing is
// kept in memory): reactions keyed by match_id with bounded disorder (up to 1.5 s), ~2%
// revisions (beyond the out-of-orderness, within the allowed lateness), ~1% late records
// (beyond the lateness: dead-lettered as "late") and ~0.6% malformed records (truncated JSON,
// a wrong type, a missing field: dead-lettered as "decode").
type generator struct {
	rng *rand.Rand
	i   int
}

func newGenerator(seed uint64) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// next returns the key and value of the next event and whether it is malformed.
func (g *generator) next() (key, value []byte, bad bool) {
	rng, i := g.rng, g.i
	g.i++
	m := fmt.Sprintf("m%d", rng.IntN(matches))
	clock := int64(baseTime) + int64(i)*eventStep
	ts := clock - rng.Int64N(1500)
	switch rng.IntN(100) {
	case 0:
		ts -= 15_000 + rng.Int64N(5000) // beyond out-of-orderness + lateness: late
	case 1, 2:
		ts -= 2_500 + rng.Int64N(4000) // beyond out-of-orderness, mostly within lateness: a revision
	}
	emoji := emojis[min(rng.IntN(len(emojis)), rng.IntN(len(emojis)))]
	switch rng.IntN(500) {
	case 0:
		value = fmt.Appendf(nil, `{"event_id":"e%d","match_id":"%s","emoji":"🔥","ts":`, i, m)
		bad = true
	case 1:
		value = fmt.Appendf(nil, `{"event_id":"e%d","match_id":"%s","emoji":"🔥","user_id":"u1","ts":"soon"}`, i, m)
		bad = true
	case 2:
		value = fmt.Appendf(nil, `{"event_id":"e%d","match_id":"%s","emoji":"🔥","user_id":"u1"}`, i, m)
		bad = true
	default:
		value = fmt.Appendf(nil, `{"event_id":"e%d","match_id":"%s","emoji":"%s","user_id":"u%d","ts":%d}`, i, m, emoji, rng.IntN(1e6), ts)
	}
	return []byte(m), value, bad
}

// countBad is how many of the first n events of seed are malformed.
func countBad(seed uint64, n int) int {
	g, bad := newGenerator(seed), 0
	for range n {
		if _, _, b := g.next(); b {
			bad++
		}
	}
	return bad
}

// feeder writes the n events of a seed to the input topic in the background, at a steady pace,
// but never beyond the gate: the harness opens the gate round by round, so a kill of round i
// provably lands before the input of round i+1 exists.
type feeder struct {
	n        int
	produced atomic.Int64
	gate     atomic.Int64
	done     chan struct{}
	err      error // set before done closes
	stop     context.CancelFunc
}

const (
	feedBatch = 1000                  // records per produce call
	feedPace  = 50 * time.Millisecond // between batches: ~20 k records/s
)

func startFeeder(t *testing.T, addr, topic string, seed uint64, n int) *feeder {
	t.Helper()
	cl, err := kafka.NewClient([]string{addr}, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feeder{n: n, done: make(chan struct{}), stop: cancel}
	t.Cleanup(func() { cancel(); <-f.done; cl.Close() })
	go func() {
		defer close(f.done)
		g := newGenerator(seed)
		tick := time.NewTicker(feedPace)
		defer tick.Stop()
		recs := make([]*kgo.Record, 0, feedBatch)
		for i := 0; i < n; {
			for int64(i) >= f.gate.Load() {
				select {
				case <-ctx.Done():
					f.err = ctx.Err()
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			end := min(i+feedBatch, n, int(f.gate.Load()))
			recs = recs[:0]
			for ; i < end; i++ {
				k, v, _ := g.next()
				recs = append(recs, &kgo.Record{Topic: topic, Key: k, Value: v})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				f.err = fmt.Errorf("producing input: %w", err)
				return
			}
			f.produced.Store(int64(i))
			select {
			case <-ctx.Done():
				f.err = ctx.Err()
				return
			case <-tick.C:
			}
		}
	}()
	return f
}

// open lets the feeder produce up to n events in all.
func (f *feeder) open(n int) { f.gate.Store(int64(min(n, f.n))) }

// wait waits until every event is produced.
func (f *feeder) wait(t *testing.T) {
	t.Helper()
	f.open(f.n)
	select {
	case <-f.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the input was not produced: %d of %d after 5 minutes", f.produced.Load(), f.n)
	}
	if f.err != nil {
		t.Fatal(f.err)
	}
}
