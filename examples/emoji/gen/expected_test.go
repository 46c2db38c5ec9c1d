package gen

import (
	"bytes"
	"maps"
	"testing"
)

// TestExpectedAgainstNaive checks Expected's windowing against a per-record reference that
// scans every window start in range.
func TestExpectedAgainstNaive(t *testing.T) {
	cfg := DefaultConfig(21)
	cfg.MalformedFraction, cfg.DuplicateFraction = 0.01, 0.01
	recs := run(t, cfg, 60_000, 5_000)
	g, _ := New(cfg)
	exp := NewExpected(g)
	counts := map[CountKey]Count{}
	mood := map[MoodKey]MoodCount{}
	var malformed [][]byte
	for _, r := range recs {
		exp.Add(r.meta, r.b)
		if r.meta.Kind == KindMalformed {
			malformed = append(malformed, r.b)
			continue
		}
		ev, ts, err := decodeEvent(r.b)
		if err != nil {
			t.Fatal(err)
		}
		for s := ts - 20_000; s <= ts; s++ {
			if s%2000 != 0 {
				continue
			}
			if ts < s+2000 {
				k := CountKey{s, ev.MatchID, ev.Emoji}
				c := counts[k]
				c.N++
				if r.meta.Kind == KindDuplicate {
					c.Duplicates++
				}
				if r.meta.Late {
					c.Late++
				}
				counts[k] = c
			}
			if ts < s+10_000 {
				k := MoodKey{s, ev.MatchID}
				c := mood[k]
				c.N++
				switch MoodOf(ev.Emoji) {
				case Positive:
					c.Positive++
				case Negative:
					c.Negative++
				}
				mood[k] = c
			}
		}
	}
	if got := exp.Counts(); !maps.Equal(got, counts) {
		t.Fatalf("Counts: %d rows, naive %d rows (or values differ)", len(got), len(counts))
	}
	if got := exp.Mood(); !maps.Equal(got, mood) {
		t.Fatalf("Mood: %d rows, naive %d rows (or values differ)", len(got), len(mood))
	}
	got := exp.Malformed()
	if len(got) != len(malformed) {
		t.Fatalf("Malformed: %d records, want %d", len(got), len(malformed))
	}
	for i := range got {
		if !bytes.Equal(got[i], malformed[i]) {
			t.Fatalf("malformed record %d: %q, want %q", i, got[i], malformed[i])
		}
	}
	rows := exp.CountRows()
	if len(rows) != len(counts) {
		t.Fatalf("CountRows has %d rows, want %d", len(rows), len(counts))
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if a.WindowStart > b.WindowStart || (a.WindowStart == b.WindowStart && (a.Match > b.Match || (a.Match == b.Match && a.Emoji >= b.Emoji))) {
			t.Fatalf("CountRows out of order at %d: %+v then %+v", i, a, b)
		}
	}
	tot := exp.Totals()
	if tot.Records != int64(len(recs)) || tot.Valid+tot.Duplicates+tot.Malformed != tot.Records || tot.Malformed != int64(len(malformed)) {
		t.Fatalf("Totals %+v for %d records", tot, len(recs))
	}
}
