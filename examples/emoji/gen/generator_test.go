package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 15, 4, 0, 0, time.UTC)

// event is the wire format, decoded independently of the generator's encoder.
type event struct {
	EventID string          `json:"event_id"`
	MatchID string          `json:"match_id"`
	Emoji   string          `json:"emoji"`
	UserID  string          `json:"user_id"`
	TS      json.RawMessage `json:"ts"`
}

// decodeEvent is a strict reference decoder: the record must be a complete JSON object with
// every field present and ts a JSON integer.
func decodeEvent(b []byte) (event, int64, error) {
	var ev event
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, 0, err
	}
	if ev.EventID == "" || ev.MatchID == "" || ev.Emoji == "" || ev.UserID == "" {
		return ev, 0, errors.New("missing field")
	}
	if len(ev.TS) == 0 {
		return ev, 0, errors.New("missing ts")
	}
	ts, err := strconv.ParseInt(string(ev.TS), 10, 64)
	if err != nil {
		return ev, 0, errors.New("ts is not an integer: " + string(ev.TS))
	}
	return ev, ts, nil
}

type record struct {
	b    []byte
	meta Meta
}

// run generates n records arriving at rate per second from t0 (ms-granular clock).
func run(t testing.TB, cfg Config, n int, rate float64) []record {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]record, 0, n)
	var buf []byte
	for i := range n {
		now := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		var m Meta
		buf, m = g.Append(buf[:0], now)
		out = append(out, record{bytes.Clone(buf), m})
	}
	return out
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig(42)
	a := run(t, cfg, 50_000, 20_000)
	b := run(t, cfg, 50_000, 20_000)
	for i := range a {
		if !bytes.Equal(a[i].b, b[i].b) || a[i].meta != b[i].meta {
			t.Fatalf("record %d differs between runs with the same seed:\n%s %+v\n%s %+v", i, a[i].b, a[i].meta, b[i].b, b[i].meta)
		}
	}
	cfg.Seed = 43
	c := run(t, cfg, 1000, 20_000)
	same := 0
	for i := range c {
		if bytes.Equal(a[i].b, c[i].b) {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d of 1000 records equal under a different seed", same)
	}
}

func TestRecordsMatchMeta(t *testing.T) {
	cfg := DefaultConfig(7)
	recs := run(t, cfg, 200_000, 50_000)
	g, _ := New(cfg)
	seen := map[string]uint64{} // event_id -> seq
	var size, sizeN int
	for i, r := range recs {
		ev, ts, err := decodeEvent(r.b)
		if r.meta.Kind == KindMalformed {
			if err == nil {
				t.Fatalf("record %d is %v but decodes: %s", i, r.meta.Malformation, r.b)
			}
			checkMalformation(t, r)
			continue
		}
		if err != nil {
			t.Fatalf("record %d (%v) does not decode: %v: %s", i, r.meta.Kind, err, r.b)
		}
		size += len(r.b)
		sizeN++
		want := event{EventID: g.EventID(r.meta.Seq), MatchID: g.MatchID(r.meta.Match), Emoji: Emojis()[r.meta.Emoji].Glyph}
		if ev.EventID != want.EventID || ev.MatchID != want.MatchID || ev.Emoji != want.Emoji || ts != r.meta.TS {
			t.Fatalf("record %d: %s does not match meta %+v", i, r.b, r.meta)
		}
		if len(ev.UserID) != 8 || ev.UserID[0] != 'u' {
			t.Fatalf("record %d: bad user_id %q", i, ev.UserID)
		}
		if u, err := strconv.Atoi(ev.UserID[1:]); err != nil || u >= cfg.Users {
			t.Fatalf("record %d: user_id %q out of range", i, ev.UserID)
		}
		delay := r.meta.Arrival - ts
		if delay < 0 {
			t.Fatalf("record %d arrives before it was sent: %+v", i, r.meta)
		}
		if late := delay > cfg.MaxDelay.Milliseconds(); late != r.meta.Late {
			t.Fatalf("record %d: delay %d ms but Late=%v", i, delay, r.meta.Late)
		}
		maxLate := cfg.LateMax.Milliseconds()
		if r.meta.Kind == KindDuplicate {
			maxLate += 2000 // a retry leaves up to 2 s after the original arrived
		}
		if delay > maxLate {
			t.Fatalf("record %d: delay %d ms exceeds %d", i, delay, maxLate)
		}
		switch seq, dup := seen[ev.EventID]; {
		case r.meta.Kind == KindValid && dup:
			t.Fatalf("record %d: fresh event reuses event_id %s of seq %d", i, ev.EventID, seq)
		case r.meta.Kind == KindDuplicate && (!dup || seq != r.meta.Seq):
			t.Fatalf("record %d: retry of unseen event %s", i, ev.EventID)
		}
		seen[ev.EventID] = r.meta.Seq
	}
	if avg := float64(size) / float64(sizeN); avg < 95 || avg > 110 {
		t.Fatalf("average event size %.1f bytes, want about 100", avg)
	}
}

