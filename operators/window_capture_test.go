package operators

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// Tests of Capture: a capture encodes to the bytes AppendSnapshot gave when it was taken,
// however the window changes before (or while) it is encoded, and those bytes restore to an
// operator that continues exactly as the original did.

// captureAggs are genAggs plus the aggregates whose state is not plain values: sets of
// strings and sketches (approx_count_distinct), whose pages must be deep-copied.
func captureAggs(t testing.TB) []AggColumn {
	aggs := genAggs(t)
	approxK, err := agg.New("approx_count_distinct", row.TypeString, true)
	if err != nil {
		t.Fatal(err)
	}
	distinctK, err := agg.New("count_distinct", row.TypeString, true)
	if err != nil {
		t.Fatal(err)
	}
	minK, err := agg.New("min", row.TypeString, true)
	if err != nil {
		t.Fatal(err)
	}
	return append(aggs,
		mustAgg(t, "avg", "avg", 2),
		mustAgg(t, "hv", "approx_count_distinct", 2),
		AggColumn{Name: "hk", Func: approxK, Arg: 0},
		AggColumn{Name: "dk", Func: distinctK, Arg: 0},
		AggColumn{Name: "mk", Func: minK, Arg: 0},
	)
}

// bigScenario is genScenario with many keys (k0000..), so that windows and the session store
// span several pages of pageRows, sessions open and close all the time (rows reused), and
// windows fire and purge while captures are outstanding.
func bigScenario(t testing.TB, rng *rand.Rand, kind WindowKind, nOps, nKeys int) scenario {
	cfg := WindowConfig{Kind: kind, Input: genSchema, Keys: []int{0}, Aggs: captureAggs(t)}
	switch kind {
	case Tumbling:
		cfg.Size = 20 + rng.Int64N(20)
	case Sliding:
		cfg.Size = 30 + rng.Int64N(30)
		cfg.Slide = cfg.Size / (2 + rng.Int64N(3))
	case Session:
		cfg.Gap = 3 + rng.Int64N(10)
	}
	cfg.AllowedLateness = []int64{0, 5, 30}[rng.IntN(3)]
	if rng.IntN(3) == 0 {
		cfg.Keys = []int{0, 1}
	}
	wcfg := []WatermarkConfig{{MaxOutOfOrder: 5}, {MaxOutOfOrder: 10, IdleTimeout: 50}}
	ops := make([]op, 0, nOps+len(wcfg))
	progress := make([]int64, len(wcfg))
	now := int64(0)
	for len(ops) < nOps {
		now++
		if rng.IntN(200) == 0 {
			ops = append(ops, op{kind: opTick, now: now})
			continue
		}
		in := rng.IntN(len(wcfg))
		if rng.IntN(nKeys/20+1) == 0 {
			progress[in]++
		}
		ts := progress[in] - rng.Int64N(8)
		if rng.IntN(50) == 0 {
			ts -= rng.Int64N(60) // late, or revising a fired window
		}
		v := row.Int(rng.Int64N(1000))
		if rng.IntN(10) == 0 {
			v = row.Null()
		}
		k := row.String(fmt.Sprintf("k%04d", rng.IntN(nKeys)))
		ops = append(ops, op{kind: opRecord, t: ts, k: k, g: row.Int(rng.Int64N(3)), v: v, input: in, now: now})
	}
	for i := range wcfg {
		ops = append(ops, op{kind: opEnd, input: i})
	}
	return scenario{cfg: cfg, wcfg: wcfg, ops: ops}
}

// pendingCapture is a capture and the bytes AppendSnapshot gave when it was taken.
type pendingCapture struct {
	c      *WindowCapture
	want   []byte
	at     int // step it was taken before
	encode int // step to encode it before
}

