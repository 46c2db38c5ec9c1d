package dashboard

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/examples/emoji/gen"
	"github.com/glintstream/glint/examples/emoji/internal/browser"
)

// replay plays a generated workload's job output into Kafka window by window, as the emoji jobs
// would write it live: after window w closes, its count rows (first firings), the mood rows
// ending with it, late revisions of the window two before, and a share of the dead letters.
// The dashboard's clock is simulated and follows the replay, so latencies are those of a live
// run though the replay runs faster than real time: a window fires once the watermark (2 s of
// out-of-orderness) passes its end, its rows are written 60..140 ms later and reach the
// dashboard 150..400 ms later.
type replay struct {
	t       testing.TB
	cl      *kgo.Client
	srv     *Server
	now     atomic.Int64 // the dashboard's simulated clock, Unix ms
	stats   atomic.Pointer[map[string]float64]
	ends    []int64 // count window ends, ascending
	byEnd   map[int64][]*kgo.Record
	late    map[int64][]*kgo.Record // revisions, by the window end after which they are sent
	moodEnd map[int64][]*kgo.Record
	dead    [][]byte
	rates   map[int64]float64 // reactions/s per window end

	produced int64 // count + mood rows produced so far
	played   int64 // the end of the newest window played
	deadSent int
	final    map[cellKey]cellVal
	mood     map[string][]MoodRow // per match, by window start
}

// replayOOO is the replayed job's max_out_of_orderness, in ms.
const replayOOO = 2000

func newReplay(t testing.TB, cl *kgo.Client, seed uint64, seconds, rate int) *replay {
	g, err := gen.New(gen.DefaultConfig(seed))
	if err != nil {
		t.Fatal(err)
	}
	exp := gen.NewExpected(g)
	start := t0.Add(-time.Duration(seconds) * time.Second)
	var buf []byte
	for i := range seconds * rate {
		var m gen.Meta
		buf, m = g.Append(buf[:0], start.Add(time.Duration(i)*time.Second/time.Duration(rate)))
		exp.Add(m, buf)
	}
	dataEnd := t0.UnixMilli()
	r := &replay{t: t, cl: cl, byEnd: map[int64][]*kgo.Record{}, late: map[int64][]*kgo.Record{},
		moodEnd: map[int64][]*kgo.Record{}, dead: exp.Malformed(), rates: map[int64]float64{},
		final: map[cellKey]cellVal{}, mood: map[string][]MoodRow{}}
	jitter := func(end int64, lo, span int64) time.Time {
		return time.UnixMilli(end + lo + int64(uint64(end*2654435761)%uint64(span)))
	}
	for _, c := range exp.CountRows() {
		end := c.WindowStart + 2000
		if end > dataEnd {
			continue
		}
		row := CountRow{WindowStart: Time(c.WindowStart), WindowEnd: Time(end), MatchID: c.Match, Emoji: c.Emoji, N: c.N - c.Late}
		if row.N > 0 {
			rec := jsonRecord(t, "emoji-counts", row.MatchID, row)
			rec.Timestamp = jitter(end+replayOOO, 60, 80)
			r.byEnd[end] = append(r.byEnd[end], rec)
		}
		final := row
		if c.Late > 0 {
			final.N, final.Revision = c.N, 1
			rec := jsonRecord(t, "emoji-counts", row.MatchID, final)
			rec.Timestamp = jitter(end+4000, 100, 200)
			r.late[min(end+4000, dataEnd)] = append(r.late[min(end+4000, dataEnd)], rec)
		}
		if final.N > 0 {
			r.final[cellKey{final.WindowStart, final.MatchID, final.Emoji}] = cellVal{final.N, final.Revision}
		}
		r.rates[end] += float64(c.N) / 2
	}
	r.ends = slices.Sorted(maps.Keys(r.byEnd))
	for k, c := range exp.Mood() {
		end := k.WindowStart + 10_000
		if end > dataEnd || end < r.ends[0] {
			continue
		}
		row := MoodRow{WindowStart: Time(k.WindowStart), WindowEnd: Time(end), MatchID: k.Match, N: c.N, Positive: c.Positive, Negative: c.Negative}
		rec := jsonRecord(t, "emoji-mood", row.MatchID, row)
		rec.Timestamp = jitter(end+replayOOO, 60, 80)
		r.moodEnd[end] = append(r.moodEnd[end], rec)
		r.mood[row.MatchID] = append(r.mood[row.MatchID], row)
	}
	for _, rows := range r.mood {
		slices.SortFunc(rows, func(a, b MoodRow) int { return cmp.Compare(a.WindowStart, b.WindowStart) })
	}
	r.now.Store(r.ends[0])
	return r
}

func (r *replay) clock() time.Time { return time.UnixMilli(r.now.Load()) }

func (r *replay) statsFunc() map[string]float64 {
	if p := r.stats.Load(); p != nil {
		return maps.Clone(*p)
	}
	return nil
}

