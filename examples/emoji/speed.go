package emoji

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/examples/emoji/dashboard"
	"github.com/glintstream/glint/examples/emoji/gen"
	"github.com/glintstream/glint/pipeline"
)

// LatencyTarget is the goal for a window's counts to reach the dashboard after the
// watermark passed the window's end (Hotstar reported 2 s end to end).
const LatencyTarget = time.Second

// Speed is what a bounded run measured, over the span from the end of the warm-up to the end
// of generation. Rates are per second of wall time.
type Speed struct {
	Target    float64       // reactions/s asked for
	Span      time.Duration // measured span (generation minus warm-up)
	Produced  float64       // reactions/s acknowledged by Kafka
	Processed float64       // records/s read by emoji-counts
	MoodRead  float64       // records/s read by emoji-mood
	// When generation stopped: reactions acknowledged but not yet read by each job, the
	// counts job's watermark lag, and how long the counts job then took to read the rest.
	LagRecords, MoodLagRecords int64
	WatermarkLagMs             float64
	CatchUp                    time.Duration
	// CPU is the cores this process used over the span (user + system time / span); Load the
	// machine's 1-minute load average at the end (-1 where unknown). Other work shares the
	// machine: read the rates with both.
	CPU, Load float64
	// Latency of the first firings that reached the dashboard after the warm-up, one sample
	// per (match, window); see dashboard.LatencyView (the newest 1024 are kept).
	Latency dashboard.LatencyView
	// Ceilings measured in the same run on the same broker before the demo started (zero
	// without Options.Ceiling): the Producer alone, flat out; then both jobs alone, bounded,
	// over what it wrote (records/s read by emoji-counts and by emoji-mood).
	CeilingProduce, CeilingProcess, CeilingMood float64
	CeilingRecords                              int64
}

func (s *Speed) String() string {
	var b strings.Builder
	ratio := func(x, ceil float64) string {
		if ceil <= 0 {
			return ""
		}
		return fmt.Sprintf(" = %.2f× the ceiling %.0f/s", x/ceil, ceil)
	}
	fmt.Fprintf(&b, "speed over %.1fs after warm-up (target %.0f reactions/s); this process used %.2f cores, machine load %.1f:\n", s.Span.Seconds(), s.Target, s.CPU, s.Load)
	fmt.Fprintf(&b, "  produced   %9.0f reactions/s (%.2f× target)%s\n", s.Produced, s.Produced/s.Target, ratio(s.Produced, s.CeilingProduce))
	fmt.Fprintf(&b, "  processed  %9.0f records/s by emoji-counts%s; emoji-mood %.0f/s%s\n", s.Processed, ratio(s.Processed, s.CeilingProcess), s.MoodRead, ratio(s.MoodRead, s.CeilingMood))
	fmt.Fprintf(&b, "  lag at end %9d records (emoji-mood %d), watermark lag %.0f ms; emoji-counts caught up %v after generation stopped\n",
		s.LagRecords, s.MoodLagRecords, s.WatermarkLagMs, s.CatchUp.Round(time.Millisecond))
	l := s.Latency
	fmt.Fprintf(&b, "  latency after the watermark (arrival − window end − %d ms): p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d (match, window) firings (target ≤ %v)\n",
		l.MaxOutOfOrdernessMs, l.AfterWatermark.P50, l.AfterWatermark.P99, l.AfterWatermark.Max, l.Samples, LatencyTarget)
	fmt.Fprintf(&b, "  delivery (arrival − Kafka timestamp of the fired row): p50 %.0f ms, p99 %.0f ms; window end → Kafka p50 %.0f ms, → dashboard p50 %.0f ms",
		l.Delivery.P50, l.Delivery.P99, l.Kafka.P50, l.Arrival.P50)
	if s.CeilingRecords > 0 {
		fmt.Fprintf(&b, "\n  ceilings (%d reactions, same broker, before the demo): producer alone %.0f/s; jobs alone, bounded: emoji-counts %.0f/s, emoji-mood %.0f/s",
			s.CeilingRecords, s.CeilingProduce, s.CeilingProcess, s.CeilingMood)
	}
	return b.String()
}

// ceilingSuffix names the topics, groups and jobs of the ceiling runs.
const ceilingSuffix = "-ceiling"