// TestCaptureEqualsSnapshot: Capture().AppendSnapshot equals the AppendSnapshot of the same
// moment, encoded at once or after many more steps (windows firing, revising and purging,
// sessions merging and closing, keys evicted, the window restored in place), with several
// captures outstanding at once and some released before others.
func TestCaptureEqualsSnapshot(t *testing.T) {
	seeds, nOps := 2, 6_000
	if testing.Short() || raceEnabled {
		seeds, nOps = 1, 5_000
	}
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(uint64(seed), 7+uint64(kind)))
				n := nOps
				if kind == Sliding { // several panes a record: as much state in fewer steps
					n /= 2
				}
				s := bigScenario(t, rng, kind, n, 1_500)
				var pending []pendingCapture
				var maxPanes int
				var copies int64
				encode := func(p pendingCapture, i int) {
					got := p.c.AppendSnapshot(nil)
					if !bytes.Equal(got, p.want) {
						t.Fatalf("seed %d: capture taken before step %d, encoded before step %d: %d bytes differ from AppendSnapshot's %d",
							seed, p.at, i, len(got), len(p.want))
					}
					p.c.Release()
				}
				runReal(t, s, func(i int, w **Window, _ **Watermarks) {
					st := (*w).Stats()
					maxPanes, copies = max(maxPanes, st.Panes), st.PageCopies
					keep := pending[:0]
					for _, p := range pending {
						if p.encode == i {
							encode(p, i)
						} else {
							keep = append(keep, p)
						}
					}
					pending = keep
					switch r := rng.IntN(2000); {
					case r < 3: // restore in place while captures are outstanding
						if err := (*w).Restore((*w).AppendSnapshot(nil)); err != nil {
							t.Fatal(err)
						}
					case r < 12:
						p := pendingCapture{c: (*w).Capture(), at: i, encode: i + rng.IntN(2_500)}
						p.want = (*w).AppendSnapshot(nil)
						if rng.IntN(4) == 0 {
							encode(pendingCapture{c: (*w).Capture(), want: p.want, at: i, encode: i}, i)
						}
						pending = append(pending, p)
					}
				})
				for _, p := range pending {
					encode(p, len(s.ops))
				}
				if maxPanes < 2*pageRows || copies == 0 {
					t.Fatalf("seed %d: scenario too small: at most %d panes, %d page copies", seed, maxPanes, copies)
				}
			}
		})
	}
}

// TestCaptureRestoreContinues: the bytes of a capture, encoded long after it was taken,
// restore to an operator whose every later output equals the uninterrupted run's.
func TestCaptureRestoreContinues(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			seeds := 3
			if testing.Short() || raceEnabled {
				seeds = 1
			}
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(uint64(seed), 11+uint64(kind)))
				s := bigScenario(t, rng, kind, 6_000, 800)
				want := runReal(t, s, nil)
				cut := 1_000 + rng.IntN(3_000)
				encodeAt := cut + 1 + rng.IntN(len(s.ops)-cut-1)
				var c *WindowCapture
				var wmSnap, wSnap []byte
				orig := runReal(t, s, func(i int, w **Window, wms **Watermarks) {
					switch i {
					case cut:
						c, wmSnap = (*w).Capture(), (*wms).AppendSnapshot(nil)
					case encodeAt:
						wSnap = c.AppendSnapshot(nil)
						c.Release()
					}
				})
				if !slices.Equal(orig, want) {
					t.Fatalf("seed %d: an outstanding capture changed the window's output", seed)
				}
				got := replayFrom(t, s, cut, wSnap, wmSnap)
				for i := range got {
					if got[i] != want[cut+i] {
						t.Fatalf("seed %d: restored at step %d (encoded at %d): step %d differs\ngot:  %s\nwant: %s",
							seed, cut, encodeAt, cut+i, got[i], want[cut+i])
					}
				}
			}
		})
	}
}

