package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/checkpoint"
	"github.com/glintstream/glint/connector/kafka"
)

// RunOptions adjust a run without changing the job file.
type RunOptions struct {
	// Brokers overrides the job's brokers. With neither, Run uses a broker already listening
	// on 127.0.0.1:9092 (`glint broker`) or starts the embedded broker there.
	Brokers []string
	// UntilEnd reads each input to the end offsets seen at start, fires every window and
	// returns (bounded mode). Otherwise Run consumes in the job's group until ctx ends.
	UntilEnd bool
	// DataDir is the embedded broker's data directory. Default ./glint-data/kafka.
	DataDir string
	// MetricsListen overrides the job's metrics address ("off" disables).
	MetricsListen string
	// Stdout receives the rows of stdout sinks. Default os.Stdout.
	Stdout io.Writer
	// Metrics, if set, is used instead of a new registry (the demo reads it).
	Metrics *Metrics
	// Drain, when closed, ends a streaming run at the end offsets of that moment: every window
	// fires, results are flushed, offsets committed, and Run returns nil.
	Drain <-chan struct{}
	// FromCheckpoint is checkpoint storage (a directory or URL) holding checkpoints of this job,
	// e.g. a copy kept aside: each task restores from its newest complete checkpoint there
	// instead of the job's own storage, the first time it starts; new checkpoints go to the
	// job's storage as usual (Flink's run -s).
	FromCheckpoint string

	// Tests: a crash injected at a checkpoint protocol step (see checkpointer.fault), and
	// options for the checkpoint store (e.g. checkpoint.WithFaults).
	fault     func(step string, task int32, id uint64) error
	storeOpts []checkpoint.Option
}

