package dashboard

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// State is the dashboard's model of the job's output: the newest revision of every retained
// (window, match, emoji) count, each match's mood windows, latency samples and dead-letter
// tallies. It is a pure state machine (no clock, no IO: the caller passes arrival times); not
// safe for concurrent use.
type State struct {
	retain     int // windows kept per match
	moodPoints int // mood windows shown per match
	matches    map[string]*matchState
	arrival    ring  // ms from window end to the row reaching the dashboard (first firings)
	kafka      ring  // ms from window end to the row's Kafka timestamp (first firings)
	delivery   ring  // ms from the row's Kafka timestamp to it reaching the dashboard (first firings)
	oooMs      int64 // the job's max_out_of_orderness: the watermark passes end at max event time end+oooMs
	newestEnd  Time
	dlq        dlqState
	version    int64

	countRows, moodRows int64
	lateUpdates, stale  int64
	badRows             int64
	lastBadRow          string
	fetchErrors         int64
	lastFetchError      string
}

type matchState struct {
	windows map[Time]*window // by window start
	mood    map[Time]MoodRow // by window start
	latest  Time             // start of the window with the greatest end
}

type window struct {
	start, end Time
	emoji      map[string]cell
}

type cell struct{ n, revision int64 }

type dlqState struct {
	total    int64
	byReason map[string]int64
	recent   []DLQRecord // newest last, at most dlqRecent
}

const (
	dlqRecent    = 8
	dlqValueMax  = 120
	latencyRing  = 1024
	defaultKeep  = 900
	defaultPoint = 90
)

// NewState returns an empty State keeping retain windows (and mood windows) per match and
// showing moodPoints mood windows per match; non-positive values take the defaults (900 and 90).
func NewState(retain, moodPoints int) *State {
	if retain <= 0 {
		retain = defaultKeep
	}
	if moodPoints <= 0 {
		moodPoints = defaultPoint
	}
	return &State{
		retain:     retain,
		moodPoints: moodPoints,
		matches:    make(map[string]*matchState),
		arrival:    newRing(latencyRing),
		kafka:      newRing(latencyRing),
		delivery:   newRing(latencyRing),
		dlq:        dlqState{byReason: make(map[string]int64)},
	}
}

// SetMaxOutOfOrderness tells the state the job's watermark delay: the watermark passes a
// window's end once an event of time end + d has been read. The latency "after the watermark"
// is measured from there (see LatencyView).
func (s *State) SetMaxOutOfOrderness(d time.Duration) { s.oooMs = d.Milliseconds() }

// ResetLatency forgets the latency samples taken so far (for example those of a warm-up).
func (s *State) ResetLatency() {
	s.arrival = newRing(latencyRing)
	s.kafka = newRing(latencyRing)
	s.delivery = newRing(latencyRing)
}

// Version counts the changes applied so far.
func (s *State) Version() int64 { return s.version }

func (s *State) match(id string) *matchState {
	m := s.matches[id]
	if m == nil {
		m = &matchState{windows: make(map[Time]*window), mood: make(map[Time]MoodRow)}
		s.matches[id] = m
	}
	return m
}

