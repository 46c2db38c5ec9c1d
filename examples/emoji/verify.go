package emoji

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/examples/emoji/gen"
)

// Report compares the output of both jobs with the generator's own count of what it sent, and
// carries what a bounded run measured.
type Report struct {
	Produced   int64
	Rate       float64 // reactions/s acknowledged, over the measured span (see Speed)
	Windows    int     // (window, match, emoji) rows expected
	Matched    int     // rows whose newest revision plus the late records for it equal the expected N
	Late       int     // records in the DLQ as late
	Malformed  int     // records in the DLQ as undecodable
	WantBad    int     // malformed records the generator sent
	Revisions  int     // rows with revision > 0
	Mismatches []string

	// emoji-mood: (10 s window, match) rows expected and matched; records in its DLQ by class.
	MoodWindows, MoodMatched int
	MoodDead                 map[string]int
	MoodDeadReason           string // the reason of the first record in its DLQ neither malformed nor late
	MoodMismatches           []string

	Speed *Speed // bounded runs of Run
}

// CountsOK reports whether every expected emoji-counts row matched and every malformed record
// reached the DLQ.
func (r *Report) CountsOK() bool {
	return r.Windows > 0 && r.Matched == r.Windows && len(r.Mismatches) == 0 && r.Malformed == r.WantBad
}

// MoodOK reports whether every expected emoji-mood row matched and its DLQ holds the malformed
// records and nothing else but late ones.
func (r *Report) MoodOK() bool {
	other := 0
	for class, n := range r.MoodDead {
		if class != kafka.ClassDecode && class != kafka.ClassLate {
			other += n
		}
	}
	return r.MoodWindows > 0 && r.MoodMatched == r.MoodWindows && len(r.MoodMismatches) == 0 &&
		r.MoodDead[kafka.ClassDecode] == r.WantBad && other == 0
}

// OK reports whether both jobs' output is right.
func (r *Report) OK() bool { return r.CountsOK() && r.MoodOK() }

// Problems lists in one line what is wrong, or "".
func (r *Report) Problems() string {
	var p []string
	if !r.CountsOK() {
		p = append(p, fmt.Sprintf("emoji-counts: %d of %d rows match, %d of %d malformed records in the DLQ", r.Matched, r.Windows, r.Malformed, r.WantBad))
	}
	if !r.MoodOK() {
		p = append(p, fmt.Sprintf("emoji-mood: %d of %d rows match, its DLQ holds %v (want %d decode)", r.MoodMatched, r.MoodWindows, r.MoodDead, r.WantBad))
		if r.MoodDeadReason != "" {
			p = append(p, "emoji-mood dead-lettered "+r.MoodDeadReason)
		}
	}
	return strings.Join(p, "; ")
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verified: %d of %d (window, match, emoji) counts equal the generator's (%d revised by late reactions, %d too late for their window in the DLQ); %d of %d malformed records in the DLQ; %d reactions sent",
		r.Matched, r.Windows, r.Revisions, r.Late, r.Malformed, r.WantBad, r.Produced)
	for _, m := range r.Mismatches[:min(10, len(r.Mismatches))] {
		b.WriteString("\n  mismatch: " + m)
	}
	fmt.Fprintf(&b, "\nverified: %d of %d (10 s window, match) moods equal the generator's; emoji-mood's DLQ holds %v", r.MoodMatched, r.MoodWindows, r.MoodDead)
	if r.MoodDeadReason != "" {
		fmt.Fprintf(&b, ", the first not malformed nor late: %s", r.MoodDeadReason)
	}
	for _, m := range r.MoodMismatches[:min(5, len(r.MoodMismatches))] {
		b.WriteString("\n  mood mismatch: " + m)
	}
	if r.Speed != nil {
		b.WriteString("\n" + r.Speed.String())
	}
	return b.String()
}

type moodRow struct {
	WindowStart time.Time `json:"window_start"`
	Match       string    `json:"match_id"`
	N           int64     `json:"n"`
	Positive    int64     `json:"positive"`
	Negative    int64     `json:"negative"`
	Revision    int64     `json:"revision"`
}

type countRow struct {
	WindowStart time.Time `json:"window_start"`
	Match       string    `json:"match_id"`
	Emoji       string    `json:"emoji"`
	N           int64     `json:"n"`
	Revision    int64     `json:"revision"`
}

