package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes records to Kafka asynchronously and remembers the first failure, which stops
// the job: a sink that cannot write must not let offsets move past what it lost. Safe for
// concurrent use; one Producer serves every task of a worker.
type Producer struct {
	cl       *kgo.Client
	inflight atomic.Int64
	mu       struct {
		sync.Mutex
		err error
	}
	done func(*kgo.Record, error) // promise, allocated once
}

// NewProducer returns a producer on cl. cl should be configured with the producer options the
// job needs (acks, linger, compression); Glint's defaults are in ProducerOpts.
func NewProducer(cl *kgo.Client) *Producer {
	p := &Producer{cl: cl}
	p.done = func(r *kgo.Record, err error) {
		p.inflight.Add(-1)
		if err != nil {
			p.mu.Lock()
			if p.mu.err == nil {
				p.mu.err = fmt.Errorf("kafka: produce to %s: %w", r.Topic, err)
			}
			p.mu.Unlock()
		}
	}
	return p
}

// ProducerOpts are Glint's producer defaults: lz4 (faster than snappy on kfake, see
// BASELINES.md), a short linger to batch small result rows, and a bounded buffer so that a slow
// broker blocks the task (backpressure) instead of growing memory.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerLinger(5e6), // 5ms
		kgo.MaxBufferedRecords(100_000),
	}
}

// Produce sends r; it blocks while the client's buffer is full (backpressure). The record must
// not be modified afterwards.
func (p *Producer) Produce(ctx context.Context, r *kgo.Record) {
	p.inflight.Add(1)
	p.cl.Produce(ctx, r, p.done)
}

// Err returns the first produce failure, if any.
func (p *Producer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.err
}

// InFlight is the number of records produced but not yet acknowledged.
func (p *Producer) InFlight() int64 { return p.inflight.Load() }

// Flush waits until every record produced so far is acknowledged and returns the first failure.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka: flush: %w", err)
	}
	return p.Err()
}
