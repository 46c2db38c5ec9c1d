package operators

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

// Benchmarks over the emoji workload: keys (match, emoji), 8 matches × 12 emojis = 96 keys.
//
//	go test -run XXX -bench . -benchmem ./operators
//
// BenchmarkCeiling is the floor under any keyed aggregation in Go: build the key bytes, look
// them up in a map and bump a counter. Quote OnRecord as a ratio against it.

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCeiling: the minimum per-record work of a keyed count.
func BenchmarkCeiling(b *testing.B) {
	rows := emojiRows()
	m := make(map[string]*int64, len(rows))
	var buf []byte
	key := func(r row.Row) []byte { return append(append(append(buf[:0], r[0].S...), 0), r[1].S...) }
	for _, r := range rows {
		m[string(key(r))] = new(int64)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = key(rows[i%len(rows)])
		*m[string(buf)]++ // a lookup: m[string(buf)]++ would allocate the key
	}
	reportRate(b)
}

// BenchmarkOnRecord: the hot path alone, every (window, key) state existing, watermark fixed.
func BenchmarkOnRecord(b *testing.B) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		b.Run(kind.String(), func(b *testing.B) {
			w := emojiWindow(b, kind)
			rows := emojiRows()
			var out Output
			rec := Record{Time: 5_000}
			for _, r := range rows {
				rec.Row = r
				w.OnRecord(&rec, 0, &out)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rec.Row = rows[i%len(rows)]
				w.OnRecord(&rec, 0, &out)
			}
			reportRate(b)
		})
	}
}

// BenchmarkDriverLoop: what the task driver does per record, windows firing as event time
// advances (1 ms per record, up to 2 s out of order, 5 s allowed lateness): OnRecord,
// Observe, and OnWatermark when the watermark advanced. Rows are dropped by Reset every 1024
// records, as a driver hands them on.
func BenchmarkDriverLoop(b *testing.B) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		b.Run(kind.String(), func(b *testing.B) {
			w := emojiWindow(b, kind)
			wms := NewWatermarks([]WatermarkConfig{{MaxOutOfOrder: 2_000, IdleTimeout: 10_000}})
			rows := emojiRows()
			var out Output
			var emitted int
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ts := int64(i) - int64(i*7919%2_000) // out of order within 2 s
				rec := Record{Time: ts, Row: rows[i%len(rows)], Ref: i}
				w.OnRecord(&rec, wms.Current(), &out)
				if wm, ok := wms.Observe(0, ts, int64(i)/100); ok {
					w.OnWatermark(wm, &out)
				}
				if i%1024 == 0 {
					emitted += len(out.Rows)
					out.Reset()
				}
			}
			reportRate(b)
			b.ReportMetric(float64(emitted)/float64(b.N), "rows/record")
		})
	}
}

// BenchmarkMemoryPerPane measures the heap held per (window, key) state with one count: the
// unit in which window memory grows.
func BenchmarkMemoryPerPane(b *testing.B) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		b.Run(kind.String(), func(b *testing.B) {
			var perPane float64
			for b.Loop() {
				perPane = memoryPerPane(b, kind)
			}
			b.ReportMetric(perPane, "bytes/pane")
		})
	}
}

func memoryPerPane(b *testing.B, kind WindowKind) float64 {
	const windows = 500
	var rows []row.Row
	for m := range 8 * windows / 10 {
		for _, e := range emojis {
			rows = append(rows, row.Row{row.String(fmt.Sprintf("match-%d", m)), row.String(e), row.Int(1)})
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := emojiWindow(b, kind)
	var out Output
	rec := Record{}
	switch kind {
	case Session: // one session per key, as many keys as the others have panes
		for i := range windows * 96 {
			rec.Time, rec.Row = int64(i%1000), rows[i%len(rows)]
			if i >= len(rows) {
				rec.Row = row.Row{row.String(fmt.Sprintf("m%d", i)), row.String("x"), row.Int(1)}
			}
			w.OnRecord(&rec, math.MinInt64, &out)
		}
	default: // 96 keys in each of `windows` windows, none fired
		base := emojiRows()
		for win := range windows {
			for _, r := range base {
				rec.Time, rec.Row = int64(win)*10_000, r
				w.OnRecord(&rec, math.MinInt64, &out)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	panes := w.Stats().Panes
	runtime.KeepAlive(w)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(panes)
}

// BenchmarkVsCeiling interleaves rounds of the ceiling (key bytes + map lookup + increment)
// and of OnRecord on existing states, so that noise from a shared machine hits both alike,
// and reports the median ratio of their per-record times ("x-ceiling"; 1.0 would be as fast
// as a bare map count).
func BenchmarkVsCeiling(b *testing.B) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		b.Run(kind.String(), func(b *testing.B) {
			rows := emojiRows()
			m := make(map[string]*int64, len(rows))
			var buf []byte
			key := func(r row.Row) []byte { return append(append(append(buf[:0], r[0].S...), 0), r[1].S...) }
			for _, r := range rows {
				m[string(key(r))] = new(int64)
			}
			w := emojiWindow(b, kind)
			var out Output
			rec := Record{Time: 5_000}
			for _, r := range rows {
				rec.Row = r
				w.OnRecord(&rec, 0, &out)
			}
			const chunk = 20_000
			var ratios []float64
			var ceilNs, opNs float64
			for b.Loop() {
				t0 := time.Now()
				for i := range chunk {
					buf = key(rows[i%len(rows)])
					*m[string(buf)]++
				}
				t1 := time.Now()
				for i := range chunk {
					rec.Row = rows[i%len(rows)]
					w.OnRecord(&rec, 0, &out)
				}
				t2 := time.Now()
				c, o := float64(t1.Sub(t0).Nanoseconds())/chunk, float64(t2.Sub(t1).Nanoseconds())/chunk
				ratios = append(ratios, o/c)
				ceilNs, opNs = ceilNs+c, opNs+o
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "x-ceiling")
			b.ReportMetric(ceilNs/float64(len(ratios)), "ceiling-ns/rec")
			b.ReportMetric(opNs/float64(len(ratios)), "onrecord-ns/rec")
		})
	}
}
