package operators

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// BenchmarkCheckpoint1MKeys measures a checkpoint of a tumbling window holding 1,000,000 keys
// (one pane each), as the task driver takes it: Capture on the owner's goroutine, encode on
// another while the owner keeps processing records for those keys, then restore.
//
//	go test -run XXX -bench Checkpoint1MKeys -benchtime 4x -timeout 1h ./operators
//
// Metrics (median over iterations unless said):
//
//	pause-ms          Capture on the owner's goroutine: the time input stops.
//	p999-record-ms, max-record-ms  the 99.9th percentile and the slowest single OnRecord
//	                  while the encode runs, over all iterations but the first: records that
//	                  copy a page held by the capture (into a recycled page), plus whatever the
//	                  machine does to the owner.
//	p999-record-first-ms, max-record-first-ms  the same in the first iteration, whose copies
//	                  allocate (nothing to recycle yet) and so may assist the GC.
//	encode-ms         Capture().AppendSnapshot on another goroutine, concurrent with the owner.
//	restore-ms        NewWindow + Restore of the snapshot.
//	snapshot-MB       the snapshot's size.
//	page-copies       pages the owner copied while the capture was outstanding.
//	rec-during-encode records the owner processed while the encode ran.
//	p999-record-idle-ms, max-record-idle-ms  the same over as many records with no capture
//	                  outstanding: the stalls the machine (scheduler, GC) causes anyway.
//	p999-record-nocopy-ms, max-record-nocopy-ms  the same while a capture is encoded but the
//	                  records only touch one page: a concurrent encoder without copies.
//
// Ceilings, measured in the same run:
//
//	direct-encode-ms  Window.AppendSnapshot on the owner: what the pause was before Capture.
//	deepcopy-ms       copying every pane's accumulators into a new slice: the pause of a
//	                  capture by deep copy (the alternative to copy-on-write).
//	memcpy-ms         copying snapshot-MB bytes into a buffer that exists: the floor under any
//	                  encode or restore.
func BenchmarkCheckpoint1MKeys(b *testing.B) {
	for _, c := range []struct {
		name string
		aggs []string
	}{
		{"count-sum", []string{"count", "sum"}},
		{"count-sum-avg-min-max", []string{"count", "sum", "avg", "min", "max"}},
		{"count-sum-hll", []string{"count", "sum", "approx_count_distinct"}},
	} {
		b.Run(c.name, func(b *testing.B) { benchCheckpoint(b, 1_000_000, c.aggs) })
	}
}

var ckptSchema = row.Schema{Fields: []row.Field{
	{Name: "user", Type: row.TypeString},
	{Name: "v", Type: row.TypeInt},
}}

