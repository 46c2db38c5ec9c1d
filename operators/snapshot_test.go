package operators

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/glintstream/glint/row"
)

// TestSnapshotRestoreMetamorphic: snapshotting both operators at random steps and continuing
// from restored copies gives output identical to an uninterrupted run, and a restored
// operator snapshots to the very bytes it was restored from.
func TestSnapshotRestoreMetamorphic(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(uint64(seed), 100+uint64(kind)))
				s := genScenario(t, rng, kind, 100+rng.IntN(200))
				want := runReal(t, s, nil)
				cuts := map[int]bool{}
				for range 1 + rng.IntN(4) {
					cuts[rng.IntN(len(s.ops))] = true
				}
				got := runReal(t, s, func(i int, w **Window, wms **Watermarks) {
					if !cuts[i] {
						return
					}
					*w, *wms = restoreCopy(t, s, *w, *wms)
				})
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("seed %d: step %d differs after restores at %v\ngot:  %s\nwant: %s\nscenario:\n%s", seed, i, cuts, got[i], want[i], s)
					}
				}
			}
		})
	}
}

func restoreCopy(t testing.TB, s scenario, w *Window, wms *Watermarks) (*Window, *Watermarks) {
	ws, ms := w.AppendSnapshot(nil), wms.AppendSnapshot(nil)
	w2, err := NewWindow(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Restore(ws); err != nil {
		t.Fatalf("restore window: %v", err)
	}
	wms2 := NewWatermarks(s.wcfg)
	if err := wms2.Restore(ms); err != nil {
		t.Fatalf("restore watermarks: %v", err)
	}
	if again := w2.AppendSnapshot(nil); !bytes.Equal(again, ws) {
		t.Fatalf("window snapshot of restored state differs (%d vs %d bytes)", len(again), len(ws))
	}
	if again := wms2.AppendSnapshot(nil); !bytes.Equal(again, ms) {
		t.Fatal("watermarks snapshot of restored state differs")
	}
	return w2, wms2
}

// TestSnapshotDeterministic: the same input gives the same snapshot bytes in two runs (map
// iteration order must not leak into the encoding).
func TestSnapshotDeterministic(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		s := genScenario(t, rand.New(rand.NewPCG(7, uint64(kind))), kind, 300)
		s.ops = s.ops[:250] // stop before the inputs end, with state held
		var snaps [2][]byte
		for run := range snaps {
			runReal(t, s, func(i int, w **Window, _ **Watermarks) {
				if i == len(s.ops)-1 {
					snaps[run] = (*w).AppendSnapshot(nil)
				}
			})
		}
		if !bytes.Equal(snaps[0], snaps[1]) {
			t.Fatalf("%s: snapshots of equal states differ", kind)
		}
	}
}

// snapshotSamples returns valid snapshots of windows of every kind in mid-stream, each with
// the config that reads it.
func snapshotSamples(t testing.TB) ([]scenario, [][]byte, [][]byte) {
	var scs []scenario
	var ws, ms [][]byte
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		for seed := range 3 {
			s := genScenario(t, rand.New(rand.NewPCG(uint64(seed), uint64(kind))), kind, 120)
			s.ops = s.ops[:100]
			runReal(t, s, func(i int, w **Window, wms **Watermarks) {
				if i == len(s.ops)-1 {
					scs = append(scs, s)
					ws = append(ws, (*w).AppendSnapshot(nil))
					ms = append(ms, (*wms).AppendSnapshot(nil))
				}
			})
		}
	}
	return scs, ws, ms
}

// TestRestoreRejectsDamage: every truncation and every single-byte change of a valid snapshot
// is an error, and the operator is unchanged by a failed restore.
func TestRestoreRejectsDamage(t *testing.T) {
	scs, ws, ms := snapshotSamples(t)
	for i, s := range scs {
		w, _ := NewWindow(s.cfg)
		wms := NewWatermarks(s.wcfg)
		if err := w.Restore(ws[i]); err != nil {
			t.Fatal(err)
		}
		if err := wms.Restore(ms[i]); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			snap    []byte
			restore func([]byte) error
			again   func() []byte
		}{
			{ws[i], w.Restore, func() []byte { return w.AppendSnapshot(nil) }},
			{ms[i], wms.Restore, func() []byte { return wms.AppendSnapshot(nil) }},
		} {
			for n := range len(c.snap) {
				if err := c.restore(c.snap[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("sample %d: truncated to %d of %d bytes: err %v, want ErrCorrupt", i, n, len(c.snap), err)
				}
			}
			for pos := range len(c.snap) {
				b := bytes.Clone(c.snap)
				b[pos] ^= 1 << (pos % 8)
				if err := c.restore(b); err == nil {
					t.Fatalf("sample %d: flipped a bit of byte %d: no error", i, pos)
				}
			}
			if !bytes.Equal(c.again(), c.snap) {
				t.Fatalf("sample %d: a failed restore changed the state", i)
			}
		}
	}
}

