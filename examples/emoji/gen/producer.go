package gen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrProducerConfig is returned (wrapped, with every problem listed) by NewProducer.
var ErrProducerConfig = errors.New("gen: invalid producer options")

// ErrDrain is returned by Run when records were still unacknowledged at the drain timeout.
var ErrDrain = errors.New("gen: producer drain timed out")

// ProducerOpt configures a Producer.
type ProducerOpt func(*producerCfg)

type producerCfg struct {
	brokers       []string
	topic         string
	rate          float64
	clock         Clock
	maxEvents     int64
	flushInterval time.Duration
	batchSize     int
	inFlight      int
	drainTimeout  time.Duration
	onEvent       func(Meta, []byte)
	clientOpts    []kgo.Opt
}

// WithBrokers sets the seed brokers (required).
func WithBrokers(addrs ...string) ProducerOpt {
	return func(c *producerCfg) { c.brokers = append(c.brokers, addrs...) }
}

// WithTopic sets the topic to write to; default "reactions". The topic must exist.
func WithTopic(t string) ProducerOpt { return func(c *producerCfg) { c.topic = t } }

// WithRate sets the target rate in records per second of clock time; default 10 000.
func WithRate(perSecond float64) ProducerOpt { return func(c *producerCfg) { c.rate = perSecond } }

// WithClock sets the clock; default WallClock.
func WithClock(clk Clock) ProducerOpt { return func(c *producerCfg) { c.clock = clk } }

// WithMaxEvents stops Run after n records (0, the default, means never).
func WithMaxEvents(n int64) ProducerOpt { return func(c *producerCfg) { c.maxEvents = n } }

// WithFlushInterval sets how often a partly filled batch is sent; default 500 ms (Hotstar's).
func WithFlushInterval(d time.Duration) ProducerOpt {
	return func(c *producerCfg) { c.flushInterval = d }
}

// WithBatchSize sets the records that make a batch go out at once; default 20 000 (Hotstar's).
func WithBatchSize(n int) ProducerOpt { return func(c *producerCfg) { c.batchSize = n } }

// WithMaxInFlight bounds the batches sent but not yet fully acknowledged; default 4. When all
// are in flight, generation waits: that is the producer's backpressure.
func WithMaxInFlight(n int) ProducerOpt { return func(c *producerCfg) { c.inFlight = n } }

// WithDrainTimeout bounds how long Run waits for acknowledgements when it stops; default 30 s.
func WithDrainTimeout(d time.Duration) ProducerOpt {
	return func(c *producerCfg) { c.drainTimeout = d }
}

// WithOnEvent calls fn for every generated record, in order, on Run's goroutine, before the
// record is sent (for example Expected.Add). The bytes are valid only during the call.
func WithOnEvent(fn func(Meta, []byte)) ProducerOpt { return func(c *producerCfg) { c.onEvent = fn } }

// WithClientOpts adds franz-go client options (TLS, SASL, compression, ...). They are applied
// after the producer's own, so they win.
func WithClientOpts(opts ...kgo.Opt) ProducerOpt {
	return func(c *producerCfg) { c.clientOpts = append(c.clientOpts, opts...) }
}

func (c *producerCfg) validate() error {
	var errs []error
	if len(c.brokers) == 0 {
		errs = append(errs, errors.New("WithBrokers: no brokers"))
	}
	if c.topic == "" {
		errs = append(errs, errors.New("WithTopic: empty topic"))
	}
	if !(c.rate > 0) {
		errs = append(errs, fmt.Errorf("WithRate: %v is not positive", c.rate))
	}
	if c.clock == nil {
		errs = append(errs, errors.New("WithClock: nil clock"))
	}
	if c.maxEvents < 0 {
		errs = append(errs, fmt.Errorf("WithMaxEvents: %d is negative", c.maxEvents))
	}
	if c.flushInterval <= 0 {
		errs = append(errs, fmt.Errorf("WithFlushInterval: %v is not positive", c.flushInterval))
	}
	if c.batchSize < 1 {
		errs = append(errs, fmt.Errorf("WithBatchSize: %d is below 1", c.batchSize))
	}
	if c.inFlight < 1 {
		errs = append(errs, fmt.Errorf("WithMaxInFlight: %d is below 1", c.inFlight))
	}
	if c.drainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("WithDrainTimeout: %v is not positive", c.drainTimeout))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrProducerConfig, errors.Join(errs...))
}

