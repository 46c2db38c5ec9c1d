// Package emoji is the emoji-reaction demo: a generator of cricket-match reactions, the two
// Glint jobs over them (emoji-counts.yaml, emoji-mood.yaml), and a live dashboard, wired
// together by Run (`glint demo emoji`).
package emoji

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/examples/emoji/dashboard"
	"github.com/glintstream/glint/examples/emoji/gen"
	"github.com/glintstream/glint/pipeline"
)

//go:embed emoji-counts.yaml emoji-mood.yaml
var jobFiles embed.FS

// Options configure a demo run.
type Options struct {
	Brokers  []string      // empty: an embedded broker on a free loopback port
	DataDir  string        // embedded broker data; empty: a temporary directory
	Addr     string        // dashboard address; default 127.0.0.1:8080
	Rate     float64       // reactions per second; default 20 000
	Matches  int           // concurrent matches; default 4
	Seed     uint64        // generator seed; default 1
	Duration time.Duration // 0: until ctx ends; else generate this long, drain the jobs and verify
	// WarmUp is left out of the latency on the dashboard and of a bounded run's speed figures:
	// meanwhile the jobs join their groups, and the first windows fire at once, among them
	// windows that hold only late reactions dated before the start. Default 5 s, at most
	// Duration/4.
	WarmUp time.Duration
	// Ceiling, if positive, first measures ceilings on the same broker with this many
	// reactions: the Producer alone, flat out, then both jobs alone (bounded) over them.
	Ceiling int64
	// OnStart, if set, is called once the dashboard serves and the jobs run, just before
	// generation starts, on Run's goroutine: it must not block.
	OnStart func(Live)
	Logger  *slog.Logger
	Out     io.Writer // progress and the verification summary; default os.Stdout

	ooo time.Duration // the counts job's max_out_of_orderness
}

// Live tells a caller of Run where the running demo is.
type Live struct {
	Dashboard string   // the dashboard's base URL, http://host:port/
	Brokers   []string // the Kafka brokers
}

// Topics the demo uses.
const (
	TopicReactions = "reactions"
	TopicCounts    = "emoji-counts"
	TopicMood      = "emoji-mood"
	TopicDLQ       = "emoji.dlq"
	TopicMoodDLQ   = "emoji-mood.dlq"
)