// play produces the output of windows ending in (from, to] and waits until the dashboard has
// applied each window before the next.
func (r *replay) play(from, to int64) {
	r.t.Helper()
	for i, end := range r.ends {
		if end <= from || end > to {
			continue
		}
		recs := slices.Concat(r.byEnd[end], r.moodEnd[end], r.late[end])
		r.produced += int64(len(recs))
		// Dead letters trickle in, spread over the windows.
		nDead := len(r.dead) * (i + 1) / len(r.ends)
		for ; r.deadSent < nDead; r.deadSent++ {
			recs = append(recs, dlqRec(r.dead[r.deadSent], reasonOf(r.dead[r.deadSent]), 1000*r.deadSent))
		}
		r.played = end
		r.now.Store(end + replayOOO + 150 + int64(uint64(end*40503)%250))
		r.stats.Store(&map[string]float64{
			"input_rate":       r.rates[end],
			"late_events":      float64(3 * i),
			"watermark_lag_ms": float64(1500 + uint64(end*7919)%400),
			"checkpoints":      float64(i / 5),
		})
		produce(r.t, r.cl, recs...)
		want := r.produced
		waitState(r.t, r.srv, false, func(v View) bool { return v.Rows.Counts+v.Rows.Mood == want })
	}
}

// revise sends revision+1 of the top cell of match's newest window, with by more reactions.
func (r *replay) revise(match string, by int64) {
	r.t.Helper()
	end := r.ends[len(r.ends)-1]
	var top CountRow
	for _, rec := range slices.Concat(r.byEnd[end], r.late[end]) {
		if row := mustCountRow(r.t, rec.Value); row.MatchID == match && int64(row.WindowEnd) == end && row.N > top.N {
			top = row
		}
	}
	top.N += by
	top.Revision++
	rec := jsonRecord(r.t, "emoji-counts", match, top)
	r.late[end] = append(r.late[end], rec)
	r.final[cellKey{top.WindowStart, top.MatchID, top.Emoji}] = cellVal{top.N, top.Revision}
	r.produced++
	produce(r.t, r.cl, rec)
	want := r.produced
	waitState(r.t, r.srv, false, func(v View) bool { return v.Rows.Counts+v.Rows.Mood == want })
}

// domState is what the page shows, read through data attributes and text.
type domState struct {
	Version int    `json:"version"`
	Conn    string `json:"conn"`
	Counts  []struct {
		Match, Emoji, Text string
		N, Rev             int64
	} `json:"counts"`
	Windows []struct {
		Match, Start string
		Total        int64
	} `json:"windows"`
	Mood []struct {
		Match, Start, PosText, NegText string
		N, Pos, Neg                    int64
		Points                         int
	} `json:"mood"`
	Tiles map[string]struct {
		Value float64
		Text  string
	} `json:"tiles"`
	Reasons map[string]int64 `json:"reasons"`
}

const domScript = `
const q = (s) => [...document.querySelectorAll(s)];
const tile = (id) => { const e = document.getElementById(id); return {Value: +(e.dataset.value ?? NaN), Text: e.textContent}; };
return {
  version: +(document.body.dataset.version ?? -1),
  conn: document.getElementById("conn").dataset.state,
  counts: q("[data-testid=count]").filter((e) => !e.closest(".bar-row").hidden).map((e) => ({
    Match: e.dataset.match, Emoji: e.dataset.emoji, Text: e.textContent, N: +e.dataset.n, Rev: +e.dataset.revision})),
  windows: q("[data-testid=window]").map((e) => ({Match: e.dataset.match, Start: e.dataset.start ?? "", Total: +(e.dataset.total ?? -1)})),
  mood: q("[data-testid=mood]").map((e) => ({
    Match: e.dataset.match, Start: e.dataset.start ?? "", N: +(e.dataset.n ?? -1), Pos: +(e.dataset.positive ?? -1), Neg: +(e.dataset.negative ?? -1),
    PosText: e.querySelector("[data-testid=mood-pos]").textContent, NegText: e.querySelector("[data-testid=mood-neg]").textContent,
    Points: (e.closest(".match").querySelector("[data-role=pos-line]").getAttribute("d") || "").split(/[ML]/).length - 1})),
  tiles: {rate: tile("t-rate"), dlq: tile("t-dlq"), late: tile("t-late"), wm: tile("t-wm")},
  reasons: Object.fromEntries(q("[data-testid=dlq-reason]").map((e) => [e.dataset.reason, +e.dataset.n])),
};`

