package emoji

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/examples/emoji/internal/browser"
)

// liveDOM is what the page shows, read through its data attributes.
type liveDOM struct {
	Version int    `json:"version"`
	Conn    string `json:"conn"`
	Counts  []struct {
		Match, Emoji string
		N, Rev       int64
	} `json:"counts"`
	Windows []struct {
		Match, Start string
		Total        int64
	} `json:"windows"`
	Mood []struct {
		Match, Start string
		N, Pos, Neg  int64
	} `json:"mood"`
	Tiles map[string]*float64 `json:"tiles"`
	Text  map[string]string   `json:"text"`
}

const liveScript = `
const q = (s) => [...document.querySelectorAll(s)];
const num = (v) => (v === undefined ? null : +v);
return {
  version: +(document.body.dataset.version ?? -1),
  conn: document.getElementById("conn").dataset.state,
  counts: q("[data-testid=count]").filter((e) => !e.closest(".bar-row").hidden).map((e) => ({
    Match: e.dataset.match, Emoji: e.dataset.emoji, N: +e.dataset.n, Rev: +e.dataset.revision})),
  windows: q("[data-testid=window]").map((e) => ({Match: e.dataset.match, Start: e.dataset.start ?? "", Total: +(e.dataset.total ?? -1)})),
  mood: q("[data-testid=mood]").filter((e) => e.dataset.start).map((e) => ({
    Match: e.dataset.match, Start: e.dataset.start, N: +e.dataset.n, Pos: +e.dataset.positive, Neg: +e.dataset.negative})),
  tiles: Object.fromEntries(["t-rate", "t-proc", "t-awm", "t-del", "t-lat"].map((id) => [id, num(document.getElementById(id).dataset.value)])),
  text: Object.fromEntries(["t-rate", "t-proc", "t-awm", "t-awm-sub", "t-del", "t-lat"].map((id) => [id, document.getElementById(id).textContent])),
};`