// replayFrom restores a window and watermarks from snapshots taken before step cut and runs
// the steps from there as runReal does, returning one output per step.
func replayFrom(t *testing.T, s scenario, cut int, wSnap, wmSnap []byte) []string {
	t.Helper()
	w, err := NewWindow(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Restore(wSnap); err != nil {
		t.Fatalf("restore captured bytes: %v", err)
	}
	wms := NewWatermarks(s.wcfg)
	if err := wms.Restore(wmSnap); err != nil {
		t.Fatal(err)
	}
	var out Output
	var res []string
	for i := cut; i < len(s.ops); i++ {
		res = append(res, applyOp(w, wms, s.ops, i, &out))
	}
	return res
}

// applyOp applies step i of ops to w and wms as runReal does and returns its output.
func applyOp(w *Window, wms *Watermarks, ops []op, i int, out *Output) string {
	o := ops[i]
	out.Reset()
	var wm int64
	var adv bool
	switch o.kind {
	case opRecord:
		rec := Record{Time: o.t, Row: o.row(), Input: o.input, Ref: i}
		w.OnRecord(&rec, wms.Current(), out)
		wm, adv = wms.Observe(o.input, o.t, o.now)
	case opTick:
		wm, adv = wms.Tick(o.now)
	case opEnd:
		wm, adv = wms.End(o.input)
	}
	if adv {
		w.OnWatermark(wm, out)
	}
	return stepOutput(w.OutputSchema(), wms.Current(), out)
}

// TestCaptureConcurrentEncode (run it with -race): captures are encoded on another goroutine
// while the owner keeps adding records and advancing the watermark; every encoding equals
// the AppendSnapshot of a shadow window driven alike (taken from the shadow so that the
// captured window is only ever touched by the capture and its owner's processing).
func TestCaptureConcurrentEncode(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(kind)))
			nOps := 4_000
			if testing.Short() || raceEnabled {
				nOps = 2_500
			}
			if kind == Sliding {
				nOps /= 2
			}
			s := bigScenario(t, rng, kind, nOps, 1_500)
			const every = 100 // steps between captures
			type job struct {
				c    *WindowCapture
				want []byte
				at   int
			}
			jobs := make(chan job, 8) // several captures outstanding at once
			errs := make(chan error, 1)
			done := make(chan struct{})
			encoded := 0
			go func() {
				defer close(done)
				for j := range jobs {
					// Encode twice, yielding in between, so that the owner's writes interleave.
					a := j.c.AppendSnapshot(nil)
					runtime.Gosched()
					b := j.c.AppendSnapshot(nil)
					j.c.Release()
					if !bytes.Equal(a, j.want) || !bytes.Equal(b, j.want) {
						select {
						case errs <- fmt.Errorf("capture before step %d: encoding differs from AppendSnapshot", j.at):
						default:
						}
					}
					encoded++
				}
			}()
			w, err := NewWindow(s.cfg)
			if err != nil {
				t.Fatal(err)
			}
			shadow, _ := NewWindow(s.cfg)
			wms, shadowWms := NewWatermarks(s.wcfg), NewWatermarks(s.wcfg)
			var out, shadowOut Output
			for i := range s.ops {
				if i%every == every/2 {
					jobs <- job{c: w.Capture(), want: shadow.AppendSnapshot(nil), at: i}
				}
				got, want := applyOp(w, wms, s.ops, i, &out), applyOp(shadow, shadowWms, s.ops, i, &shadowOut)
				if got != want {
					t.Fatalf("step %d: output differs from the shadow's\ngot:  %s\nwant: %s", i, got, want)
				}
			}
			close(jobs)
			<-done
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			if want := (len(s.ops) + every/2) / every; encoded != want {
				t.Fatalf("encoded %d captures, want %d", encoded, want)
			}
		})
	}
}

// TestCaptureCopyOnWrite: while a capture is outstanding the owner copies each page it writes
// once; after Release it writes in place again.
func TestCaptureCopyOnWrite(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			w := emojiWindow(t, kind, "count", "count_distinct")
			var out Output
			rec := Record{Time: 5_000}
			add := func(n int) {
				for i := range n {
					rec.Row = row.Row{row.String(fmt.Sprintf("m%d", i)), row.String("x"), row.Int(int64(i))}
					w.OnRecord(&rec, 0, &out)
				}
			}
			add(3 * pageRows) // three pages
			c := w.Capture()
			want := w.AppendSnapshot(nil)
			add(3 * pageRows) // every pane written again
			if got := w.Stats().PageCopies; got != 3 {
				t.Fatalf("%d pages copied while the capture was outstanding, want 3", got)
			}
			if !bytes.Equal(c.AppendSnapshot(nil), want) {
				t.Fatal("capture changed by the owner's writes")
			}
			c.Release()
			c.Release() // no-op
			c = w.Capture()
			c.Release()
			add(3 * pageRows)
			if got := w.Stats().PageCopies; got != 3 {
				t.Fatalf("%d pages copied in all, want 3: pages of a released capture are written in place", got)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("AppendSnapshot after Release did not panic")
				}
			}()
			c.AppendSnapshot(nil)
		})
	}
}