// Verify reads emoji-counts and the dead-letter topic to their ends (read_committed) and
// compares, per (window, match, emoji), the newest revision's count plus the reactions sent to
// the DLQ as late for it with what the generator sent.
func Verify(ctx context.Context, brokers []string, exp *gen.Expected) (*Report, error) {
	type key = gen.CountKey
	newest := map[key]countRow{}
	rep := &Report{}
	err := readAll(ctx, brokers, TopicCounts, func(r *kgo.Record) error {
		var c countRow
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return fmt.Errorf("emoji-counts row %q: %w", r.Value, err)
		}
		k := key{WindowStart: c.WindowStart.UnixMilli(), Match: c.Match, Emoji: c.Emoji}
		if old, ok := newest[k]; !ok || c.Revision >= old.Revision {
			newest[k] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	late := map[key]int64{}
	err = readAll(ctx, brokers, TopicDLQ, func(r *kgo.Record) error {
		switch kafka.Header(r, kafka.HeaderClass) {
		case kafka.ClassLate:
			var ev struct {
				Match string `json:"match_id"`
				Emoji string `json:"emoji"`
				TS    int64  `json:"ts"`
			}
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return fmt.Errorf("late record %q: %w", r.Value, err)
			}
			size := gen.Window.Milliseconds()
			late[key{WindowStart: ev.TS - ((ev.TS%size)+size)%size, Match: ev.Match, Emoji: ev.Emoji}]++
			rep.Late++
		case kafka.ClassDecode:
			rep.Malformed++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.WantBad = len(exp.Malformed())
	want := exp.Counts()
	rep.Windows = len(want)
	var keys []key
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].WindowStart < keys[j].WindowStart })
	for _, k := range keys {
		got := newest[k].N + late[k]
		if got == want[k].N {
			rep.Matched++
		} else {
			rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("%s %s %s: job %d + late %d, generator %d",
				time.UnixMilli(k.WindowStart).UTC().Format(time.RFC3339), k.Match, k.Emoji, newest[k].N, late[k], want[k].N))
		}
		if newest[k].Revision > 0 {
			rep.Revisions++
		}
	}
	for k, c := range newest {
		if _, ok := want[k]; !ok {
			rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("unexpected row %v n=%d", k, c.N))
		}
	}
	if err := verifyMood(ctx, brokers, exp, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// verifyMood compares the newest revision of every emoji-mood row with the generator's mood
// count. A reaction the job sent to the late output missed some of its five sliding windows
// (the oldest ones), so a row may fall short of the expected count by at most the late
// reactions of its window.
func verifyMood(ctx context.Context, brokers []string, exp *gen.Expected, rep *Report) error {
	type key = gen.MoodKey
	newest := map[key]moodRow{}
	err := readAll(ctx, brokers, TopicMood, func(r *kgo.Record) error {
		var m moodRow
		if err := json.Unmarshal(r.Value, &m); err != nil {
			return fmt.Errorf("emoji-mood row %q: %w", r.Value, err)
		}
		k := key{WindowStart: m.WindowStart.UnixMilli(), Match: m.Match}
		if old, ok := newest[k]; !ok || m.Revision >= old.Revision {
			newest[k] = m
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep.MoodDead = map[string]int{}
	var lateTS []struct {
		match string
		ts    int64
	}
	err = readAll(ctx, brokers, TopicMoodDLQ, func(r *kgo.Record) error {
		class := kafka.Header(r, kafka.HeaderClass)
		rep.MoodDead[class]++
		if class != kafka.ClassDecode && class != kafka.ClassLate && rep.MoodDeadReason == "" {
			rep.MoodDeadReason = class + ": " + kafka.Header(r, kafka.HeaderReason)
		}
		if class == kafka.ClassLate {
			var ev struct {
				Match string `json:"match_id"`
				TS    int64  `json:"ts"`
			}
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return fmt.Errorf("late record %q: %w", r.Value, err)
			}
			lateTS = append(lateTS, struct {
				match string
				ts    int64
			}{ev.Match, ev.TS})
		}
		return nil
	})
	if err != nil {
		return err
	}
	size := gen.MoodSize.Milliseconds()
	lateIn := func(k key) (n int64) {
		for _, l := range lateTS {
			if l.match == k.Match && l.ts >= k.WindowStart && l.ts < k.WindowStart+size {
				n++
			}
		}
		return n
	}
	want := exp.Mood()
	rep.MoodWindows = len(want)
	keys := slices.SortedFunc(maps.Keys(want), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.Match, b.Match))
	})
	for _, k := range keys {
		got, w := newest[k], want[k]
		short := w.N - got.N
		if short == 0 && got.Positive == w.Positive && got.Negative == w.Negative ||
			short > 0 && short <= lateIn(k) && got.Positive <= w.Positive && got.Negative <= w.Negative {
			rep.MoodMatched++
			continue
		}
		rep.MoodMismatches = append(rep.MoodMismatches, fmt.Sprintf("%s %s: job n=%d positive=%d negative=%d, generator n=%d positive=%d negative=%d",
			time.UnixMilli(k.WindowStart).UTC().Format(time.RFC3339), k.Match, got.N, got.Positive, got.Negative, w.N, w.Positive, w.Negative))
	}
	for k, m := range newest {
		if _, ok := want[k]; !ok {
			rep.MoodMismatches = append(rep.MoodMismatches, fmt.Sprintf("unexpected mood row %v n=%d", k, m.N))
		}
	}
	return nil
}

// readAll calls fn for every record of topic up to its current end, read_committed.
func readAll(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record) error) error {
	cl, err := kafka.NewClient(brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kafka.EndOffsets(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return err
	}
	left := map[int32]int64{}
	for p, e := range ends[topic] {
		if e > 0 {
			left[p] = e
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			if ferr == nil {
				ferr = fn(r)
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}
