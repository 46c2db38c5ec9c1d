package dashboard

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 15, 4, 2, 0, time.UTC)

func ms(d time.Duration) Time { return TimeOf(t0.Add(d)) }

func countRow(match, emoji string, win int, n, rev int64) CountRow {
	start := time.Duration(win) * 2 * time.Second
	return CountRow{WindowStart: ms(start), WindowEnd: ms(start + 2*time.Second), MatchID: match, Emoji: emoji, N: n, Revision: rev}
}

func TestTimeJSON(t *testing.T) {
	for _, in := range []string{`"2026-11-22T15:04:02.000Z"`, `"2026-11-22T15:04:02Z"`, `"2026-11-22T16:04:02.000+01:00"`, `1795359842000`} {
		var v Time
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if v != TimeOf(t0) {
			t.Fatalf("%s decoded to %v, want %v", in, v.Std(), t0)
		}
	}
	b, _ := json.Marshal(TimeOf(t0.Add(123 * time.Millisecond)))
	if string(b) != `"2026-11-22T15:04:02.123Z"` {
		t.Fatalf("encoded %s", b)
	}
	var v Time
	if err := json.Unmarshal([]byte(`"yesterday"`), &v); err == nil {
		t.Fatal("decoded a bad time")
	}
}

func TestNewestRevisionWins(t *testing.T) {
	s := NewState(0, 0)
	now := t0.Add(10 * time.Second)
	steps := []struct {
		row  CountRow
		want int64 // n held for the row's cell afterwards
	}{
		{countRow("m1", "🔥", 0, 10, 0), 10},
		{countRow("m1", "🔥", 0, 12, 1), 12},
		{countRow("m1", "🔥", 0, 11, 0), 12}, // stale: older revision
		{countRow("m1", "🔥", 0, 13, 1), 13}, // same revision again: replaces
		{countRow("m1", "🔥", 0, 15, 3), 15},
		{countRow("m1", "😢", 0, 4, 0), 4},
	}
	for i, st := range steps {
		if err := s.ApplyCount(st.row, now, now); err != nil {
			t.Fatal(err)
		}
		v := s.View(now, nil, true)
		got := int64(-1)
		for _, e := range v.Matches[0].Windows[0].Emoji {
			if e.Emoji == st.row.Emoji {
				got = e.N
			}
		}
		if got != st.want {
			t.Fatalf("step %d: n=%d, want %d", i, got, st.want)
		}
	}
	v := s.View(now, nil, false)
	if v.StaleRows != 1 || v.LateUpdates != 3 || v.Rows.Counts != 6 {
		t.Fatalf("stale=%d late=%d rows=%d, want 1, 3, 6", v.StaleRows, v.LateUpdates, v.Rows.Counts)
	}
	w := v.Matches[0].Latest
	if w.Total != 19 || w.Emoji[0].Emoji != "🔥" || w.Emoji[0].Revision != 3 || v.Matches[0].Rate != 9.5 {
		t.Fatalf("latest window %+v rate %v", w, v.Matches[0].Rate)
	}
}

func TestLatestWindowAndRetention(t *testing.T) {
	s := NewState(3, 2)
	now := t0.Add(time.Minute)
	for _, win := range []int{0, 2, 1, 3, 4} {
		_ = s.ApplyCount(countRow("m10", "👏", win, int64(win+1), 0), now, time.Time{})
		_ = s.ApplyCount(countRow("m2", "👏", win, int64(win+1), 0), now, time.Time{})
	}
	_ = s.ApplyCount(countRow("m2", "👏", 0, 99, 1), now, time.Time{}) // evicted long ago
	v := s.View(now, nil, true)
	if v.Matches[0].MatchID != "m2" || v.Matches[1].MatchID != "m10" {
		t.Fatalf("matches in order %s, %s; want m2, m10", v.Matches[0].MatchID, v.Matches[1].MatchID)
	}
	for _, m := range v.Matches {
		if len(m.Windows) != 3 || m.Windows[0].WindowStart != ms(4*time.Second) || m.Latest.WindowStart != ms(8*time.Second) || m.Latest.Total != 5 {
			t.Fatalf("%s: windows %+v latest %+v", m.MatchID, m.Windows, m.Latest)
		}
	}
	if v.StaleRows != 1 {
		t.Fatalf("stale rows %d, want 1 (a revision of an evicted window)", v.StaleRows)
	}
	if v.Latency.Samples != 10 || v.Latency.Kafka != (Dist{}) {
		t.Fatalf("latency %+v: want 10 arrival samples and no Kafka samples (zero timestamps)", v.Latency)
	}
	if lag := *v.OutputLagMs; lag != float64((time.Minute - 10*time.Second).Milliseconds()) {
		t.Fatalf("output lag %v ms", lag)
	}
}