// TestCaptureRecyclesPages: once checkpoints are under way, the owner's copies reuse the
// pages of released captures: writing every page while a capture is outstanding allocates
// nothing. The pool holds no more pages than the state has.
func TestCaptureRecyclesPages(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			w := emojiWindow(t, kind, "count", "sum", "min")
			var rows []row.Row
			for i := range 4 * pageRows { // four full pages
				rows = append(rows, row.Row{row.String(fmt.Sprintf("m%d", i)), row.String("x"), row.Int(int64(i))})
			}
			var out Output
			rec := Record{Time: 5_000}
			add := func() {
				for _, r := range rows {
					rec.Row = r
					w.OnRecord(&rec, 0, &out)
				}
			}
			mallocs := func(f func()) uint64 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				var a, b runtime.MemStats
				runtime.ReadMemStats(&a)
				f()
				runtime.ReadMemStats(&b)
				return b.Mallocs - a.Mallocs
			}
			add()
			for cycle := range 4 {
				c := w.Capture()
				n := mallocs(add)
				switch {
				case cycle == 0 && n < 8:
					t.Fatalf("first checkpoint: %d allocations for 4 page copies", n)
				case cycle > 1 && n != 0: // (the second grows the pool's list of pages)
					t.Fatalf("checkpoint %d: %d allocations, want 0: copies should reuse pages", cycle, n)
				}
				c.Release()
			}
			if got := w.Stats().PageCopies; got != 16 {
				t.Fatalf("%d page copies, want 16", got)
			}
			w.OnWatermark(math.MaxInt64, &out) // all state gone: the pool must go too
			w.Capture().Release()
			var pool int
			if kind == Session {
				pool = len(w.sess.pool.free) + len(w.sess.pool.retired)
			} else {
				pool = len(w.fixed.pool.free) + len(w.fixed.pool.retired)
			}
			if pool != 0 {
				t.Fatalf("%d pages pooled after a checkpoint that copied nothing", pool)
			}
		})
	}
}

// TestCaptureEmpty: captures of a new window and of one whose state is all purged.
func TestCaptureEmpty(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		w := emojiWindow(t, kind)
		c := w.Capture()
		if got, want := c.AppendSnapshot(nil), w.AppendSnapshot(nil); !bytes.Equal(got, want) {
			t.Fatalf("%s: empty window: capture differs", kind)
		}
		var out Output
		rec := Record{Time: 5, Row: emojiRows()[0]}
		w.OnRecord(&rec, 0, &out)
		c2 := w.Capture()
		want := w.AppendSnapshot(nil)
		w.OnWatermark(math.MaxInt64, &out)
		if w.Stats().Panes != 0 {
			t.Fatalf("%s: state left at +inf", kind)
		}
		if got := c2.AppendSnapshot(nil); !bytes.Equal(got, want) {
			t.Fatalf("%s: capture changed by a purge", kind)
		}
		if got := w.Capture().AppendSnapshot(nil); !bytes.Equal(got, w.AppendSnapshot(nil)) {
			t.Fatalf("%s: capture after purge differs", kind)
		}
		c.Release()
		c2.Release()
	}
}

// TestCloneAccumulatorCoversFields: every field of agg.Accumulator that can share mutable
// state (map, pointer, slice) is one cloneAccumulator copies. A new such field must be
// handled there before this test is updated.
func TestCloneAccumulatorCoversFields(t *testing.T) {
	handled := map[string]bool{"Set": true, "Set64": true, "HLL": true}
	typ := reflect.TypeFor[agg.Accumulator]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Map, reflect.Pointer, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Struct, reflect.Array:
			if !handled[f.Name] {
				t.Errorf("agg.Accumulator.%s (%s) may share mutable state: deep-copy it in cloneAccumulator", f.Name, f.Type)
			}
		}
	}
	// And the copies are independent.
	var a agg.Accumulator
	fs, _ := agg.New("count_distinct", row.TypeString, true)
	fi, _ := agg.New("count_distinct", row.TypeInt, true)
	fh, _ := agg.New("approx_count_distinct", row.TypeInt, true)
	fs.Add(&a, row.String("x"), 0, 0)
	fi.Add(&a, row.Int(1), 0, 0)
	fh.Add(&a, row.Int(1), 0, 0)
	c := cloneAccumulator(&a)
	fs.Add(&c, row.String("y"), 0, 0)
	fi.Add(&c, row.Int(2), 0, 0)
	for i := range 1000 {
		fh.Add(&c, row.Int(int64(i)), 0, 0)
	}
	if len(a.Set) != 1 || len(a.Set64) != 1 || fh.Result(&a).I != 1 {
		t.Fatalf("writes to a clone changed the original: %d strings, %d ints, estimate %d", len(a.Set), len(a.Set64), fh.Result(&a).I)
	}
}
