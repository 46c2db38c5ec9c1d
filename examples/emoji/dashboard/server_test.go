package dashboard

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAPIStateEqualsRows feeds a realistic set of output rows (with late revisions and a stale
// row) through Kafka and checks that /api/state holds exactly the newest revision of each.
func TestAPIStateEqualsRows(t *testing.T) {
	brokers := newCluster(t)
	w := makeWorkload(t, 3, 40, 2000)
	produceWorkload(t, newProducer(t, brokers), w)
	stats := map[string]float64{"input_rate": 2000, "late_events": 7, "watermark_lag_ms": 1500}
	s := startServer(t, brokers, WithRetention(100_000, 100_000), WithStats(func() map[string]float64 { return maps.Clone(stats) }))

	dead := w.exp.Malformed()
	v := waitState(t, s, true, func(v View) bool {
		return v.Rows.Counts == int64(len(w.counts)) && v.Rows.Mood == int64(len(w.moodRows)) && v.DLQ.Total == int64(len(dead))
	})

	got := map[cellKey]cellVal{}
	for _, m := range v.Matches {
		var newest Time
		for _, win := range m.Windows {
			var total int64
			for _, e := range win.Emoji {
				got[cellKey{win.WindowStart, m.MatchID, e.Emoji}] = cellVal{e.N, e.Revision}
				total += e.N
			}
			if total != win.Total || win.WindowEnd != win.WindowStart+2000 {
				t.Fatalf("%s window %v: total %d, emoji sum %d, end %v", m.MatchID, win.WindowStart, win.Total, total, win.WindowEnd)
			}
			newest = max(newest, win.WindowStart)
		}
		if m.Latest == nil || m.Latest.WindowStart != newest {
			t.Fatalf("%s latest window %+v, newest retained %v", m.MatchID, m.Latest, newest)
		}
		for _, r := range m.Mood {
			if want := w.mood[r.WindowStart][m.MatchID]; r != want {
				t.Fatalf("mood %+v, produced %+v", r, want)
			}
		}
		if len(m.Mood) == 0 {
			t.Fatalf("%s: no mood", m.MatchID)
		}
	}
	if !maps.Equal(got, w.final) {
		for k, want := range w.final {
			if got[k] != want {
				t.Errorf("%+v: state %+v, newest produced %+v", k, got[k], want)
			}
		}
		t.Fatalf("state has %d cells, produced %d", len(got), len(w.final))
	}
	var moodN int
	for _, m := range v.Matches {
		moodN += len(m.Mood)
	}
	if moodN != len(w.moodRows) {
		t.Fatalf("state has %d mood rows, produced %d", moodN, len(w.moodRows))
	}
	late := 0
	for _, c := range w.final {
		if c.revision > 0 {
			late++
		}
	}
	if late == 0 || v.LateUpdates != int64(late) || v.StaleRows != 1 || v.BadRows != 0 {
		t.Fatalf("late updates %d (produced %d), stale %d, bad %d", v.LateUpdates, late, v.StaleRows, v.BadRows)
	}
	if !maps.Equal(v.Stats, stats) {
		t.Fatalf("stats %v, want %v", v.Stats, stats)
	}
	wantReasons := map[string]int64{}
	for _, b := range dead {
		wantReasons[reasonOf(b)]++
	}
	if !maps.Equal(v.DLQ.ByReason, wantReasons) || len(v.DLQ.Recent) == 0 || v.DLQ.Recent[0].Topic != "reactions" || v.DLQ.Recent[0].Partition != 2 {
		t.Fatalf("dlq %+v, want reasons %v", v.DLQ, wantReasons)
	}
	if v.Latency.Samples == 0 || v.InputRate <= 0 {
		t.Fatalf("latency samples %d, input rate %v", v.Latency.Samples, v.InputRate)
	}
	// Without ?windows=all the view carries no window lists.
	if lean := getState(t, s, false); len(lean.Matches) != len(v.Matches) || lean.Matches[0].Windows != nil {
		t.Fatalf("lean view has windows: %+v", lean.Matches[0].Windows)
	}
}

// TestSSEDeliversUpdates checks the stream sends the current state at once and then each new
// row's effect.
func TestSSEDeliversUpdates(t *testing.T) {
	brokers := newCluster(t)
	cl := newProducer(t, brokers)
	produce(t, cl, jsonRecord(t, "emoji-counts", "m1", countRow("m1", "🔥", 0, 10, 0)))
	s := startServer(t, brokers, WithPushInterval(20*time.Millisecond))
	waitState(t, s, false, func(v View) bool { return v.Rows.Counts == 1 })

	sse := openSSE(t, s)
	v, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Matches) != 1 || v.Matches[0].Latest.Emoji[0].N != 10 {
		t.Fatalf("first event %+v", v)
	}
	steps := []struct {
		rec  CountRow
		want func(View) bool
	}{
		{countRow("m1", "🔥", 1, 20, 0), func(v View) bool {
			return v.Matches[0].Latest.WindowStart == ms(2*time.Second) && v.Matches[0].Latest.Total == 20
		}},
		{countRow("m1", "🔥", 1, 25, 1), func(v View) bool {
			e := v.Matches[0].Latest.Emoji[0]
			return e.N == 25 && e.Revision == 1 && v.LateUpdates == 1
		}},
		{countRow("m2", "😢", 1, 5, 0), func(v View) bool {
			return len(v.Matches) == 2 && v.Matches[1].MatchID == "m2" && v.Matches[1].Latest.Total == 5
		}},
	}
	for i, st := range steps {
		produce(t, cl, jsonRecord(t, "emoji-counts", st.rec.MatchID, st.rec))
		for {
			v, err := sse.next()
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if st.want(v) {
				break
			}
		}
	}
}