func TestMood(t *testing.T) {
	s := NewState(0, 3)
	mood := func(win int, n, pos, neg, rev int64) MoodRow {
		start := time.Duration(win) * 2 * time.Second
		return MoodRow{WindowStart: ms(start), WindowEnd: ms(start + 10*time.Second), MatchID: "m1", N: n, Positive: pos, Negative: neg, Revision: rev}
	}
	for _, r := range []MoodRow{mood(1, 10, 5, 2, 0), mood(0, 8, 4, 1, 0), mood(2, 9, 3, 3, 0), mood(3, 7, 1, 1, 0), mood(2, 12, 6, 3, 1), mood(2, 1, 1, 0, 0)} {
		if err := s.ApplyMood(r); err != nil {
			t.Fatal(err)
		}
	}
	got := s.View(t0, nil, false).Matches[0].Mood
	want := []MoodRow{mood(1, 10, 5, 2, 0), mood(2, 12, 6, 3, 1), mood(3, 7, 1, 1, 0)}
	if len(got) != len(want) {
		t.Fatalf("mood %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mood[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := s.ApplyMood(MoodRow{WindowStart: 0, WindowEnd: 10, MatchID: "m1", N: 1, Positive: 2}); !errors.Is(err, ErrBadRow) {
		t.Fatalf("positive > n accepted: %v", err)
	}
}

func TestBadRows(t *testing.T) {
	s := NewState(0, 0)
	for _, r := range []CountRow{
		{WindowStart: 0, WindowEnd: 2000, Emoji: "🔥", N: 1},
		{WindowStart: 2000, WindowEnd: 2000, MatchID: "m1", Emoji: "🔥", N: 1},
		{WindowStart: 0, WindowEnd: 2000, MatchID: "m1", Emoji: "🔥", N: -1},
	} {
		if err := s.ApplyCount(r, t0, t0); !errors.Is(err, ErrBadRow) {
			t.Fatalf("%+v: err %v", r, err)
		}
	}
	s.FetchError(errors.New("fetch emoji-counts/0: broker gone"))
	if v := s.View(t0, nil, false); v.BadRows != 3 || v.FetchErrors != 1 || v.LastFetch == "" || len(v.Matches) != 0 || v.OutputLagMs != nil {
		t.Fatalf("view after bad rows: %+v", v)
	}
}

// TestLatencyDist: the first row of window i of 100 reaches Kafka (i+1)/2 ms and the dashboard
// i+1 ms after the window's end; with a 20 ms watermark delay, "after the watermark" is i+1-20
// ms. Revisions and later first rows of other cells of the window add no sample.
func TestLatencyDist(t *testing.T) {
	s := NewState(0, 0)
	s.SetMaxOutOfOrderness(20 * time.Millisecond)
	for i := range 100 {
		r := countRow("m1", "🔥", i, 1, 0)
		end := r.WindowEnd.Std()
		_ = s.ApplyCount(r, end.Add(time.Duration(i+1)*time.Millisecond), end.Add(time.Duration(i+1)*time.Microsecond*500))
		r.Revision, r.N = 1, 2 // revisions are late by design: no sample
		_ = s.ApplyCount(r, end.Add(time.Hour), end.Add(time.Hour))
		r.Emoji, r.Revision = "😢", 0 // a cell a late event created after the firing: no sample
		_ = s.ApplyCount(r, end.Add(time.Hour), end.Add(time.Hour))
	}
	l := s.View(t0, nil, false).Latency
	half := Dist{Last: 50, P50: 25, P99: 49.5, Max: 50}
	if l.Samples != 100 || l.MaxOutOfOrdernessMs != 20 || l.Arrival != (Dist{Last: 100, P50: 50, P99: 99, Max: 100}) ||
		l.Kafka != half || l.Delivery != half || l.AfterWatermark != (Dist{Last: 80, P50: 30, P99: 79, Max: 80}) {
		t.Fatalf("latency %+v", l)
	}
	s.ResetLatency()
	if l := s.View(t0, nil, false).Latency; l.Samples != 0 || l.Arrival != (Dist{}) || l.Delivery != (Dist{}) || l.AfterWatermark != (Dist{}) {
		t.Fatalf("latency after reset %+v", l)
	}
}

func TestDLQ(t *testing.T) {
	s := NewState(0, 0)
	long := string(make([]byte, 500))
	for i := range 12 {
		reason := "decode"
		if i%3 == 0 {
			reason = "missing field ts"
		}
		s.ApplyDLQ(DLQRecord{Reason: reason, Topic: "reactions", Partition: 1, Offset: int64(i), Value: long})
	}
	d := s.View(t0, nil, false).DLQ
	if d.Total != 12 || d.ByReason["decode"] != 8 || d.ByReason["missing field ts"] != 4 || len(d.Recent) != dlqRecent || d.Recent[dlqRecent-1].Offset != 11 {
		t.Fatalf("dlq %+v", d)
	}
	// One kind of damage is one tally, whatever byte the decoder stopped at; the record keeps
	// the whole reason.
	for _, r := range []string{
		"invalid JSON: unexpected end of input at byte 3",
		"invalid JSON: unexpected end of input at byte 97",
		`field "ts": want number (epoch_ms), got string "1795367490361" at byte 88`,
		`field "ts": want number (epoch_ms), got string "1795367484127" at byte 88`,
		"ts at byte x",
	} {
		s.ApplyDLQ(DLQRecord{Reason: r})
	}
	d = s.View(t0, nil, false).DLQ
	if d.ByReason["invalid JSON: unexpected end of input"] != 2 || d.ByReason[`field "ts": want number (epoch_ms), got string "N"`] != 2 ||
		d.ByReason["ts at byte x"] != 1 || d.Recent[dlqRecent-2].Reason != `field "ts": want number (epoch_ms), got string "1795367484127" at byte 88` {
		t.Fatalf("dlq by reason %v, recent %+v", d.ByReason, d.Recent)
	}
	if n := len(d.Recent[0].Value); n > dlqValueMax+len("…") {
		t.Fatalf("dlq value kept %d bytes", n)
	}
}
