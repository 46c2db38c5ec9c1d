package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// StatsFunc supplies extra numbers from the engine, polled at every push. Well-known keys, shown
// in their own tiles: "input_rate" (reactions/s written to the input topic), "target_rate" (the
// rate asked for), "processed_rate" (records/s the job reads), "input_lag" (records written
// but not yet read by the job), "late_events" (events sent to the late side output),
// "watermark_lag_ms" (wall time minus the job's watermark). Every key, these included, is also
// listed as it is. It must be safe for concurrent use and return quickly; the dashboard owns
// the returned map.
type StatsFunc func() map[string]float64

// ErrConfig is returned (wrapped, with every problem listed) by New for invalid options.
var ErrConfig = errors.New("dashboard: invalid options")

//go:embed assets
var assets embed.FS

// Option configures a Server.
type Option func(*config)

type config struct {
	addr               string
	brokers            []string
	counts, mood, dlq  string
	start              kgo.Offset
	partitions         map[string]map[int32]kgo.Offset
	stats              StatsFunc
	push               time.Duration
	retain, moodPoints int
	now                func() time.Time
	ooo                time.Duration
	clientOpts         []kgo.Opt
	listener           net.Listener
}

// WithAddr sets the listen address; default 127.0.0.1:8080 (port 0 picks a free port).
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithListener serves on l instead of listening on the address; the Server closes it when it stops.
func WithListener(l net.Listener) Option { return func(c *config) { c.listener = l } }

// WithBrokers sets the seed brokers (required).
func WithBrokers(addrs ...string) Option {
	return func(c *config) { c.brokers = append(c.brokers, addrs...) }
}

// WithTopics sets the counts, mood and dead-letter topics; defaults emoji-counts, emoji-mood and
// emoji.dlq. An empty name leaves that topic unread.
func WithTopics(counts, mood, dlq string) Option {
	return func(c *config) { c.counts, c.mood, c.dlq = counts, mood, dlq }
}

// WithStartOffset sets where every partition of the three topics is read from; default the
// start of the log.
func WithStartOffset(o kgo.Offset) Option { return func(c *config) { c.start = o } }

// WithPartitionOffsets reads exactly the given partitions from the given offsets instead of
// every partition of the three topics.
func WithPartitionOffsets(p map[string]map[int32]kgo.Offset) Option {
	return func(c *config) { c.partitions = p }
}

// WithStats sets the engine statistics callback.
func WithStats(f StatsFunc) Option { return func(c *config) { c.stats = f } }

// WithPushInterval sets how often SSE clients get a new state; default 500 ms.
func WithPushInterval(d time.Duration) Option { return func(c *config) { c.push = d } }

// WithRetention sets how many count and mood windows are kept per match (default 900, half an
// hour of 2 s windows) and how many mood windows the chart shows (default 90).
func WithRetention(windows, moodPoints int) Option {
	return func(c *config) { c.retain, c.moodPoints = windows, moodPoints }
}

// WithMaxOutOfOrderness sets the job's watermark delay (its max_out_of_orderness), from which
// the latency after the watermark is measured (see LatencyView); default 0.
func WithMaxOutOfOrderness(d time.Duration) Option { return func(c *config) { c.ooo = d } }

// WithNow sets the clock used for arrival times and lags; default time.Now.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithClientOpts adds franz-go client options (TLS, SASL, ...), applied after the dashboard's own.
func WithClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

