package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/examples/emoji/gen"
)

// newCluster starts a one-broker kfake over TCP on 127.0.0.1 with the demo's output topics.
func newCluster(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "emoji-counts", "emoji-mood"),
		kfake.SeedTopics(1, "emoji.dlq"), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func newProducer(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes records synchronously and fails the test on any error.
func produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func jsonRecord(t testing.TB, topic, key string, v any) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// startServer runs a dashboard on a free loopback port until the test ends.
func startServer(t testing.TB, brokers []string, opts ...Option) *Server {
	t.Helper()
	s, err := New(append([]Option{WithBrokers(brokers...), WithAddr("127.0.0.1:0")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// getState fetches /api/state.
func getState(t testing.TB, s *Server, all bool) View {
	t.Helper()
	url := "http://" + s.Addr() + "/api/state"
	if all {
		url += "?windows=all"
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v View
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitState polls /api/state until ok accepts it.
func waitState(t testing.TB, s *Server, all bool, ok func(View) bool) View {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := getState(t, s, all)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(v)
			t.Fatalf("state never became as expected; last: %.2000s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workload is a realistic set of job output rows: what the emoji jobs would write for a
// generated stream, with revisions for windows that received late events.
type workload struct {
	exp      *gen.Expected
	final    map[cellKey]cellVal // newest revision of every count cell
	counts   []CountRow          // in the order to produce them
	mood     map[Time]map[string]MoodRow
	moodRows []MoodRow
}

type cellKey struct {
	start       Time
	match, emoj string
}

type cellVal struct{ n, revision int64 }

func makeWorkload(t testing.TB, seed uint64, seconds int, rate int) *workload {
	t.Helper()
	g, err := gen.New(gen.DefaultConfig(seed))
	if err != nil {
		t.Fatal(err)
	}
	exp := gen.NewExpected(g)
	var buf []byte
	n := seconds * rate
	for i := range n {
		var m gen.Meta
		buf, m = g.Append(buf[:0], t0.Add(time.Duration(i)*time.Second/time.Duration(rate)))
		exp.Add(m, buf)
	}
	w := &workload{exp: exp, final: map[cellKey]cellVal{}, mood: map[Time]map[string]MoodRow{}}
	var late []CountRow
	for _, r := range exp.CountRows() {
		row := CountRow{WindowStart: Time(r.WindowStart), WindowEnd: Time(r.WindowStart + 2000), MatchID: r.Match, Emoji: r.Emoji, N: r.N}
		k := cellKey{row.WindowStart, row.MatchID, row.Emoji}
		if r.Late > 0 && r.N > r.Late {
			first := row
			first.N -= r.Late
			w.counts = append(w.counts, first)
			row.Revision = 1
			late = append(late, row)
		} else {
			w.counts = append(w.counts, row)
		}
		w.final[k] = cellVal{row.N, row.Revision}
	}
	// Late updates arrive after the first firings, and one stale first firing after its update.
	w.counts = append(w.counts, late...)
	if len(late) > 0 {
		stale := late[0]
		stale.Revision, stale.N = 0, 1
		w.counts = append(w.counts, stale)
	}
	for k, c := range exp.Mood() {
		row := MoodRow{WindowStart: Time(k.WindowStart), WindowEnd: Time(k.WindowStart + 10_000), MatchID: k.Match, N: c.N, Positive: c.Positive, Negative: c.Negative}
		if w.mood[row.WindowStart] == nil {
			w.mood[row.WindowStart] = map[string]MoodRow{}
		}
		w.mood[row.WindowStart][row.MatchID] = row
		w.moodRows = append(w.moodRows, row)
	}
	return w
}

// produceWorkload writes the workload's rows (and its malformed events as dead letters).
func produceWorkload(t testing.TB, cl *kgo.Client, w *workload) {
	t.Helper()
	var recs []*kgo.Record
	for _, r := range w.counts {
		recs = append(recs, jsonRecord(t, "emoji-counts", r.MatchID, r))
	}
	for _, r := range w.moodRows {
		recs = append(recs, jsonRecord(t, "emoji-mood", r.MatchID, r))
	}
	for i, b := range w.exp.Malformed() {
		recs = append(recs, dlqRec(b, reasonOf(b), i))
	}
	produce(t, cl, recs...)
}

func reasonOf(b []byte) string {
	switch {
	case !json.Valid(b):
		return "decode: invalid JSON"
	case !strings.Contains(string(b), `"ts"`):
		return "event time: missing field ts"
	}
	return "event time: ts is not a number"
}

func dlqRec(value []byte, reason string, offset int) *kgo.Record {
	return &kgo.Record{Topic: "emoji.dlq", Value: value, Headers: []kgo.RecordHeader{
		{Key: "glint.reason", Value: []byte(reason)},
		{Key: "glint.topic", Value: []byte("reactions")},
		{Key: "glint.partition", Value: []byte("2")},
		{Key: "glint.offset", Value: []byte(strconv.Itoa(offset))},
	}}
}

// sseClient reads "state" events from /events.
type sseClient struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openSSE(t testing.TB, s *Server) *sseClient {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &sseClient{resp: resp, sc: sc}
}

// next returns the next state event's view.
func (c *sseClient) next() (View, error) {
	var event, data string
	for c.sc.Scan() {
		line := c.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		case line == "" && data != "":
			if event != "state" {
				return View{}, fmt.Errorf("event %q", event)
			}
			var v View
			err := json.Unmarshal([]byte(data), &v)
			return v, err
		}
	}
	return View{}, fmt.Errorf("stream ended: %v", c.sc.Err())
}