// Stats are a Producer's counters.
type Stats struct {
	Generated  int64   // records generated and handed to Kafka
	Produced   int64   // records Kafka acknowledged
	Errors     int64   // records Kafka failed
	Duplicates int64   // generated retries (KindDuplicate)
	Malformed  int64   // generated malformed records
	Batches    int64   // API batches sent
	Rate       float64 // acknowledged records per second of clock time, over the last second or more
	LastError  error   // the most recent record failure, if any
}

// Producer runs a Generator against a Kafka topic at a target rate, batching like Hotstar's
// reaction API: records collect in a batch that goes out every flush interval or when it holds
// batch-size records, whichever comes first. The record key is the match id, the value the
// event JSON, the timestamp the clock's arrival time.
//
// Run drives it on one goroutine; Stats is safe to call concurrently with Run.
type Producer struct {
	cfg   producerCfg
	gen   *Generator
	cl    *kgo.Client
	keys  [][]byte
	free  chan *batch
	sleep func(context.Context, time.Duration) error

	generated, produced, errs, dups, malformed, batches atomic.Int64

	mu struct {
		sync.Mutex
		rate    float64
		lastErr error
	}
}

// batch is one API batch: its records' bytes live in buf until Kafka acknowledged all of them.
type batch struct {
	buf     []byte
	ends    []int // ends[i] is the end of record i's bytes in buf
	recs    []kgo.Record
	pending atomic.Int64
	promise func(*kgo.Record, error)
}

// NewProducer returns a Producer for g; it owns g from now on. It connects lazily: a broker that
// is down shows up as record errors in Stats, not here.
func NewProducer(g *Generator, opts ...ProducerOpt) (*Producer, error) {
	cfg := producerCfg{
		topic:         "reactions",
		rate:          10_000,
		clock:         WallClock{},
		flushInterval: 500 * time.Millisecond,
		batchSize:     20_000,
		inFlight:      4,
		drainTimeout:  30 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.DefaultProduceTopic(cfg.topic),
		// Never block inside Produce: at most inFlight full batches are outstanding.
		kgo.MaxBufferedRecords(cfg.batchSize*cfg.inFlight + 1),
	}, cfg.clientOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("gen: producer client: %w", err)
	}
	p := &Producer{cfg: cfg, gen: g, cl: cl, free: make(chan *batch, cfg.inFlight)}
	for m := range g.Matches() {
		p.keys = append(p.keys, []byte(g.MatchID(m)))
	}
	for range cfg.inFlight {
		p.free <- p.newBatch()
	}
	p.sleep = func(ctx context.Context, d time.Duration) error { return WallClock{}.Sleep(ctx, d) }
	if s, ok := cfg.clock.(Sleeper); ok {
		p.sleep = s.Sleep
	}
	return p, nil
}

func (p *Producer) newBatch() *batch {
	b := &batch{
		buf:  make([]byte, 0, p.cfg.batchSize*104),
		ends: make([]int, 0, p.cfg.batchSize),
		recs: make([]kgo.Record, p.cfg.batchSize),
	}
	b.promise = func(_ *kgo.Record, err error) {
		if err != nil {
			p.errs.Add(1)
			p.mu.Lock()
			p.mu.lastErr = err
			p.mu.Unlock()
		} else {
			p.produced.Add(1)
		}
		if b.pending.Add(-1) == 0 {
			b.buf, b.ends = b.buf[:0], b.ends[:0]
			p.free <- b
		}
	}
	return b
}

// Stats returns the producer's counters.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	rate, lastErr := p.mu.rate, p.mu.lastErr
	p.mu.Unlock()
	return Stats{
		Generated:  p.generated.Load(),
		Produced:   p.produced.Load(),
		Errors:     p.errs.Load(),
		Duplicates: p.dups.Load(),
		Malformed:  p.malformed.Load(),
		Batches:    p.batches.Load(),
		Rate:       rate,
		LastError:  lastErr,
	}
}

// Close releases the Kafka client. Call it after Run returned.
func (p *Producer) Close() { p.cl.Close() }