func (c *config) validate() error {
	var errs []error
	if len(c.brokers) == 0 {
		errs = append(errs, errors.New("WithBrokers: no brokers"))
	}
	if c.counts == "" && c.mood == "" && c.dlq == "" && c.partitions == nil {
		errs = append(errs, errors.New("WithTopics: no topic to read"))
	}
	if c.push <= 0 {
		errs = append(errs, fmt.Errorf("WithPushInterval: %v is not positive", c.push))
	}
	if c.retain < 1 || c.moodPoints < 1 {
		errs = append(errs, fmt.Errorf("WithRetention: %d windows, %d mood points: both must be at least 1", c.retain, c.moodPoints))
	}
	if c.now == nil {
		errs = append(errs, errors.New("WithNow: nil clock"))
	}
	if c.ooo < 0 {
		errs = append(errs, fmt.Errorf("WithMaxOutOfOrderness: %v is negative", c.ooo))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// Server is the dashboard: it reads the job's output topics into a State and serves the page,
// /api/state and the /events SSE stream.
type Server struct {
	cfg  config
	cl   *kgo.Client
	ln   net.Listener
	page http.Handler

	mu struct {
		sync.Mutex
		state *State
		subs  map[chan []byte]struct{}
	}
	done chan struct{} // closed when Run begins to stop: SSE handlers return
}

// New validates the options, listens on the address and creates the Kafka client; Run starts the
// work. Close releases both if Run is never called.
func New(opts ...Option) (*Server, error) {
	cfg := config{
		addr:       "127.0.0.1:8080",
		counts:     "emoji-counts",
		mood:       "emoji-mood",
		dlq:        "emoji.dlq",
		start:      kgo.NewOffset().AtStart(),
		push:       500 * time.Millisecond,
		retain:     defaultKeep,
		moodPoints: defaultPoint,
		now:        time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}
	if cfg.partitions != nil {
		kopts = append(kopts, kgo.ConsumePartitions(cfg.partitions))
	} else {
		var topics []string
		for _, t := range []string{cfg.counts, cfg.mood, cfg.dlq} {
			if t != "" {
				topics = append(topics, t)
			}
		}
		kopts = append(kopts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(cfg.start))
	}
	cl, err := kgo.NewClient(append(kopts, cfg.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("dashboard: kafka client: %w", err)
	}
	ln := cfg.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.addr); err != nil {
			cl.Close()
			return nil, fmt.Errorf("dashboard: listen: %w", err)
		}
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	s := &Server{cfg: cfg, cl: cl, ln: ln, page: http.FileServerFS(sub), done: make(chan struct{})}
	s.mu.state = NewState(cfg.retain, cfg.moodPoints)
	s.mu.state.SetMaxOutOfOrderness(cfg.ooo)
	s.mu.subs = make(map[chan []byte]struct{})
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close releases the listener and the Kafka client; use it only if Run was never called.
func (s *Server) Close() {
	s.ln.Close()
	s.cl.Close()
}

// View returns the current view (see State.View).
func (s *Server) View(allWindows bool) View {
	stats := s.stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.state.View(s.cfg.now(), stats, allWindows)
}

// ResetLatency forgets the latency samples taken so far (for example those of a warm-up).
func (s *Server) ResetLatency() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.state.ResetLatency()
}

func (s *Server) stats() map[string]float64 {
	if s.cfg.stats == nil {
		return nil
	}
	return s.cfg.stats()
}

// Handler returns the HTTP handler: / (the page and its assets), /api/state (the View as JSON;
// ?windows=all adds every retained window), /events (the View as Server-Sent Events, one
// "state" event per push) and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", s.page)
	mux.HandleFunc("GET /api/state", s.serveState)
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	v := s.View(r.URL.Query().Get("windows") == "all")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.mu.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.subs, ch)
		s.mu.Unlock()
	}()
	first, err := marshalView(s.View(false))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	msg := first
	for {
		if msg != nil {
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", msg); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			msg = nil
		}
		select {
		case msg = <-ch:
		case <-heartbeat.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

func marshalView(v View) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("dashboard: encode view: %w", err)
	}
	return b, nil
}

// Run consumes the topics, serves HTTP and pushes views until ctx is done; then it stops the
// server (SSE streams end), closes the client and returns nil, or the first serving error.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if err := srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.consume(ctx) }()
	go func() { defer wg.Done(); s.pushLoop(ctx) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	close(s.done)
	cancel()
	shutCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if serr := srv.Shutdown(shutCtx); serr != nil && err == nil {
		err = serr
	}
	wg.Wait()
	s.cl.Close()
	return err
}

// consume polls the topics and applies every record to the state.
func (s *Server) consume(ctx context.Context) {
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		now := s.cfg.now()
		s.mu.Lock()
		fs.EachError(func(topic string, p int32, err error) {
			s.mu.state.FetchError(fmt.Errorf("fetch %s/%d: %w", topic, p, err))
		})
		fs.EachRecord(func(r *kgo.Record) { s.applyLocked(r, now) })
		s.mu.Unlock()
	}
}

// applyLocked decodes one record of the output topics into the state.
func (s *Server) applyLocked(r *kgo.Record, now time.Time) {
	st := s.mu.state
	switch r.Topic {
	case s.cfg.counts:
		var row CountRow
		if err := json.Unmarshal(r.Value, &row); err != nil {
			st.BadRow(fmt.Errorf("%w: %s/%d@%d: %w", ErrBadRow, r.Topic, r.Partition, r.Offset, err))
			return
		}
		_ = st.ApplyCount(row, now, r.Timestamp)
	case s.cfg.mood:
		var row MoodRow
		if err := json.Unmarshal(r.Value, &row); err != nil {
			st.BadRow(fmt.Errorf("%w: %s/%d@%d: %w", ErrBadRow, r.Topic, r.Partition, r.Offset, err))
			return
		}
		_ = st.ApplyMood(row)
	case s.cfg.dlq:
		st.ApplyDLQ(dlqRecord(r))
	}
}

// dlqRecord reads the glint.* headers of a dead-letter record.
func dlqRecord(r *kgo.Record) DLQRecord {
	d := DLQRecord{Value: string(r.Value), Time: TimeOf(r.Timestamp), Partition: -1, Offset: -1}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case "glint.reason":
			d.Reason = v
		case "glint.topic":
			d.Topic = v
		case "glint.partition":
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				d.Partition = int32(p)
			}
		case "glint.offset":
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.Offset = o
			}
		}
	}
	if d.Reason == "" {
		d.Reason = "unknown"
	}
	return d
}

// pushLoop sends the view to every SSE client at each push interval (the lags in it move even
// when no row arrives).
func (s *Server) pushLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.push)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := len(s.mu.subs) == 0
		s.mu.Unlock()
		if idle {
			continue
		}
		b, err := marshalView(s.View(false))
		if err != nil {
			continue
		}
		s.mu.Lock()
		for ch := range s.mu.subs {
			select { // keep only the newest view for a slow client
			case <-ch:
			default:
			}
			ch <- b
		}
		s.mu.Unlock()
	}
}
