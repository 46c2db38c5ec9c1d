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

	"github.com/twmb/franz-go/pkg/kadm"

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
	Logger   *slog.Logger
	Out      io.Writer // progress and the verification summary; default os.Stdout
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

// Run runs the demo until ctx ends or, with a Duration, until the generated reactions are
// processed and the output verified against the generator's own count.
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
	if err := createTopics(ctx, brokers); err != nil {
		return nil, err
	}
	jobs, err := Jobs()
	if err != nil {
		return nil, err
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
		dashboard.WithTopics(TopicCounts, TopicMood, TopicDLQ),
		dashboard.WithStats(statsFunc(prod, metrics[0], jobs[0])))
	if err != nil {
		return nil, fmt.Errorf("dashboard on %s: %w", o.Addr, err)
	}
	defer dash.Close()
	go dash.Run(ctx)
	fmt.Fprintf(o.Out, "dashboard: http://%s\n", dash.Addr())

	env := pipeline.NewEnv()
	env.Logger = o.Logger
	drain := make(chan struct{})
	var wg sync.WaitGroup
	jobErrs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobErrs[i] = pipeline.Run(ctx, env, j, pipeline.RunOptions{
				Brokers: brokers, MetricsListen: "off", Metrics: metrics[i], Drain: drain})
			if jobErrs[i] != nil && ctx.Err() == nil {
				o.Logger.Error("job failed", "job", j.Name, "err", jobErrs[i])
				cancel()
			}
		}()
	}

	pctx := ctx
	if o.Duration > 0 {
		var pcancel context.CancelFunc
		pctx, pcancel = context.WithTimeout(ctx, o.Duration)
		defer pcancel()
	}
	fmt.Fprintf(o.Out, "generating %.0f reactions/s over %d matches (Ctrl-C stops)\n", o.Rate, o.Matches)
	perr := prod.Run(pctx)
	if o.Duration == 0 || ctx.Err() != nil {
		cancel()
		wg.Wait()
		return nil, firstErr(perr, jobErrs)
	}
	// Bounded run: fire every window up to the end of what was generated, then verify.
	close(drain)
	wg.Wait()
	if err := firstErr(perr, jobErrs); err != nil {
		return nil, err
	}
	rep, err := Verify(ctx, brokers, expected)
	if err != nil {
		return nil, err
	}
	st := prod.Stats()
	rep.Produced, rep.Rate = st.Produced, st.Rate
	fmt.Fprintln(o.Out, rep)
	if !rep.OK() {
		return rep, errors.New("emoji demo: the job's output differs from the generator's count")
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

func createTopics(ctx context.Context, brokers []string) error {
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.Ping(ctx, cl, brokers, 10*time.Second); err != nil {
		return err
	}
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), 8, TopicReactions, TopicCounts, TopicMood, TopicDLQ, TopicMoodDLQ)
}

// statsFunc feeds the dashboard's tiles from the producer and the counts job's metrics.
func statsFunc(p *gen.Producer, m *pipeline.Metrics, j *pipeline.Job) dashboard.StatsFunc {
	ooo := float64(j.Sources[0].Watermark.MaxOutOfOrderness.Millis())
	return func() map[string]float64 {
		t := m.Totals()
		return map[string]float64{
			"input_rate":              p.Stats().Rate,
			"late_events":             t["records_late_total"],
			"watermark_lag_ms":        t["watermark_lag_ms"],
			"dead_lettered":           t["records_dead_lettered_total"],
			"records_in":              t["records_in_total"],
			"open_windows":            t["open_windows"],
			"max_out_of_orderness_ms": ooo,
		}
	}
}