// Run generates and sends records until ctx is done or the configured number of records was
// generated, then sends what is batched and waits (up to the drain timeout) until Kafka
// acknowledged or failed every record. Record failures are counted in Stats, not returned; Run
// returns nil once drained, or ErrDrain. Call Run once.
func (p *Producer) Run(ctx context.Context) error {
	// Records already handed to the client must not fail because the caller stopped us:
	// they go out under a context that is never cancelled, and the drain waits for them.
	sendCtx := context.WithoutCancel(ctx)
	start := p.cfg.clock.Now()
	lastFlush, rateMark, producedMark := start, start, int64(0)
	var cur *batch
	var generated int64
	for ctx.Err() == nil && (p.cfg.maxEvents == 0 || generated < p.cfg.maxEvents) {
		now := p.cfg.clock.Now()
		due := int64(p.cfg.rate*now.Sub(start).Seconds()) - generated
		if p.cfg.maxEvents > 0 {
			due = min(due, p.cfg.maxEvents-generated)
		}
		if due > 0 && cur == nil {
			if cur = p.acquire(ctx); cur == nil {
				break
			}
		}
		if due > 0 {
			n := int(min(due, int64(p.cfg.batchSize-len(cur.ends))))
			p.fill(cur, n, now)
			generated += int64(n)
		}
		full := cur != nil && len(cur.ends) == p.cfg.batchSize
		if full || (cur != nil && now.Sub(lastFlush) >= p.cfg.flushInterval) {
			p.send(sendCtx, cur)
			cur, lastFlush = nil, now
		} else if cur == nil && now.Sub(lastFlush) >= p.cfg.flushInterval {
			lastFlush = now // nothing to send this interval
		}
		if d := now.Sub(rateMark); d >= time.Second {
			prod := p.produced.Load()
			p.mu.Lock()
			p.mu.rate = float64(prod-producedMark) / d.Seconds()
			p.mu.Unlock()
			rateMark, producedMark = now, prod
		}
		if due <= 0 {
			wait := min(time.Duration(float64(time.Second)/p.cfg.rate), p.cfg.flushInterval, 5*time.Millisecond)
			_ = p.sleep(ctx, max(wait, 50*time.Microsecond))
		}
	}
	if cur != nil && len(cur.ends) > 0 {
		p.send(sendCtx, cur)
	} else if cur != nil {
		p.free <- cur
	}
	return p.drain()
}

// acquire returns a free batch, waiting while all are in flight; nil if ctx ended first.
func (p *Producer) acquire(ctx context.Context) *batch {
	select {
	case b := <-p.free:
		return b
	case <-ctx.Done():
		return nil
	}
}

// fill generates n records arriving at now into b.
func (p *Producer) fill(b *batch, n int, now time.Time) {
	for range n {
		start := len(b.buf)
		var meta Meta
		b.buf, meta = p.gen.Append(b.buf, now)
		i := len(b.ends)
		b.ends = append(b.ends, len(b.buf))
		b.recs[i] = kgo.Record{Key: p.keys[meta.Match], Timestamp: time.UnixMilli(meta.Arrival)}
		switch meta.Kind {
		case KindDuplicate:
			p.dups.Add(1)
		case KindMalformed:
			p.malformed.Add(1)
		}
		if p.cfg.onEvent != nil {
			p.cfg.onEvent(meta, b.buf[start:])
		}
	}
	p.generated.Add(int64(n))
}

// send hands a batch to the client. Values are sliced from buf only now: buf may have moved
// while the batch was filling.
func (p *Producer) send(ctx context.Context, b *batch) {
	n := len(b.ends)
	b.pending.Store(int64(n))
	p.batches.Add(1)
	start := 0
	for i, end := range b.ends {
		b.recs[i].Value = b.buf[start:end:end]
		start = end
	}
	for i := range n {
		p.cl.Produce(ctx, &b.recs[i], b.promise)
	}
}

// drain waits until every batch is back, i.e. every record was acknowledged or failed.
func (p *Producer) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.drainTimeout)
	defer cancel()
	for range p.cfg.inFlight {
		select {
		case b := <-p.free:
			defer func() { p.free <- b }()
		case <-ctx.Done():
			return fmt.Errorf("%w after %v", ErrDrain, p.cfg.drainTimeout)
		}
	}
	return nil
}