func checkMalformation(t *testing.T, r record) {
	t.Helper()
	s := string(r.b)
	switch r.meta.Malformation {
	case MalformedTruncated:
		if strings.HasSuffix(s, "}") && json.Valid(r.b) {
			t.Fatalf("truncated record is complete: %s", s)
		}
	case MalformedMissingTS:
		if !json.Valid(r.b) || strings.Contains(s, `"ts"`) {
			t.Fatalf("missing-ts record is not a ts-less object: %s", s)
		}
	case MalformedStringTS:
		if !strings.Contains(s, `"ts":"`+strconv.FormatInt(r.meta.TS, 10)+`"`) {
			t.Fatalf("string-ts record: %s", s)
		}
	default:
		t.Fatalf("malformed record without malformation: %+v", r.meta)
	}
}

func TestFractions(t *testing.T) {
	cfg := DefaultConfig(99)
	cfg.MalformedFraction, cfg.DuplicateFraction, cfg.LateFraction = 0.01, 0.02, 0.005
	const n = 400_000
	recs := run(t, cfg, n, 100_000)
	var kinds [3]float64
	var malformations [numMalformations]float64
	var lateFresh, fresh float64
	// A retry leaves at most 2 s after its original arrived (FIFO order included), so every
	// valid event that arrived 2 s before the end had its chance to be retried.
	end := recs[len(recs)-1].meta.Arrival
	retried := map[uint64]bool{}
	var settled, settledRetried float64
	for _, r := range recs {
		if r.meta.Kind == KindDuplicate {
			retried[r.meta.Seq] = true
		}
	}
	for _, r := range recs {
		if r.meta.Kind == KindValid && r.meta.Arrival < end-2000 {
			settled++
			if retried[r.meta.Seq] {
				settledRetried++
			}
		}
		kinds[r.meta.Kind]++
		malformations[r.meta.Malformation]++
		if r.meta.Kind != KindDuplicate {
			fresh++
			if r.meta.Late {
				lateFresh++
			}
		}
	}
	within := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.15*want {
			t.Errorf("%s fraction %.5f, want %.5f ±15%%", name, got, want)
		}
	}
	within("malformed", kinds[KindMalformed]/fresh, cfg.MalformedFraction)
	within("duplicate", settledRetried/settled, cfg.DuplicateFraction)
	within("late", lateFresh/fresh, cfg.LateFraction)
	for m := MalformedTruncated; m < numMalformations; m++ {
		within(m.String(), malformations[m]/kinds[KindMalformed], 1.0/3)
	}

	cfg.MalformedFraction, cfg.DuplicateFraction, cfg.LateFraction = 0, 0, 0
	for i, r := range run(t, cfg, 50_000, 100_000) {
		if r.meta.Kind != KindValid || r.meta.Late {
			t.Fatalf("record %d is %v (late=%v) with all fractions zero", i, r.meta.Kind, r.meta.Late)
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	recs := run(t, DefaultConfig(3), 100_000, 20_000)
	inversions, maxTS := 0, int64(0)
	for _, r := range recs {
		if r.meta.TS < maxTS {
			inversions++
		}
		maxTS = max(maxTS, r.meta.TS)
	}
	if inversions < len(recs)/10 {
		t.Fatalf("only %d of %d records arrive out of event-time order", inversions, len(recs))
	}
}

func TestSkew(t *testing.T) {
	cfg := DefaultConfig(5)
	cfg.MomentsPerMinute = 0 // base popularity only
	recs := run(t, cfg, 200_000, 50_000)
	var perMatch [4][numEmojis]int
	var matchN [4]int
	for _, r := range recs {
		perMatch[r.meta.Match][r.meta.Emoji]++
		matchN[r.meta.Match]++
	}
	for m := 1; m < 4; m++ {
		if matchN[m] >= matchN[m-1] {
			t.Errorf("match %d has %d records, not fewer than match %d (%d)", m+1, matchN[m], m, matchN[m-1])
		}
	}
	top := make(map[int]bool)
	for m := range perMatch {
		counts := perMatch[m][:]
		best, worst := 0, 0
		for e, c := range counts {
			if c > counts[best] {
				best = e
			}
			if c < counts[worst] {
				worst = e
			}
		}
		top[best] = true
		// Zipf with s=1.1 over 12 ranks: rank 1 is 1/12^-1.1 ≈ 15x rank 12.
		if counts[best] < 8*counts[worst] {
			t.Errorf("match %d: top emoji %d vs bottom %d, want a Zipf skew", m+1, counts[best], counts[worst])
		}
	}
	// Per-match twists: not all matches share one distribution.
	differ := false
	for m := 1; m < 4; m++ {
		if g0, _ := New(cfg); g0.emojiCum[m] != g0.emojiCum[0] {
			differ = true
		}
	}
	if !differ {
		t.Error("every match has the same emoji distribution")
	}
}

func TestMomentsSpike(t *testing.T) {
	cfg := DefaultConfig(11)
	cfg.LateFraction, cfg.DuplicateFraction, cfg.MalformedFraction = 0, 0, 0
	const rate = 10_000
	type bucket struct {
		match int
		tenth int64 // ts / 100 ms
	}
	hist := map[bucket]*[numEmojis]float64{}
	g, _ := New(cfg)
	var buf []byte
	for i := range 120 * rate { // two minutes
		var m Meta
		buf, m = g.Append(buf[:0], t0.Add(time.Duration(i)*time.Second/rate))
		k := bucket{m.Match, m.TS / 100}
		if hist[k] == nil {
			hist[k] = new([numEmojis]float64)
		}
		hist[k][m.Emoji]++
	}
	checked := map[MomentKind]int{}
	for m := range g.Matches() {
		share := func(set []int, from, to time.Time) float64 {
			var hit, all float64
			for b := from.UnixMilli() / 100; b < to.UnixMilli()/100; b++ {
				if h := hist[bucket{m, b}]; h != nil {
					for e, c := range h {
						all += c
						if slices.Contains(set, e) {
							hit += c
						}
					}
				}
			}
			return hit / all
		}
		for _, mo := range g.Moments(m, t0.Add(20*time.Second), t0.Add(110*time.Second)) {
			var set []int
			switch mo.Kind {
			case MomentSix:
				set = []int{eFire, eParty}
			case MomentWicket:
				set = []int{eCry, eAngry}
			default:
				continue
			}
			during := share(set, mo.At, mo.At.Add(2*time.Second))
			before := share(set, mo.At.Add(-20*time.Second), mo.At.Add(-15*time.Second))
			// Both peak at amplitude 4: over the first 2 s about 70% of reactions come from the
			// burst palette, in which the spike pair holds 70%.
			if during < 0.45 || during < before+0.15 {
				t.Errorf("match %d %v at %v: spike emoji share %.2f during, %.2f before", m+1, mo.Kind, mo.At, during, before)
			}
			checked[mo.Kind]++
		}
	}
	if checked[MomentSix] == 0 || checked[MomentWicket] == 0 {
		t.Fatalf("the timeline had no six or wicket to check: %v", checked)
	}
}

func TestTimelinePure(t *testing.T) {
	g1, _ := New(DefaultConfig(8))
	g2, _ := New(DefaultConfig(8))
	var buf []byte
	for i := range 10_000 { // advancing one generator must not change its timeline
		buf, _ = g1.Append(buf[:0], t0.Add(time.Duration(i)*time.Millisecond))
	}
	a := g1.Moments(1, t0, t0.Add(10*time.Minute))
	b := g2.Moments(1, t0, t0.Add(10*time.Minute))
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("timelines differ or are empty: %d vs %d moments", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("moment %d: %+v vs %+v", i, a[i], b[i])
		}
	}
	// About MomentsPerMinute per minute, each inside the asked range.
	if n := len(a); n < 15 || n > 35 {
		t.Fatalf("%d moments in 10 minutes, want about 25", n)
	}
}