// Run compiles and runs a job. It returns nil when a bounded run completes or ctx is cancelled
// after a clean drain, and the first fatal error otherwise.
func Run(ctx context.Context, env *Env, job *Job, opts RunOptions) error {
	plan, err := Compile(job, env)
	if err != nil {
		return err
	}
	brokers := opts.Brokers
	if len(brokers) == 0 {
		brokers = job.Brokers
	}
	embedded := false
	if len(brokers) == 0 {
		b, addr, err := embeddedBroker(env, opts.DataDir)
		if err != nil {
			return err
		}
		if b != nil {
			defer b.Close()
			embedded = true
		}
		brokers = []string{addr}
	}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics(job.Name)
	}
	listen := job.Metrics.Listen
	if opts.MetricsListen != "" {
		listen = opts.MetricsListen
	}
	if stop := serveMetrics(env, m, listen); stop != nil {
		defer stop()
	}

	admCl, err := kafka.NewClient(brokers)
	if err != nil {
		return err
	}
	defer admCl.Close()
	if err := kafka.Ping(ctx, admCl, brokers, 10*time.Second); err != nil {
		return err
	}
	adm := kadm.NewClient(admCl)
	parts, err := sourcePartitions(ctx, env, adm, plan, embedded)
	if err != nil {
		return err
	}
	outTopics := []string{job.DeadLetter.Topic}
	for _, s := range plan.Sinks {
		if s.Spec.Type == "kafka" {
			outTopics = append(outTopics, s.Spec.Topic)
		}
	}
	if err := kafka.EnsureTopics(ctx, adm, parts, outTopics...); err != nil {
		return err
	}

	prodCl, err := kafka.NewClient(brokers, kafka.ProducerOpts()...)
	if err != nil {
		return err
	}
	defer prodCl.Close()
	prod := kafka.NewProducer(prodCl)
	w := &worker{
		plan: plan, env: env, brokers: brokers, m: m, prod: prod, adm: adm,
		dlq:   &kafka.DeadLetter{Topic: job.DeadLetter.Topic, Job: job.Name, P: prod},
		input: map[string]int{},
		errc:  make(chan error, 1),
	}
	w.mu.tasks = map[int32]*running{}
	for i, s := range plan.Sources {
		w.topics = append(w.topics, s.Spec.Topic)
		w.input[s.Spec.Topic] = i
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	for _, s := range plan.Sinks {
		switch s.Spec.Type {
		case "kafka":
			w.sinks = append(w.sinks, newKafkaRows(s, plan.Output, prod))
		case "stdout":
			w.sinks = append(w.sinks, newStdoutRows(plan.Output, stdout))
		case "lakehouse":
			w.sinks = append(w.sinks, nil) // one per task (worker.start)
		}
	}

	consume := []kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(8 << 20),
	}
	if opts.UntilEnd {
		w.cl, err = kafka.NewClient(brokers, consume...)
		if err != nil {
			return err
		}
		defer w.cl.Close()
		env.Logger.Info("running until the end of input", "job", job.Name, "brokers", brokers, "tasks", parts)
		return w.runBounded(ctx, parts)
	}
	if iv := job.Checkpoint.Interval; iv > 0 {
		store, err := checkpoint.Open(ctx, job.Checkpoint.Storage, append([]checkpoint.Option{checkpoint.WithLogger(env.Logger)}, opts.storeOpts...)...)
		if err != nil {
			return fmt.Errorf("checkpoint storage %q: %w", job.Checkpoint.Storage, err)
		}
		defer store.Close()
		var from *checkpoint.Store
		if opts.FromCheckpoint != "" {
			from, err = openFromCheckpoint(ctx, opts.FromCheckpoint, job.Name, env)
			if err != nil {
				return err
			}
			defer from.Close()
		}
		w.ck = &checkpointer{store: store, job: job.Name, interval: iv.D(), keep: job.Checkpoint.Keep,
			topics: w.topics, flush: w.flush, m: m,
			exactlyOnce: job.Checkpoint.Mode == "exactly_once", brokers: brokers, fault: opts.fault}
		w.ck.from.store = from
	}
	// Tasks outlive ctx: when it ends, the worker stops them cleanly (a last checkpoint
	// commits what they produced), and cancels them only if that takes too long.
	taskCtx, cancelTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTasks()
	w.cancelTasks = cancelTasks
	// Group callbacks can fire before NewClient returns; they wait until w.cl is published.
	published := make(chan struct{})
	consume = append(consume,
		kgo.ConsumerGroup(job.Name),
		kgo.SessionTimeout(job.Group.SessionTimeout.D()),
		kgo.HeartbeatInterval(job.Group.HeartbeatInterval.D()),
		kgo.RebalanceTimeout(job.Group.RebalanceTimeout.D()),
		kgo.ConsumeTopics(w.topics...),
		kgo.Balancers(kafka.CoPartitionBalancer()), // task p owns partition p of every input
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(resetOffset(plan.Sources[0].Start)),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, a map[string][]int32) {
			<-published
			w.assigned(taskCtx, cl, a)
		}),
		kgo.OnPartitionsRevoked(func(c context.Context, cl *kgo.Client, r map[string][]int32) {
			<-published
			w.revoked(c, cl, r)
		}),
		kgo.AdjustFetchOffsetsFn(w.adjustOffsets),
		kgo.OnPartitionsLost(func(c context.Context, cl *kgo.Client, l map[string][]int32) {
			<-published
			w.lost(c, cl, l)
		}),
	)
	w.cl, err = kafka.NewClient(brokers, consume...)
	close(published)
	if err != nil {
		return err
	}
	env.Logger.Info("running", "job", job.Name, "group", job.Name, "brokers", brokers, "partitions", parts)
	return w.runGroup(ctx, opts.Drain)
}