// diff returns what the page shows differently from the rows produced up to now, or "".
func (r *replay) diff(d domState, moodPoints int) string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	latest := map[string]Time{}
	for k := range r.final {
		if k.start+2000 <= Time(r.played) && k.start > latest[k.match] {
			latest[k.match] = k.start
		}
	}
	// The newest revision of every cell of each match's latest window, produced so far.
	want := map[[2]string]int64{}
	for _, end := range r.ends {
		if end > r.played {
			break
		}
		for _, rec := range slices.Concat(r.byEnd[end], r.late[end]) {
			row := mustCountRow(r.t, rec.Value)
			if row.WindowStart == latest[row.MatchID] {
				want[[2]string{row.MatchID, row.Emoji}] = row.N
			}
		}
	}
	got := map[[2]string]int64{}
	for _, c := range d.Counts {
		got[[2]string{c.Match, c.Emoji}] = c.N
		if strings.ReplaceAll(c.Text, ",", "") != strconv.FormatInt(c.N, 10) {
			bad("%s %s shows %q for n=%d", c.Match, c.Emoji, c.Text, c.N)
		}
	}
	if !maps.Equal(got, want) {
		bad("counts shown %v, latest windows hold %v", got, want)
	}
	for _, w := range d.Windows {
		if w.Start != iso(latest[w.Match]) {
			bad("%s shows window %s, latest is %s", w.Match, w.Start, iso(latest[w.Match]))
		}
	}
	for _, m := range d.Mood {
		var rows []MoodRow
		for _, row := range r.mood[m.Match] {
			if int64(row.WindowEnd) <= r.played {
				rows = append(rows, row)
			}
		}
		last := rows[len(rows)-1]
		pct := func(x int64) string { return strconv.Itoa(int(math.Round(float64(x)*100/float64(last.N)))) + "%" }
		if m.Start != iso(last.WindowStart) || m.N != last.N || m.Pos != last.Positive || m.Neg != last.Negative ||
			m.PosText != pct(last.Positive) || m.NegText != pct(last.Negative) || m.Points != min(len(rows), moodPoints) {
			bad("%s mood shows %+v, newest row %+v of %d", m.Match, m, last, len(rows))
		}
	}
	if len(d.Windows) != len(latest) || len(d.Mood) != len(latest) {
		bad("%d windows and %d mood panels for %d matches", len(d.Windows), len(d.Mood), len(latest))
	}
	st := r.statsFunc()
	if d.Tiles["rate"].Value != st["input_rate"] || d.Tiles["late"].Value != st["late_events"] || d.Tiles["wm"].Value != st["watermark_lag_ms"] {
		bad("tiles %+v, stats %v", d.Tiles, st)
	}
	reasons := map[string]int64{}
	for _, b := range r.dead[:r.deadSent] {
		reasons[reasonOf(b)]++
	}
	if d.Tiles["dlq"].Value != float64(r.deadSent) || d.Tiles["dlq"].Text != strconv.Itoa(r.deadSent) || !maps.Equal(d.Reasons, reasons) {
		bad("dead letters shown %+v %v, produced %d %v", d.Tiles["dlq"], d.Reasons, r.deadSent, reasons)
	}
	if d.Conn != "live" {
		bad("connection %q", d.Conn)
	}
	return strings.Join(problems, "\n")
}

func mustCountRow(t testing.TB, b []byte) CountRow {
	var row CountRow
	if err := json.Unmarshal(b, &row); err != nil {
		t.Fatal(err)
	}
	return row
}

// TestBrowserDashboard drives the page in headless Chromium: it must show what the rows say,
// follow new rows over SSE, and look right (a screenshot goes to $GLINT_ARTIFACTS).
func TestBrowserDashboard(t *testing.T) {
	browser.Need(t)
	brokers := newCluster(t)
	cl := newProducer(t, brokers)
	r := newReplay(t, cl, 2026, 200, 2500)
	srv := startServer(t, brokers, WithNow(r.clock), WithStats(r.statsFunc), WithPushInterval(100*time.Millisecond),
		WithMaxOutOfOrderness(replayOOO*time.Millisecond))
	r.srv = srv
	cut := r.ends[len(r.ends)-3]
	r.play(0, cut)

	wd := browser.Start(t, 1480, 2400)
	wd.Navigate("http://" + srv.Addr() + "/")
	var d domState
	waitDOM := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			wd.Eval(domScript, &d)
			problem := r.diff(d, defaultPoint)
			if problem == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the page does not show the rows:\n%s", phase, problem)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitDOM("initial")
	firstVersion := d.Version

	// Live: the last windows close, with late revisions; the open page must follow over SSE.
	r.play(cut, r.ends[len(r.ends)-1])
	waitDOM("after new windows")
	// A late event revises the newest window of m1 after it was shown.
	r.revise("m1", 7)
	waitDOM("after a revision")
	if d.Version <= firstVersion {
		t.Fatalf("page version %d after update, was %d", d.Version, firstVersion)
	}
	revised, wantRevised := 0, 0
	for _, c := range d.Counts {
		if c.Rev > 0 {
			revised++
		}
	}
	for k, c := range r.final {
		if int64(k.start)+2000 == r.ends[len(r.ends)-1] && c.revision > 0 {
			wantRevised++
		}
	}
	if revised != wantRevised || revised == 0 {
		t.Fatalf("%d bars show a revision, want %d", revised, wantRevised)
	}
	t.Logf("page shows %d bars (%d revised), version %d", len(d.Counts), revised, d.Version)

	path := browser.ArtifactPath(t, "emoji-dashboard.png")
	time.Sleep(800 * time.Millisecond) // let the bar transitions (0.6 s) settle for the picture
	wd.Screenshot(path)
	t.Logf("screenshot: %s", path)
}

func iso(t Time) string { return t.Std().Format(rfc3339Milli) }
