package gen

import (
	"cmp"
	"slices"
	"time"
)

// The demo's windows: a 2 s tumbling count per (match, emoji) and a 10 s mood window sliding
// every 2 s per match. Windows are aligned to the Unix epoch and include their start.
const (
	Window    = 2 * time.Second
	MoodSize  = 10 * time.Second
	MoodSlide = 2 * time.Second
)

// CountKey names one row of the emoji-counts output.
type CountKey struct {
	WindowStart int64 // epoch ms; the window is [WindowStart, WindowStart+Window)
	Match       string
	Emoji       string // glyph
}

// Count is the expected value of one emoji-counts row.
type Count struct {
	N          int64 // valid records with ts in the window, duplicates included (a plain count)
	Duplicates int64 // how many of N are retries; a deduplicating job counts N - Duplicates
	Late       int64 // how many of N arrived more than MaxDelay after their ts
}

// MoodKey names one row of the emoji-mood output.
type MoodKey struct {
	WindowStart int64 // epoch ms; the window is [WindowStart, WindowStart+MoodSize)
	Match       string
}

// MoodCount is the expected value of one emoji-mood row (duplicates included, like Count.N).
type MoodCount struct {
	N, Positive, Negative int64
}

// Totals summarises everything Expected saw.
type Totals struct {
	Records    int64 // all records
	Valid      int64 // KindValid records (distinct events)
	Duplicates int64 // KindDuplicate records
	Malformed  int64 // KindMalformed records
	Late       int64 // well-formed records (valid or duplicate) with Meta.Late
}

// Expected tallies what a Generator emitted, from each record's Meta (not from its bytes), so a
// test can check a decoder or a job against it. Not safe for concurrent use.
type Expected struct {
	matchIDs  []string
	counts    map[CountKey]*Count
	malformed [][]byte
	totals    Totals
}

// NewExpected returns an empty tally for records of g.
func NewExpected(g *Generator) *Expected {
	return &Expected{matchIDs: g.matchIDs, counts: make(map[CountKey]*Count)}
}

// Add records one generated record: its Meta and, for malformed records, its bytes (copied).
func (e *Expected) Add(m Meta, value []byte) {
	e.totals.Records++
	switch m.Kind {
	case KindMalformed:
		e.totals.Malformed++
		e.malformed = append(e.malformed, slices.Clone(value))
		return
	case KindDuplicate:
		e.totals.Duplicates++
	default:
		e.totals.Valid++
	}
	k := CountKey{WindowStart: windowStart(m.TS, Window), Match: e.matchIDs[m.Match], Emoji: emojis[m.Emoji].Glyph}
	c := e.counts[k]
	if c == nil {
		c = new(Count)
		e.counts[k] = c
	}
	c.N++
	if m.Kind == KindDuplicate {
		c.Duplicates++
	}
	if m.Late {
		c.Late++
		e.totals.Late++
	}
}

func windowStart(ts int64, size time.Duration) int64 {
	ms := size.Milliseconds()
	return floorDiv(ts, ms) * ms
}

// Totals returns the record totals.
func (e *Expected) Totals() Totals { return e.totals }

// Counts returns the expected emoji-counts rows (the caller owns the map).
func (e *Expected) Counts() map[CountKey]Count {
	out := make(map[CountKey]Count, len(e.counts))
	for k, c := range e.counts {
		out[k] = *c
	}
	return out
}

// CountRow is one expected emoji-counts row, for sorted listings.
type CountRow struct {
	CountKey
	Count
}

// CountRows returns the expected emoji-counts rows ordered by window, match and emoji.
func (e *Expected) CountRows() []CountRow {
	out := make([]CountRow, 0, len(e.counts))
	for k, c := range e.counts {
		out = append(out, CountRow{k, *c})
	}
	slices.SortFunc(out, func(a, b CountRow) int {
		return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.Match, b.Match), cmp.Compare(a.Emoji, b.Emoji))
	})
	return out
}

// Mood returns the expected emoji-mood rows: for every match and every window of MoodSize
// sliding by MoodSlide that holds at least one valid record (the caller owns the map).
func (e *Expected) Mood() map[MoodKey]MoodCount {
	size, slide := MoodSize.Milliseconds(), MoodSlide.Milliseconds()
	out := make(map[MoodKey]MoodCount)
	for k, c := range e.counts {
		mood := MoodOf(k.Emoji)
		// The count window [ws, ws+Window) lies inside every mood window whose start is in
		// [ws+Window-size, ws]; Window equals the slide, so those are exactly the windows
		// holding its events.
		for s := k.WindowStart; s >= k.WindowStart+Window.Milliseconds()-size; s -= slide {
			mk := MoodKey{WindowStart: s, Match: k.Match}
			mc := out[mk]
			mc.N += c.N
			switch mood {
			case Positive:
				mc.Positive += c.N
			case Negative:
				mc.Negative += c.N
			}
			out[mk] = mc
		}
	}
	return out
}

// Malformed returns the malformed records in the order they were generated (the caller owns
// the outer slice; the records are shared).
func (e *Expected) Malformed() [][]byte { return slices.Clone(e.malformed) }