// measureCeilings writes o.Ceiling reactions to a topic of their own with the Producer alone,
// as fast as the broker takes them, then runs both jobs at once, alone, over them in bounded
// mode (every window fires at the end). It fills the Ceiling fields of s.
func measureCeilings(ctx context.Context, o *Options, brokers []string, jobs []*pipeline.Job, s *Speed) error {
	in := TopicReactions + ceilingSuffix
	var topics []string
	copies := make([]*pipeline.Job, len(jobs))
	for i, j := range jobs {
		c := *j
		c.Name = j.Name + ceilingSuffix
		c.Sources = append([]pipeline.Source(nil), j.Sources...)
		for k := range c.Sources {
			c.Sources[k].Topic = in
		}
		c.Sinks = append([]pipeline.Sink(nil), j.Sinks...)
		for k := range c.Sinks {
			c.Sinks[k].Topic += ceilingSuffix
			topics = append(topics, c.Sinks[k].Topic)
		}
		c.DeadLetter.Topic += ceilingSuffix
		topics = append(topics, c.DeadLetter.Topic)
		copies[i] = &c
	}
	if err := ensureTopics(ctx, brokers, append(topics, in)...); err != nil {
		return err
	}
	cfg := gen.DefaultConfig(o.Seed)
	cfg.Matches = o.Matches
	g, err := gen.New(cfg)
	if err != nil {
		return err
	}
	p, err := gen.NewProducer(g, gen.WithBrokers(brokers...), gen.WithTopic(in), gen.WithRate(1e12), gen.WithMaxEvents(o.Ceiling))
	if err != nil {
		return err
	}
	defer p.Close()
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		return fmt.Errorf("ceiling: producer: %w", err)
	}
	st := p.Stats()
	if st.Errors > 0 {
		return fmt.Errorf("ceiling: producer: %d records failed: %w", st.Errors, st.LastError)
	}
	s.CeilingRecords = st.Produced
	s.CeilingProduce = float64(st.Produced) / time.Since(start).Seconds()
	fmt.Fprintf(o.Out, "ceiling: the producer alone wrote %d reactions at %.0f/s\n", st.Produced, s.CeilingProduce)

	env := pipeline.NewEnv()
	env.Logger = o.Logger
	rates := make([]float64, len(copies))
	errs := make([]error, len(copies))
	var wg sync.WaitGroup
	for i, j := range copies {
		wg.Go(func() {
			m := pipeline.NewMetrics(j.Name)
			t := time.Now()
			errs[i] = pipeline.Run(ctx, env, j, pipeline.RunOptions{Brokers: brokers, UntilEnd: true, MetricsListen: "off", Metrics: m})
			rates[i] = m.Totals()["records_in_total"] / time.Since(t).Seconds()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("ceiling: %s: %w", copies[i].Name, err)
		}
	}
	s.CeilingProcess, s.CeilingMood = rates[0], rates[1]
	fmt.Fprintf(o.Out, "ceiling: the jobs alone (bounded) read them at %.0f/s (emoji-counts) and %.0f/s (emoji-mood)\n", rates[0], rates[1])
	return nil
}

func ensureTopics(ctx context.Context, brokers []string, topics ...string) error {
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.Ping(ctx, cl, brokers, 10*time.Second); err != nil {
		return err
	}
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), 8, topics...)
}

// rateMeter turns a growing total into a rate over the last second or more. Safe for
// concurrent use.
type rateMeter struct {
	mu struct {
		sync.Mutex
		at    time.Time
		total float64
		rate  float64
	}
}

// observe records total at now and returns the rate over the newest span of at least 1 s.
func (r *rateMeter) observe(now time.Time, total float64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch d := now.Sub(r.mu.at); {
	case r.mu.at.IsZero():
		r.mu.at, r.mu.total = now, total
	case d >= time.Second:
		r.mu.rate = (total - r.mu.total) / d.Seconds()
		r.mu.at, r.mu.total = now, total
	}
	return r.mu.rate
}