func TestRestoreMismatch(t *testing.T) {
	scs, ws, ms := snapshotSamples(t)
	s := scs[0] // tumbling
	other := s.cfg
	other.Size++
	w, err := NewWindow(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Restore(ws[0]); !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("restore into a window of another size: %v", err)
	}
	other = s.cfg
	other.Aggs = other.Aggs[:len(other.Aggs)-1]
	w, _ = NewWindow(other)
	if err := w.Restore(ws[0]); !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("restore into a window with other aggregates: %v", err)
	}
	wms := NewWatermarks(append(s.wcfg, WatermarkConfig{}))
	if err := wms.Restore(ms[0]); !errors.Is(err, ErrSnapshotMismatch) {
		t.Fatalf("restore into watermarks with another input count: %v", err)
	}
	w, _ = NewWindow(s.cfg)
	if err := w.Restore(ms[0]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("watermarks snapshot into a window: %v", err)
	}
	b := bytes.Clone(ws[0])
	b[2] = 99 // version byte
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable))
	if err := w.Restore(b); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("unknown version: %v", err)
	}
}

// frame wraps a body in a valid header and checksum, so that fuzzing reaches the decoders.
func frame(magic string, body []byte) []byte {
	b := append([]byte(magic), snapshotVersion)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// FuzzRestore feeds arbitrary bytes to Restore, both raw (the checksum rejects them) and
// framed with a valid checksum (the decoders must reject them without panicking). A snapshot
// that is accepted must be a usable state: it survives more input and a final watermark, and
// snapshots back to the same bytes.
func FuzzRestore(f *testing.F) {
	scs, ws, ms := snapshotSamples(f)
	for i := range ws {
		f.Add(uint8(i), ws[i][3:len(ws[i])-4])
		f.Add(uint8(i), ms[i][3:len(ms[i])-4])
		f.Add(uint8(i), ws[i])
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		s := scs[int(which)%len(scs)]
		for _, b := range [][]byte{body, frame(windowMagic, body)} {
			w, _ := NewWindow(s.cfg)
			if err := w.Restore(b); err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSnapshotMismatch) && !errors.Is(err, ErrSnapshotVersion) {
					t.Fatalf("error of no known class: %v", err)
				}
				continue
			}
			// The encoding of an accepted state is a fixed point: restoring it gives the same
			// state again. (The input itself may differ from it where agg accepts an overlong
			// varint inside an aggregate's state.)
			again := w.AppendSnapshot(nil)
			w2, _ := NewWindow(s.cfg)
			if err := w2.Restore(again); err != nil {
				t.Fatalf("snapshot of an accepted state is refused: %v", err)
			}
			if !bytes.Equal(w2.AppendSnapshot(nil), again) {
				t.Fatalf("snapshot of an accepted state does not round-trip")
			}
			var out Output
			for i := range 50 {
				r := Record{Time: int64(i*7%40) - 20, Row: row.Row{row.String("a"), row.Int(1), row.Int(int64(i))}, Ref: i}
				w.OnRecord(&r, w.wm, &out)
			}
			w.OnWatermark(math.MaxInt64, &out)
			if st := w.Stats(); st.Panes != 0 {
				t.Fatalf("state left at watermark +inf: %+v", st)
			}
		}
		for _, b := range [][]byte{body, frame(watermarkMagic, body)} {
			wms := NewWatermarks(s.wcfg)
			if err := wms.Restore(b); err != nil {
				continue
			}
			before := wms.Current()
			wms.Observe(0, 5, 1000)
			wms.Tick(5000)
			if wms.Current() < before {
				t.Fatal("watermark went back after restore")
			}
		}
	})
}