// TestBrowserLiveDemo drives the dashboard of a running demo (Run: embedded broker, generator,
// both jobs) in headless Chromium. The page must move on from window to window, and every
// closed window it shows must equal the newest revision of the emoji-counts rows for that
// window read from Kafka at the same moment (and its mood the newest emoji-mood row). The speed
// tiles must show figures. A screenshot goes to $GLINT_ARTIFACTS/emoji-demo-live.png.
func TestBrowserLiveDemo(t *testing.T) {
	browser.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	var out syncBuffer
	live := make(chan Live, 1)
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() {
		_, err := Run(ctx, Options{DataDir: dir, Addr: "127.0.0.1:0", Rate: 20_000, Seed: 7,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: &out,
			OnStart: func(l Live) { live <- l }})
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("demo: %v", err)
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})
	var l Live
	select {
	case l = <-live:
	case err := <-done:
		done <- err
		t.Fatalf("demo ended before it started: %v", err)
	}

	wd := browser.Start(t, 1480, 2350)
	wd.Navigate(l.Dashboard)
	kr := newOutputReader(t, l.Brokers)

	// Compare until the page has shown three successive windows of every match, each equal
	// to Kafka when read.
	verified := map[string]map[string]bool{} // match → window starts verified
	var d liveDOM
	var lastProblem string
	enough := func() bool {
		if len(verified) == 0 {
			return false
		}
		for _, starts := range verified {
			if len(starts) < 3 {
				return false
			}
		}
		return true
	}
	firstVersion := -1
	deadline := time.Now().Add(60 * time.Second)
	for !enough() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the page verified windows %v; last difference:\n%s", verified, lastProblem)
		}
		time.Sleep(150 * time.Millisecond)
		wd.Eval(liveScript, &d)
		kr.catchUp(ctx)
		if firstVersion < 0 && len(d.Windows) > 0 {
			firstVersion = d.Version
		}
		ok, problem := kr.matches(d)
		if problem != "" {
			lastProblem = problem
		}
		for _, w := range ok {
			if verified[w[0]] == nil {
				verified[w[0]] = map[string]bool{}
			}
			verified[w[0]][w[1]] = true
		}
	}
	if d.Version <= firstVersion || d.Conn != "live" {
		t.Fatalf("page version %d (first %d), connection %q", d.Version, firstVersion, d.Conn)
	}
	t.Logf("the page showed, equal to Kafka, the windows %v", verified)

	// The speed tiles: rates from the producer and the job's metrics, latency from the rows.
	wantTiles := func(d liveDOM) string {
		var p []string
		for _, id := range []string{"t-rate", "t-proc"} {
			if v := d.Tiles[id]; v == nil || *v <= 0 {
				p = append(p, fmt.Sprintf("%s shows %q", id, d.Text[id]))
			}
		}
		awm, lat, del := d.Tiles["t-awm"], d.Tiles["t-lat"], d.Tiles["t-del"]
		switch {
		case awm == nil || lat == nil || del == nil:
			p = append(p, fmt.Sprintf("latency tiles %q %q %q", d.Text["t-awm"], d.Text["t-lat"], d.Text["t-del"]))
		case *awm != *lat-2000 || !strings.Contains(d.Text["t-awm-sub"], "window end + 2.00 s"):
			p = append(p, fmt.Sprintf("after the watermark %v (%q), window end → dashboard %v", *awm, d.Text["t-awm-sub"], *lat))
		case *del < 0:
			p = append(p, fmt.Sprintf("delivery %v ms", *del))
		}
		return strings.Join(p, "; ")
	}
	for {
		wd.Eval(liveScript, &d)
		p := wantTiles(d)
		if p == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("speed tiles: %s", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("tiles: input %s/s, processed %s/s, after the watermark %s (%s), delivery %s, window end → dashboard %s",
		d.Text["t-rate"], d.Text["t-proc"], d.Text["t-awm"], d.Text["t-awm-sub"], d.Text["t-del"], d.Text["t-lat"])

	path := browser.ArtifactPath(t, "emoji-demo-live.png")
	time.Sleep(700 * time.Millisecond) // let the bar transitions (0.6 s) settle for the picture
	wd.Screenshot(path)
	t.Logf("screenshot: %s", path)
}

// outputReader reads emoji-counts and emoji-mood from the start (read_committed) and keeps the
// newest revision of every row.
type outputReader struct {
	t      testing.TB
	cl     *kgo.Client
	adm    *kadm.Client
	next   map[string]map[int32]int64
	counts map[[3]string]countRow // (match, window start ms, emoji)
	mood   map[[2]string]moodRow  // (match, window start ms)
}

func newOutputReader(t testing.TB, brokers []string) *outputReader {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(TopicCounts, TopicMood),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &outputReader{t: t, cl: cl, adm: kadm.NewClient(cl), next: map[string]map[int32]int64{},
		counts: map[[3]string]countRow{}, mood: map[[2]string]moodRow{}}
}

// catchUp reads both topics up to their end offsets as of now.
func (r *outputReader) catchUp(ctx context.Context) {
	r.t.Helper()
	ends, err := r.adm.ListEndOffsets(ctx, TopicCounts, TopicMood)
	if err != nil {
		r.t.Fatal(err)
	}
	behind := func() bool {
		found := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && r.next[o.Topic][o.Partition] < o.Offset {
				found = true
			}
		})
		return found
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for behind() {
		fs := r.cl.PollFetches(pctx)
		if pctx.Err() != nil {
			r.t.Fatalf("reading the output topics: %v", pctx.Err())
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if r.next[rec.Topic] == nil {
				r.next[rec.Topic] = map[int32]int64{}
			}
			r.next[rec.Topic][rec.Partition] = rec.Offset + 1
			r.apply(rec)
		})
	}
}