// openFromCheckpoint opens the storage --from-checkpoint names and checks that it holds
// complete checkpoints of the job.
func openFromCheckpoint(ctx context.Context, loc, job string, env *Env) (*checkpoint.Store, error) {
	from, err := checkpoint.Open(ctx, loc, checkpoint.WithLogger(env.Logger))
	if err != nil {
		return nil, fmt.Errorf("--from-checkpoint %q: %w", loc, err)
	}
	infos, err := from.List(ctx, job)
	if err != nil {
		from.Close()
		return nil, fmt.Errorf("--from-checkpoint %q: %w", loc, err)
	}
	for _, in := range infos {
		if in.Latest {
			return from, nil
		}
	}
	from.Close()
	return nil, fmt.Errorf("--from-checkpoint %q holds no complete checkpoint of job %q (glint checkpoints list --storage %s)", loc, job, loc)
}

func resetOffset(s StartPosition) kgo.Offset {
	switch {
	case s.Latest:
		return kgo.NewOffset().AtEnd()
	case !s.Time.IsZero():
		return kgo.NewOffset().AfterMilli(s.Time.UnixMilli())
	}
	return kgo.NewOffset().AtStart()
}

// sourcePartitions checks that the source topics exist and are co-partitioned (task i owns
// partition i of each) and returns their partition count. On the embedded broker, missing
// source topics are created.
func sourcePartitions(ctx context.Context, env *Env, adm *kadm.Client, p *Plan, embedded bool) (int32, error) {
	var topics []string
	for _, s := range p.Sources {
		topics = append(topics, s.Spec.Topic)
	}
	counts, err := kafka.PartitionCounts(ctx, adm, topics...)
	var missing *kafka.MissingTopicsError
	if errors.As(err, &missing) && embedded {
		env.Logger.Info("creating source topics on the embedded broker", "topics", missing.Topics, "partitions", 8)
		if err := kafka.EnsureTopics(ctx, adm, 8, missing.Topics...); err != nil {
			return 0, err
		}
		counts, err = kafka.PartitionCounts(ctx, adm, topics...)
	}
	if err != nil {
		return 0, err
	}
	n := counts[topics[0]]
	for _, t := range topics[1:] {
		if counts[t] != n {
			return 0, fmt.Errorf("sources must be co-partitioned (task i reads partition i of each): %s has %d partitions, %s has %d",
				topics[0], n, t, counts[t])
		}
	}
	return n, nil
}

// embeddedBroker returns a broker to use when none is configured: one already listening on the
// default address (returned as addr with a nil *Broker), or a new embedded one.
func embeddedBroker(env *Env, dataDir string) (*kafka.Broker, string, error) {
	if c, err := net.DialTimeout("tcp", kafka.DefaultBrokerAddr, 300*time.Millisecond); err == nil {
		c.Close()
		env.Logger.Info("using the broker already listening", "addr", kafka.DefaultBrokerAddr)
		return nil, kafka.DefaultBrokerAddr, nil
	}
	if dataDir == "" {
		dataDir = filepath.Join("glint-data", "kafka")
	}
	b, err := kafka.StartBroker(kafka.BrokerConfig{Addr: kafka.DefaultBrokerAddr, DataDir: dataDir})
	if err != nil {
		return nil, "", err
	}
	env.Logger.Info("started the embedded broker", "addr", b.Addr(), "data", dataDir)
	return b, b.Addr(), nil
}

// serveMetrics serves /metrics on listen. A busy port is not fatal: it falls back to a free
// port and logs where.
func serveMetrics(env *Env, m *Metrics, listen string) (stop func()) {
	stop, _ = serveMetricsAddr(env, m, listen)
	return stop
}

func serveMetricsAddr(env *Env, m *Metrics, listen string) (stop func(), addr string) {
	if listen == "off" || listen == "" {
		return nil, ""
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		host, _, _ := net.SplitHostPort(listen)
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			env.Logger.Warn("metrics disabled: cannot listen", "addr", listen, "err", err)
			return nil, ""
		}
		env.Logger.Warn("metrics port busy; using another", "wanted", listen, "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	env.Logger.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, ln.Addr().String()
}