func TestClockBackwards(t *testing.T) {
	g, _ := New(DefaultConfig(1))
	var buf []byte
	buf, m1 := g.Append(buf, t0.Add(time.Second))
	_, m2 := g.Append(buf, t0)
	if m2.Arrival != m1.Arrival {
		t.Fatalf("arrival went backwards: %d then %d", m1.Arrival, m2.Arrival)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig(1).Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Matches: 0, Users: 0, EmojiSkew: 0, MatchSkew: -1, MomentsPerMinute: 6, MaxDelay: 0,
		LateFraction: 0.6, DuplicateFraction: -1, MalformedFraction: math.NaN()}
	_, err := New(bad)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New(bad) = %v, want ErrConfig", err)
	}
	for _, field := range []string{"Matches", "Users", "EmojiSkew", "MatchSkew", "MomentsPerMinute", "MaxDelay", "LateMax", "LateFraction", "DuplicateFraction", "MalformedFraction"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	g, _ := New(DefaultConfig(2))
	buf := make([]byte, 0, 256)
	now := t0
	allocs := testing.AllocsPerRun(10_000, func() {
		now = now.Add(50 * time.Microsecond)
		buf, _ = g.Append(buf[:0], now)
	})
	if allocs != 0 {
		t.Fatalf("Append allocates %.2f times per record", allocs)
	}
}