// ApplyCount applies an emoji-counts row that reached the dashboard at arrival and was written
// to Kafka at kafkaTS. A row older than the held revision of its cell is counted as stale and
// ignored; revisions count as late updates. The first row of a (match, window), if it is a
// first firing (revision 0), adds latency samples: one per window and match, because all rows of
// a firing travel together, and a later row with revision 0 is a cell that a late event
// created after the window fired, which measures lateness, not the pipeline.
func (s *State) ApplyCount(r CountRow, arrival, kafkaTS time.Time) error {
	if err := r.check(); err != nil {
		s.BadRow(err)
		return err
	}
	s.version++
	s.countRows++
	m := s.match(r.MatchID)
	w := m.windows[r.WindowStart]
	firstOfWindow := w == nil
	if w == nil {
		if len(m.windows) >= s.retain && r.WindowStart < m.oldest() {
			s.stale++ // older than everything retained: it would be evicted at once
			return nil
		}
		w = &window{start: r.WindowStart, end: r.WindowEnd, emoji: make(map[string]cell)}
		m.windows[r.WindowStart] = w
		m.evict(s.retain)
	}
	if c, ok := w.emoji[r.Emoji]; ok && c.revision > r.Revision {
		s.stale++
		return nil
	}
	w.emoji[r.Emoji] = cell{n: r.N, revision: r.Revision}
	if cur, ok := m.windows[m.latest]; !ok || r.WindowEnd > cur.end {
		m.latest = r.WindowStart
	}
	s.newestEnd = max(s.newestEnd, r.WindowEnd)
	if r.Revision > 0 {
		s.lateUpdates++
		return nil
	}
	if !firstOfWindow {
		return nil
	}
	end := r.WindowEnd.Std()
	s.arrival.add(float64(arrival.Sub(end)) / float64(time.Millisecond))
	if !kafkaTS.IsZero() {
		s.kafka.add(float64(kafkaTS.Sub(end)) / float64(time.Millisecond))
		s.delivery.add(float64(arrival.Sub(kafkaTS)) / float64(time.Millisecond))
	}
	return nil
}

func (m *matchState) oldest() Time {
	first := true
	var o Time
	for k := range m.windows {
		if first || k < o {
			o, first = k, false
		}
	}
	return o
}

func (m *matchState) evict(retain int) {
	for len(m.windows) > retain {
		delete(m.windows, m.oldest())
	}
	for len(m.mood) > retain {
		first := true
		var o Time
		for k := range m.mood {
			if first || k < o {
				o, first = k, false
			}
		}
		delete(m.mood, o)
	}
}

// ApplyMood applies an emoji-mood row; an older revision than the held one is stale.
func (s *State) ApplyMood(r MoodRow) error {
	if err := r.check(); err != nil {
		s.BadRow(err)
		return err
	}
	s.version++
	s.moodRows++
	m := s.match(r.MatchID)
	if cur, ok := m.mood[r.WindowStart]; ok && cur.Revision > r.Revision {
		s.stale++
		return nil
	}
	m.mood[r.WindowStart] = r
	m.evict(s.retain)
	return nil
}

// ApplyDLQ counts a dead-lettered record under its reason with the numbers that vary from
// record to record masked (see reasonKind), so that one kind of damage is one tally; the
// recent records keep the whole reason.
func (s *State) ApplyDLQ(d DLQRecord) {
	s.version++
	s.dlq.total++
	s.dlq.byReason[reasonKind(d.Reason)]++
	if len(d.Value) > dlqValueMax {
		d.Value = d.Value[:dlqValueMax] + "…"
	}
	s.dlq.recent = append(s.dlq.recent, d)
	if len(s.dlq.recent) > dlqRecent {
		s.dlq.recent = slices.Delete(s.dlq.recent, 0, len(s.dlq.recent)-dlqRecent)
	}
}

// BadRow counts an output row that could not be used.
func (s *State) BadRow(err error) {
	s.version++
	s.badRows++
	s.lastBadRow = err.Error()
}

// FetchError counts an error the Kafka client reported while fetching (it retries by itself).
func (s *State) FetchError(err error) {
	s.version++
	s.fetchErrors++
	s.lastFetchError = err.Error()
}

// View is what the dashboard shows, as /api/state and the SSE stream serve it.
type View struct {
	Version     int64              `json:"version"`
	Now         Time               `json:"now"`
	Matches     []MatchView        `json:"matches"`
	InputRate   float64            `json:"input_rate"`    // reactions/s over every match's latest window
	OutputLagMs *float64           `json:"output_lag_ms"` // now minus the newest window end seen; null before any row
	Latency     LatencyView        `json:"latency"`
	LateUpdates int64              `json:"late_updates"` // count rows with revision > 0
	StaleRows   int64              `json:"stale_rows"`   // rows older than the revision held
	BadRows     int64              `json:"bad_rows"`
	LastBadRow  string             `json:"last_bad_row,omitempty"`
	FetchErrors int64              `json:"fetch_errors"`
	LastFetch   string             `json:"last_fetch_error,omitempty"`
	Rows        RowTotals          `json:"rows"`
	DLQ         DLQView            `json:"dlq"`
	Stats       map[string]float64 `json:"stats"` // from the StatsFunc, as given
}