// TestReadCommitted: rows of an aborted transaction never show; committed ones do.
func TestReadCommitted(t *testing.T) {
	brokers := newCluster(t)
	txn := newProducer(t, brokers, kgo.TransactionalID("emoji-job"))
	ctx := context.Background()
	for _, commit := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		n := int64(666)
		if commit {
			n = 42
		}
		produce(t, txn, jsonRecord(t, "emoji-counts", "m1", countRow("m1", "🔥", 0, n, 0)))
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	plain := newProducer(t, brokers)
	produce(t, plain, jsonRecord(t, "emoji-counts", "m1", countRow("m1", "👏", 0, 1, 0)))
	s := startServer(t, brokers)
	// All rows share a key, hence a partition: once the last (plain) row is in, everything
	// before it, the aborted row included, has been read or skipped.
	v := waitState(t, s, true, func(v View) bool {
		for _, m := range v.Matches {
			for _, e := range m.Latest.Emoji {
				if e.Emoji == "👏" {
					return true
				}
			}
		}
		return false
	})
	if v.Rows.Counts != 2 || v.Matches[0].Latest.Emoji[0].N != 42 {
		t.Fatalf("rows %d, latest %+v: want the committed 42 and the plain row only", v.Rows.Counts, v.Matches[0].Latest)
	}
}

// TestStartOffsets reads from given offsets only.
func TestStartOffsets(t *testing.T) {
	brokers := newCluster(t)
	cl := newProducer(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for win := range 5 {
		r := jsonRecord(t, "emoji-counts", "m1", countRow("m1", "🔥", win, int64(win+1), 0))
		r.Partition = 0
		produce(t, cl, r)
	}
	s := startServer(t, brokers, WithPartitionOffsets(map[string]map[int32]kgo.Offset{
		"emoji-counts": {0: kgo.NewOffset().At(3)},
	}))
	v := waitState(t, s, true, func(v View) bool { return v.Rows.Counts == 2 })
	if w := v.Matches[0].Windows; len(w) != 2 || w[0].WindowStart != ms(6*time.Second) {
		t.Fatalf("windows %+v, want those of offsets 3 and 4", w)
	}

	// From the end: the five rows are never read. The client resolves "the end" on its own
	// schedule, so keep appending an undecodable row until one shows up.
	s2 := startServer(t, brokers, WithTopics("emoji-counts", "", ""), WithStartOffset(kgo.NewOffset().AtEnd()))
	deadline := time.Now().Add(30 * time.Second)
	for v = getState(t, s2, false); v.BadRows == 0; v = getState(t, s2, false) {
		if time.Now().After(deadline) {
			t.Fatal("no row read from the end")
		}
		produce(t, cl, &kgo.Record{Topic: "emoji-counts", Partition: 0, Value: []byte(`{"match_id":"m1"`)})
		time.Sleep(50 * time.Millisecond)
	}
	if v.Rows.Counts != 0 || !strings.Contains(v.LastBadRow, "emoji-counts/0@") || strings.Contains(v.LastBadRow, "@4:") {
		t.Fatalf("from the end: rows %d, last bad row %q", v.Rows.Counts, v.LastBadRow)
	}
}

func TestPageAndAssets(t *testing.T) {
	brokers := newCluster(t)
	s := startServer(t, brokers)
	for path, want := range map[string]string{
		"/":          `<template id="match-tpl">`,
		"/app.js":    `new EventSource("events")`,
		"/style.css": `--bg:`,
		"/healthz":   "ok",
	} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	page := readAll(t, "http://"+s.Addr()+"/") + readAll(t, "http://"+s.Addr()+"/app.js") + readAll(t, "http://"+s.Addr()+"/style.css")
	for _, ref := range []string{`src="http`, `href="http`, `src="//`, `href="//`, `url(http`, `@import`, `fetch("http`} {
		if strings.Contains(page, ref) {
			t.Fatalf("the page loads something from another origin: %s", ref)
		}
	}
}

func readAll(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestOptions(t *testing.T) {
	_, err := New(WithTopics("", "", ""), WithPushInterval(0), WithRetention(0, 1), WithNow(nil))
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
	for _, opt := range []string{"WithBrokers", "WithTopics", "WithPushInterval", "WithRetention", "WithNow"} {
		if !strings.Contains(err.Error(), opt+":") {
			t.Errorf("error does not name %s: %v", opt, err)
		}
	}
}