func ckptWindow(b testing.TB, aggs []string) *Window {
	cfg := WindowConfig{Kind: Tumbling, Size: 60_000, Input: ckptSchema, Keys: []int{0}, AllowedLateness: 5_000}
	for _, a := range aggs {
		arg := 1
		if a == "count" {
			arg = -1
		}
		f, err := agg.New(a, row.TypeInt, arg >= 0)
		if err != nil {
			b.Fatal(err)
		}
		cfg.Aggs = append(cfg.Aggs, AggColumn{Name: a, Func: f, Arg: arg})
	}
	w, err := NewWindow(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func benchCheckpoint(b *testing.B, nKeys int, aggs []string) {
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%07d", i)
	}
	w := ckptWindow(b, aggs)
	var out Output
	rec := Record{Time: 5_000, Row: row.Row{{}, {}}}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] }) // arrival order
	for i, k := range keys {
		rec.Row[0], rec.Row[1] = row.String(k), row.Int(int64(i%1000))
		w.OnRecord(&rec, 0, &out)
	}
	if st := w.Stats(); st.Panes != nKeys || len(out.Rows) != 0 {
		b.Fatalf("setup: %+v", st)
	}
	// drive adds n records for random keys among the first span to arrive, appending each
	// OnRecord's latency to lat.
	drive := func(lat []time.Duration, n, span int) []time.Duration {
		for i := range n {
			rec.Row[0], rec.Row[1] = row.String(keys[rng.IntN(span)]), row.Int(int64(i%1000))
			t := time.Now()
			w.OnRecord(&rec, 0, &out)
			lat = append(lat, time.Since(t))
		}
		return lat
	}
	// whileEncoding drives records until encode, running on another goroutine, is done.
	whileEncoding := func(encode func(), span int) []time.Duration {
		done := make(chan struct{})
		go func() { encode(); close(done) }()
		var lat []time.Duration
		for {
			select {
			case <-done:
				return lat
			default:
				lat = drive(lat, 256, span)
			}
		}
	}
	var pause, encode, restore, direct, deep, memcpy, copies []float64
	var latFirst, lat, latIdle, latNoCopy []time.Duration // per record
	var size int
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	var snap []byte
	runtime.GC()
	for b.Loop() {
		// Capture on the owner, encode on another goroutine while the owner goes on.
		copies0 := w.Stats().PageCopies
		t0 := time.Now()
		c := w.Capture()
		pause = append(pause, ms(time.Since(t0)))
		l := whileEncoding(func() {
			t := time.Now()
			snap = c.AppendSnapshot(snap[:0])
			encode = append(encode, ms(time.Since(t)))
			c.Release()
		}, nKeys)
		if len(pause) == 1 {
			latFirst = l // the pool of pages is empty: the owner's copies allocate
		} else {
			lat = append(lat, l...)
		}
		copies = append(copies, float64(w.Stats().PageCopies-copies0))
		size = len(snap)
		// Controls: as many records with no capture outstanding (the machine's own stalls),
		// and records while a capture is encoded that touch the keys of one page only (no
		// copies: what the concurrent encoder and its garbage cost the owner).
		latIdle = drive(latIdle, len(l), nKeys)
		c = w.Capture()
		latNoCopy = append(latNoCopy, whileEncoding(func() { c.AppendSnapshot(nil); c.Release() }, pageRows/2)...)

		// Restore.
		t0 = time.Now()
		w2 := ckptWindow(b, aggs)
		if err := w2.Restore(snap); err != nil {
			b.Fatal(err)
		}
		restore = append(restore, ms(time.Since(t0)))
		if st := w2.Stats(); st.Panes != nKeys {
			b.Fatalf("restored %d panes", st.Panes)
		}
		w2 = nil
		runtime.GC()

		// Ceilings.
		t0 = time.Now()
		direct0 := w.AppendSnapshot(nil)
		direct = append(direct, ms(time.Since(t0)))
		if len(direct0) == 0 {
			b.Fatal("empty snapshot")
		}
		direct0 = nil
		deep = append(deep, ms(deepCopyPanes(w)))
		buf := make([]byte, len(snap))
		copy(buf, snap) // touch the pages first
		t0 = time.Now()
		copy(buf, snap)
		memcpy = append(memcpy, ms(time.Since(t0)))
		runtime.GC()
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(pause), "pause-ms")
	pct := func(l []time.Duration, p float64) float64 {
		slices.Sort(l)
		return ms(l[min(len(l)-1, int(float64(len(l))*p))])
	}
	b.ReportMetric(pct(latFirst, 0.999), "p999-record-first-ms")
	b.ReportMetric(pct(latFirst, 1), "max-record-first-ms")
	if len(lat) > 0 {
		b.ReportMetric(pct(lat, 0.999), "p999-record-ms")
		b.ReportMetric(pct(lat, 1), "max-record-ms")
	}
	b.ReportMetric(pct(latIdle, 0.999), "p999-record-idle-ms")
	b.ReportMetric(pct(latIdle, 1), "max-record-idle-ms")
	b.ReportMetric(pct(latNoCopy, 0.999), "p999-record-nocopy-ms")
	b.ReportMetric(pct(latNoCopy, 1), "max-record-nocopy-ms")
	b.ReportMetric(float64(len(latFirst)+len(lat))/float64(len(pause)), "rec-during-encode")
	b.ReportMetric(med(encode), "encode-ms")
	b.ReportMetric(med(restore), "restore-ms")
	b.ReportMetric(float64(size)/1e6, "snapshot-MB")
	b.ReportMetric(med(copies), "page-copies")
	b.ReportMetric(med(direct), "direct-encode-ms")
	b.ReportMetric(med(deep), "deepcopy-ms")
	b.ReportMetric(med(memcpy), "memcpy-ms")
}

// deepCopyPanes copies every pane's accumulators (cloning sketches) into new slices, as a
// capture by deep copy would, and returns how long it took.
func deepCopyPanes(w *Window) time.Duration {
	t0 := time.Now()
	var copies [][]agg.Accumulator
	for _, pw := range w.fixed.wins {
		for _, pg := range pw.panes.list {
			c := make([]agg.Accumulator, len(pg.accs))
			for i := range pg.accs {
				c[i] = cloneAccumulator(&pg.accs[i])
			}
			copies = append(copies, c)
		}
	}
	d := time.Since(t0)
	runtime.KeepAlive(copies)
	return d
}