// RowTotals counts the output rows applied.
type RowTotals struct {
	Counts int64 `json:"counts"`
	Mood   int64 `json:"mood"`
}

// MatchView is one match's panel.
type MatchView struct {
	MatchID string       `json:"match_id"`
	Latest  *WindowView  `json:"latest"` // the window with the greatest end; null before any count row
	Rate    float64      `json:"rate"`   // reactions/s in Latest
	Mood    []MoodRow    `json:"mood"`   // the newest mood windows, oldest first
	Windows []WindowView `json:"windows,omitempty"`
}

// WindowView is one count window of a match.
type WindowView struct {
	WindowStart Time         `json:"window_start"`
	WindowEnd   Time         `json:"window_end"`
	Total       int64        `json:"total"`
	Emoji       []EmojiCount `json:"emoji"` // by n descending, then emoji
}

// EmojiCount is one cell of a window.
type EmojiCount struct {
	Emoji    string `json:"emoji"`
	N        int64  `json:"n"`
	Revision int64  `json:"revision"`
}

// LatencyView summarises the latency samples of the last (up to 1024) first firings, one per
// (match, window): see State.ApplyCount.
//
// A window can fire only once the watermark (max event time read − max_out_of_orderness) has
// passed its end, so "window end → dashboard" always includes the watermark delay the job is
// configured with. AfterWatermark takes it out: arrival − window end − max_out_of_orderness,
// the time from the moment an event of time end + max_out_of_orderness exists (and so could
// move the watermark past the end) to the row on the dashboard. It includes the event's trip
// to the job (network delay, the API's batching, Kafka), the job's processing and firing, and
// the row's delivery. Delivery is the last part alone: the engine fires a window as soon as
// the watermark passes its end and writes its rows then, so the row's Kafka timestamp is when
// it fired, and arrival − Kafka timestamp is Kafka → dashboard.
type LatencyView struct {
	Samples             int   `json:"samples"`
	MaxOutOfOrdernessMs int64 `json:"max_out_of_orderness_ms"`
	Arrival             Dist  `json:"arrival_ms"`         // dashboard arrival minus window end
	Kafka               Dist  `json:"kafka_ms"`           // Kafka record timestamp minus window end
	Delivery            Dist  `json:"delivery_ms"`        // dashboard arrival minus Kafka record timestamp
	AfterWatermark      Dist  `json:"after_watermark_ms"` // dashboard arrival minus window end minus max_out_of_orderness
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	Last float64 `json:"last"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// DLQView is the dead-letter panel.
type DLQView struct {
	Total    int64            `json:"total"`
	ByReason map[string]int64 `json:"by_reason"`
	Recent   []DLQRecord      `json:"recent"` // newest last
}

// View renders the state at now. With allWindows, every retained window of every match is
// included, oldest first. The caller owns the result.
func (s *State) View(now time.Time, stats map[string]float64, allWindows bool) View {
	v := View{
		Version:     s.version,
		Now:         TimeOf(now),
		Matches:     []MatchView{},
		LateUpdates: s.lateUpdates,
		StaleRows:   s.stale,
		BadRows:     s.badRows,
		LastBadRow:  s.lastBadRow,
		FetchErrors: s.fetchErrors,
		LastFetch:   s.lastFetchError,
		Rows:        RowTotals{Counts: s.countRows, Mood: s.moodRows},
		Latency:     s.latencyView(),
		DLQ: DLQView{
			Total:    s.dlq.total,
			ByReason: maps.Clone(s.dlq.byReason),
			Recent:   slices.Clone(s.dlq.recent),
		},
		Stats: maps.Clone(stats),
	}
	if v.Stats == nil {
		v.Stats = map[string]float64{}
	}
	if v.DLQ.Recent == nil {
		v.DLQ.Recent = []DLQRecord{}
	}
	if s.newestEnd != 0 {
		lag := float64(now.Sub(s.newestEnd.Std())) / float64(time.Millisecond)
		v.OutputLagMs = &lag
	}
	ids := slices.SortedFunc(maps.Keys(s.matches), naturalLess)
	for _, id := range ids {
		mv := s.matchView(id, allWindows)
		v.InputRate += mv.Rate
		v.Matches = append(v.Matches, mv)
	}
	return v
}

func (s *State) latencyView() LatencyView {
	l := LatencyView{Samples: s.arrival.len(), MaxOutOfOrdernessMs: s.oooMs,
		Arrival: s.arrival.dist(), Kafka: s.kafka.dist(), Delivery: s.delivery.dist()}
	if l.Samples > 0 { // quantiles commute with a constant shift
		o := float64(s.oooMs)
		a := l.Arrival
		l.AfterWatermark = Dist{Last: a.Last - o, P50: a.P50 - o, P99: a.P99 - o, Max: a.Max - o}
	}
	return l
}

func (s *State) matchView(id string, allWindows bool) MatchView {
	m := s.matches[id]
	mv := MatchView{MatchID: id, Mood: []MoodRow{}}
	if w, ok := m.windows[m.latest]; ok {
		wv := w.view()
		mv.Latest = &wv
		mv.Rate = float64(wv.Total) / (float64(w.end-w.start) / 1000)
	}
	starts := slices.Sorted(maps.Keys(m.mood))
	if len(starts) > s.moodPoints {
		starts = starts[len(starts)-s.moodPoints:]
	}
	for _, st := range starts {
		mv.Mood = append(mv.Mood, m.mood[st])
	}
	if allWindows {
		for _, st := range slices.Sorted(maps.Keys(m.windows)) {
			mv.Windows = append(mv.Windows, m.windows[st].view())
		}
	}
	return mv
}

func (w *window) view() WindowView {
	wv := WindowView{WindowStart: w.start, WindowEnd: w.end, Emoji: make([]EmojiCount, 0, len(w.emoji))}
	for e, c := range w.emoji {
		wv.Total += c.n
		wv.Emoji = append(wv.Emoji, EmojiCount{Emoji: e, N: c.n, Revision: c.revision})
	}
	slices.SortFunc(wv.Emoji, func(a, b EmojiCount) int {
		return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Emoji, b.Emoji))
	})
	return wv
}

// naturalLess orders "m2" before "m10": shorter ids first, then bytewise.
func naturalLess(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

// ring keeps the last n samples.
type ring struct {
	buf  []float64
	next int
	full bool
	last float64
}

func newRing(n int) ring { return ring{buf: make([]float64, n)} }

func (r *ring) add(v float64) {
	r.buf[r.next] = v
	r.last = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring) len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

func (r *ring) dist() Dist {
	n := r.len()
	if n == 0 {
		return Dist{}
	}
	s := slices.Clone(r.buf[:n])
	slices.Sort(s)
	q := func(p float64) float64 { return s[int(math.Ceil(p*float64(n)))-1] }
	return Dist{Last: r.last, P50: q(0.5), P99: q(0.99), Max: s[n-1]}
}

// reasonKind is a dead-letter reason without the numbers that vary from record to record: a
// trailing " at byte N" goes, and every other run of digits (the offending value, an offset)
// becomes "N".
func reasonKind(reason string) string {
	if i := strings.LastIndex(reason, " at byte "); i >= 0 && allDigits(reason[i+len(" at byte "):]) {
		reason = reason[:i]
	}
	var b strings.Builder
	digits := false
	for _, c := range reason {
		isDigit := c >= '0' && c <= '9'
		switch {
		case isDigit && !digits:
			b.WriteByte('N')
		case !isDigit:
			b.WriteRune(c)
		}
		digits = isDigit
	}
	return b.String()
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