// statsFunc feeds the dashboard's tiles from the producer and the jobs' metrics (counts job
// first, then mood).
func statsFunc(o *Options, p *gen.Producer, m []*pipeline.Metrics) dashboard.StatsFunc {
	var counts, mood rateMeter
	return func() map[string]float64 {
		now := time.Now()
		produced := float64(p.Stats().Produced)
		t, tm := m[0].Totals(), m[1].Totals()
		in, moodIn := t["records_in_total"], tm["records_in_total"]
		return map[string]float64{
			"input_rate":              p.Stats().Rate,
			"target_rate":             o.Rate,
			"processed_rate":          counts.observe(now, in),
			"input_lag":               max(0, produced-in),
			"records_in":              in,
			"late_events":             t["records_late_total"],
			"watermark_lag_ms":        t["watermark_lag_ms"],
			"dead_lettered":           t["records_dead_lettered_total"],
			"open_windows":            t["open_windows"],
			"latency_target_ms":       float64(LatencyTarget.Milliseconds()),
			"max_out_of_orderness_ms": float64(o.ooo.Milliseconds()),
			"mood_processed_rate":     mood.observe(now, moodIn),
			"mood_input_lag":          max(0, produced-moodIn),
			"mood_dead_lettered":      tm["records_dead_lettered_total"],
		}
	}
}

// measure takes the snapshots a bounded run's Speed is computed from.
type measure struct {
	prod *gen.Producer
	m    []*pipeline.Metrics
	dash *dashboard.Server

	mu struct {
		sync.Mutex
		from snapshot // generation start, then the end of the warm-up
	}
}

type snapshot struct {
	at                 time.Time
	cpu                time.Duration
	produced, in, mood float64
}

func newMeasure(p *gen.Producer, m []*pipeline.Metrics, d *dashboard.Server) *measure {
	ms := &measure{prod: p, m: m, dash: d}
	ms.mu.from = ms.snap()
	return ms
}

func (ms *measure) snap() snapshot {
	return snapshot{at: time.Now(), cpu: processCPU(), produced: float64(ms.prod.Stats().Produced),
		in: ms.m[0].Totals()["records_in_total"], mood: ms.m[1].Totals()["records_in_total"]}
}

// warmUp restarts the measurement after d, unless ctx (generation) ends first.
func (ms *measure) warmUp(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.mu.from = ms.snap()
	ms.dash.ResetLatency()
}

// end is called when generation stopped: it fills s from the span since the warm-up, then
// waits (at most a minute) until emoji-counts has read everything and takes the latency then.
func (ms *measure) end(ctx context.Context, s *Speed) {
	to := ms.snap()
	ms.mu.Lock()
	from := ms.mu.from
	ms.mu.Unlock()
	span := to.at.Sub(from.at)
	s.Span = span
	s.Produced = (to.produced - from.produced) / span.Seconds()
	s.Processed = (to.in - from.in) / span.Seconds()
	s.MoodRead = (to.mood - from.mood) / span.Seconds()
	s.LagRecords = int64(max(0, to.produced-to.in))
	s.MoodLagRecords = int64(max(0, to.produced-to.mood))
	s.WatermarkLagMs = ms.m[0].Totals()["watermark_lag_ms"]
	s.CPU = float64(to.cpu-from.cpu) / float64(span)
	s.Load = loadAverage()
	deadline := time.Now().Add(time.Minute)
	for ms.m[0].Totals()["records_in_total"] < to.produced && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	s.CatchUp = time.Since(to.at)
	ms.waitFired(ctx)
	s.Latency = ms.dash.View(false).Latency
}

// waitFired waits (at most 5 s) until every match's newest window on the dashboard ends at or
// after the newest window end the slowest task's watermark has passed: the rows the job fired
// have arrived.
func (ms *measure) waitFired(ctx context.Context) {
	wm := ms.minWatermark()
	if wm <= 0 {
		return
	}
	size := gen.Window.Milliseconds()
	want := dashboard.Time(wm - wm%size)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		v := ms.dash.View(false)
		done := len(v.Matches) > 0
		for _, m := range v.Matches {
			if m.Latest == nil || m.Latest.WindowEnd < want {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// minWatermark is the smallest watermark of the counts job's tasks that have one (a task whose
// partition holds no match has none), in ms; 0 if none has.
func (ms *measure) minWatermark() int64 {
	mfs, err := ms.m[0].Registry.Gather()
	if err != nil {
		return 0
	}
	var wm int64
	for _, mf := range mfs {
		if mf.GetName() != "glint_watermark_ms" {
			continue
		}
		for _, s := range mf.GetMetric() {
			if v := int64(s.GetGauge().GetValue()); v > 0 && (wm == 0 || v < wm) {
				wm = v
			}
		}
	}
	return wm
}