func (r *outputReader) apply(rec *kgo.Record) {
	switch rec.Topic {
	case TopicCounts:
		var c countRow
		if err := json.Unmarshal(rec.Value, &c); err != nil {
			r.t.Fatalf("emoji-counts row %s: %v", rec.Value, err)
		}
		k := [3]string{c.Match, fmt.Sprint(c.WindowStart.UnixMilli()), c.Emoji}
		if old, ok := r.counts[k]; !ok || c.Revision >= old.Revision {
			r.counts[k] = c
		}
	case TopicMood:
		var m moodRow
		if err := json.Unmarshal(rec.Value, &m); err != nil {
			r.t.Fatalf("emoji-mood row %s: %v", rec.Value, err)
		}
		k := [2]string{m.Match, fmt.Sprint(m.WindowStart.UnixMilli())}
		if old, ok := r.mood[k]; !ok || m.Revision >= old.Revision {
			r.mood[k] = m
		}
	}
}

// matches compares each match panel of the page with Kafka: the window it shows must be the
// newest closed window of that match in emoji-counts, and each of its bars the newest
// revision of that cell; the mood it shows must be the newest emoji-mood window. It returns
// the (match, window start) pairs that are equal, and what differs.
func (r *outputReader) matches(d liveDOM) (ok [][2]string, problem string) {
	var p []string
	bars := map[string]map[string][2]int64{} // match → emoji → (n, revision)
	for _, c := range d.Counts {
		if bars[c.Match] == nil {
			bars[c.Match] = map[string][2]int64{}
		}
		bars[c.Match][c.Emoji] = [2]int64{c.N, c.Rev}
	}
	newest := map[string]int64{} // match → newest window start in Kafka
	for k, c := range r.counts {
		newest[k[0]] = max(newest[k[0]], c.WindowStart.UnixMilli())
	}
	for _, w := range d.Windows {
		start, err := time.Parse(time.RFC3339, w.Start)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: window %q", w.Match, w.Start))
			continue
		}
		ms := start.UnixMilli()
		want := map[string][2]int64{}
		var total int64
		for k, c := range r.counts {
			if k[0] == w.Match && c.WindowStart.UnixMilli() == ms {
				want[c.Emoji] = [2]int64{c.N, c.Revision}
				total += c.N
			}
		}
		switch {
		case ms != newest[w.Match]:
			p = append(p, fmt.Sprintf("%s shows window %s, Kafka's newest is %s", w.Match, w.Start, time.UnixMilli(newest[w.Match]).UTC().Format(time.RFC3339)))
		case !maps.Equal(bars[w.Match], want) || w.Total != total:
			p = append(p, fmt.Sprintf("%s window %s: page shows %v (total %d), Kafka holds %v (total %d)", w.Match, w.Start, bars[w.Match], w.Total, want, total))
		default:
			ok = append(ok, [2]string{w.Match, w.Start})
		}
	}
	for _, m := range d.Mood {
		start, _ := time.Parse(time.RFC3339, m.Start)
		var newestMood moodRow
		for k, row := range r.mood {
			if k[0] == m.Match && row.WindowStart.After(newestMood.WindowStart) {
				newestMood = row
			}
		}
		if !start.Equal(newestMood.WindowStart) || m.N != newestMood.N || m.Pos != newestMood.Positive || m.Neg != newestMood.Negative {
			p = append(p, fmt.Sprintf("%s mood shows %+v, Kafka's newest %+v", m.Match, m, newestMood))
			ok = slices.DeleteFunc(ok, func(w [2]string) bool { return w[0] == m.Match })
		}
	}
	// A match with mood rows in Kafka must show one.
	shown := map[string]bool{}
	for _, m := range d.Mood {
		shown[m.Match] = true
	}
	for k := range r.mood {
		if !shown[k[0]] && len(d.Windows) > 0 {
			p = append(p, fmt.Sprintf("%s: Kafka has mood rows, the page shows none", k[0]))
			ok = slices.DeleteFunc(ok, func(w [2]string) bool { return w[0] == k[0] })
		}
	}
	if len(d.Windows) == 0 {
		p = append(p, "the page shows no window yet")
	}
	return ok, strings.Join(p, "\n")
}

// syncBuffer is a bytes.Buffer safe for the demo's goroutine and the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
