package emoji

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/examples/emoji/gen"
)

// Report compares the emoji-counts output with the generator's own count of what it sent.
type Report struct {
	Produced   int64
	Rate       float64
	Windows    int // (window, match, emoji) rows expected
	Matched    int // rows whose newest revision plus the late records for it equal the expected N
	Late       int // records in the DLQ as late
	Malformed  int // records in the DLQ as undecodable
	WantBad    int // malformed records the generator sent
	Revisions  int // rows with revision > 0
	Mismatches []string
}

// OK reports whether every expected row matched and every malformed record reached the DLQ.
func (r *Report) OK() bool {
	return r.Windows > 0 && r.Matched == r.Windows && len(r.Mismatches) == 0 && r.Malformed == r.WantBad
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verified: %d of %d (window, match, emoji) counts equal the generator's (%d revised by late reactions, %d too late for their window in the DLQ); %d of %d malformed records in the DLQ; %d reactions sent at %.0f/s",
		r.Matched, r.Windows, r.Revisions, r.Late, r.Malformed, r.WantBad, r.Produced, r.Rate)
	for _, m := range r.Mismatches[:min(10, len(r.Mismatches))] {
		b.WriteString("\n  mismatch: " + m)
	}
	return b.String()
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
	return rep, nil
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