// Jobs returns the demo's two jobs, parsed from the embedded job files.
func Jobs() ([]*pipeline.Job, error) {
	var jobs []*pipeline.Job
	for _, f := range []string{"emoji-counts.yaml", "emoji-mood.yaml"} {
		b, err := jobFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		j, err := pipeline.Parse("examples/emoji/"+f, b)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// ErrMismatch is returned (wrapped, with the Report) by a bounded Run whose jobs' output differs
// from the generator's own count.
var ErrMismatch = errors.New("emoji demo: the jobs' output differs from the generator's count")

// Run runs the demo until ctx ends or, with a Duration, until the generated reactions are
// processed and the output of both jobs verified against the generator's own count. A bounded
// run returns a Report with the verification and the Speed it measured, and an error wrapping
// ErrMismatch if the output is wrong.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	brokers := o.Brokers
	if len(brokers) == 0 {
		dir := o.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "glint-demo-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp)
			dir = filepath.Join(tmp, "kafka")
		}
		b, err := kafka.StartBroker(kafka.BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			return nil, err
		}
		defer b.Close()
		brokers = []string{b.Addr()}
		fmt.Fprintf(o.Out, "embedded Kafka broker on %s\n", b.Addr())
	}
	if err := ensureTopics(ctx, brokers, TopicReactions, TopicCounts, TopicMood, TopicDLQ, TopicMoodDLQ); err != nil {
		return nil, err
	}
	jobs, err := Jobs()
	if err != nil {
		return nil, err
	}
	o.ooo = jobs[0].Sources[0].Watermark.MaxOutOfOrderness.D()
	speed := &Speed{Target: o.Rate}
	if o.Ceiling > 0 {
		if err := measureCeilings(ctx, &o, brokers, jobs, speed); err != nil {
			return nil, err
		}
	}

	cfg := gen.DefaultConfig(o.Seed)
	cfg.Matches = o.Matches
	g, err := gen.New(cfg)
	if err != nil {
		return nil, err
	}
	expected := gen.NewExpected(g)
	popts := []gen.ProducerOpt{gen.WithBrokers(brokers...), gen.WithTopic(TopicReactions), gen.WithRate(o.Rate)}
	if o.Duration > 0 {
		popts = append(popts, gen.WithOnEvent(expected.Add)) // only bounded runs are verified
	}
	prod, err := gen.NewProducer(g, popts...)
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	metrics := make([]*pipeline.Metrics, len(jobs))
	for i, j := range jobs {
		metrics[i] = pipeline.NewMetrics(j.Name)
	}
	dash, err := dashboard.New(dashboard.WithAddr(o.Addr), dashboard.WithBrokers(brokers...),
		dashboard.WithTopics(TopicCounts, TopicMood, TopicDLQ), dashboard.WithMaxOutOfOrderness(o.ooo),
		dashboard.WithStats(statsFunc(&o, prod, metrics)))
	if err != nil {
		return nil, fmt.Errorf("dashboard on %s: %w", o.Addr, err)
	}
	dashDone := make(chan struct{})
	defer func() { cancel(); <-dashDone }()
	go func() { defer close(dashDone); _ = dash.Run(ctx) }()
	fmt.Fprintf(o.Out, "dashboard: http://%s\n", dash.Addr())

	env := pipeline.NewEnv()
	env.Logger = o.Logger
	drain := make(chan struct{})
	var wg sync.WaitGroup
	jobErrs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() {
			jobErrs[i] = pipeline.Run(ctx, env, j, pipeline.RunOptions{
				Brokers: brokers, MetricsListen: "off", Metrics: metrics[i], Drain: drain})
			if jobErrs[i] != nil && ctx.Err() == nil {
				o.Logger.Error("job failed", "job", j.Name, "err", jobErrs[i])
				cancel()
			}
		})
	}
	if o.OnStart != nil {
		o.OnStart(Live{Dashboard: "http://" + dash.Addr() + "/", Brokers: brokers})
	}

	fmt.Fprintf(o.Out, "generating %.0f reactions/s over %d matches (Ctrl-C stops)\n", o.Rate, o.Matches)
	pctx, pcancel := ctx, context.CancelFunc(func() {})
	if o.Duration > 0 {
		pctx, pcancel = context.WithTimeout(ctx, o.Duration)
	}
	defer pcancel()
	m := newMeasure(prod, metrics, dash)
	go m.warmUp(pctx, o.WarmUp)
	perr := prod.Run(pctx)
	if o.Duration == 0 {
		cancel()
		wg.Wait()
		return nil, firstErr(perr, jobErrs)
	}
	// Bounded run: measure, fire every window up to the end of what was generated, verify.
	if ctx.Err() == nil {
		m.end(ctx, speed)
	}
	close(drain)
	wg.Wait()
	if err := firstErr(perr, jobErrs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep, err := Verify(ctx, brokers, expected)
	if err != nil {
		return nil, err
	}
	st := prod.Stats()
	rep.Produced, rep.Rate = st.Produced, speed.Produced
	rep.Speed = speed
	fmt.Fprintln(o.Out, rep)
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %s", ErrMismatch, rep.Problems())
	}
	return rep, nil
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.Rate <= 0 {
		o.Rate = 20_000
	}
	if o.Matches <= 0 {
		o.Matches = 4
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.WarmUp <= 0 {
		o.WarmUp = 5 * time.Second
		if o.Duration > 0 {
			o.WarmUp = min(o.WarmUp, o.Duration/4)
		}
	}
}

func firstErr(perr error, jobErrs []error) error {
	if perr != nil && !errors.Is(perr, context.Canceled) {
		return perr
	}
	for _, e := range jobErrs {
		if e != nil && !errors.Is(e, context.Canceled) {
			return e
		}
	}
	return nil
}
