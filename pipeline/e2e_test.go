package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
)

// testBroker starts the embedded broker on a free loopback port for one test.
func testBroker(t testing.TB) string {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

func testEnv(t testing.TB) *Env {
	env := NewEnv()
	env.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		env.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return env
}

func createTopic(t testing.TB, addr, topic string, parts int32) {
	t.Helper()
	cl, err := kafka.NewClient([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(context.Background(), kadm.NewClient(cl), parts, topic); err != nil {
		t.Fatal(err)
	}
}

// event is one generated input record.
type event struct {
	key, value []byte
	bad        bool // malformed: must reach the DLQ as a decode failure
	match      string
	emoji      string
	ts         int64
}

// genEvents makes n reactions over several matches with bounded disorder, a few very late
// events and a few malformed records, deterministically from seed.
func genEvents(seed uint64, n int) []event {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	emojis := []string{"🔥", "😂", "😢", "😡", "👏", "🎉", "🏏"}
	base := int64(1_763_800_000_000)
	out := make([]event, 0, n)
	for i := range n {
		m := fmt.Sprintf("m%d", rng.IntN(6))
		clock := base + int64(i)*3 // ~333 events per second of event time
		ts := clock - rng.Int64N(1500)
		switch rng.IntN(100) {
		case 0:
			ts -= 15_000 + rng.Int64N(5000) // beyond out-of-orderness + lateness: late
		case 1, 2:
			ts -= 2_500 + rng.Int64N(4000) // beyond out-of-orderness, mostly within lateness: a revision
		}
		e := event{key: []byte(m), match: m, emoji: emojis[min(rng.IntN(len(emojis)), rng.IntN(len(emojis)))], ts: ts}
		switch rng.IntN(500) {
		case 0:
			e.bad, e.value = true, []byte(fmt.Sprintf(`{"event_id":"e%d","match_id":"%s","emoji":"🔥","ts":`, i, m))
		case 1:
			e.bad, e.value = true, []byte(fmt.Sprintf(`{"event_id":"e%d","match_id":"%s","emoji":"🔥","user_id":"u1","ts":"soon"}`, i, m))
		case 2:
			e.bad, e.value = true, []byte(fmt.Sprintf(`{"event_id":"e%d","match_id":"%s","emoji":"🔥","user_id":"u1"}`, i, m))
		default:
			e.value = []byte(fmt.Sprintf(`{"event_id":"e%d","match_id":"%s","emoji":"%s","user_id":"u%d","ts":%d}`, i, m, e.emoji, rng.IntN(1e6), ts))
		}
		out = append(out, e)
	}
	return out
}

// produce writes events in order and returns each one's partition.
func produce(t testing.TB, addr, topic string, evs []event) []int32 {
	t.Helper()
	cl, err := kafka.NewClient([]string{addr}, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	parts := make([]int32, len(evs))
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		recs[i] = &kgo.Record{Topic: topic, Key: e.key, Value: e.value}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		parts[i] = r.Partition
	}
	return parts
}

type outRow struct {
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	Match       string `json:"match_id"`
	Emoji       string `json:"emoji"`
	N           int64  `json:"n"`
	Revision    int64  `json:"revision"`
}

func (r outRow) String() string {
	return fmt.Sprintf("%s %s %s n=%d rev=%d", r.WindowStart, r.Match, r.Emoji, r.N, r.Revision)
}

// reference computes, independently of the operators, the rows and late records a 2 s
// tumbling count per (match, emoji) must produce: per partition in offset order, watermark =
// max event time − ooo, fire when the watermark reaches a window's end, revise within lateness,
// late beyond it, everything fires at the end of input.
func reference(evs []event, parts []int32, ooo, lateness, size int64) (rows []outRow, late, bad int) {
	type wk struct {
		start        int64
		match, emoji string
	}
	type st struct {
		n, rev int64
		fired  bool
	}
	fmtT := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }
	emit := func(k wk, s *st) {
		rows = append(rows, outRow{fmtT(k.start), fmtT(k.start + size), k.match, k.emoji, s.n, s.rev})
	}
	byPart := map[int32][]event{}
	for i, e := range evs {
		byPart[parts[i]] = append(byPart[parts[i]], e)
	}
	for _, pevs := range byPart {
		wm := int64(math.MinInt64)
		state := map[wk]*st{}
		fire := func(wm int64) {
			var ks []wk
			for k, s := range state {
				if !s.fired && k.start+size <= wm {
					ks = append(ks, k)
				}
			}
			for _, k := range ks {
				state[k].fired = true
				emit(k, state[k])
				state[k].rev++
			}
			for k := range state {
				if k.start+size+lateness <= wm {
					delete(state, k)
				}
			}
		}
		for _, e := range pevs {
			if e.bad {
				bad++
				continue
			}
			k := wk{e.ts - ((e.ts%size)+size)%size, e.match, e.emoji}
			if k.start+size+lateness <= wm {
				late++
			} else {
				s := state[k]
				if s == nil { // a new key in a window that fired already emits at once
					s = &st{fired: k.start+size <= wm}
					state[k] = s
				}
				s.n++
				if s.fired {
					emit(k, s)
					s.rev++
				}
			}
			if w := e.ts - ooo; w > wm {
				wm = w
				fire(wm)
			}
		}
		fire(math.MaxInt64)
	}
	return rows, late, bad
}

func sortRows(rs []outRow) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].String() < rs[j].String() })
}

// consumeAll reads every record of topic (read_committed) up to its current end. Offsets are
// followed, not counted: transaction markers and aborted records occupy offsets too.
func consumeAll(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kafka.NewClient([]string{addr}, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kafka.EndOffsets(context.Background(), kadm.NewClient(cl), topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	for p, e := range ends[topic] {
		if e > 0 {
			left[p] = e
		}
	}
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions %v not read to their end", topic, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if e, ok := left[r.Partition]; ok && r.Offset+1 >= e {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

const emojiJob = `
name: e2e
sources:
  - topic: reactions
    fields:
      event_id: string
      match_id: string
      emoji: string
      user_id: string
      ts: timestamp
    event_time: {field: ts}
    watermark: {max_out_of_orderness: 2s}
    partitioned_by: [match_id]
pipeline:
  - key_by: [match_id, emoji]
  - window: {type: tumbling, size: 2s, allowed_lateness: 5s}
  - aggregate:
      n: count()
sinks:
  - type: kafka
    topic: counts
    key: [match_id]
`

func TestEndToEndTumblingCounts(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 4)
	evs := genEvents(33, 30_000) // seed 33 has late events for new keys in fired windows
	parts := produce(t, addr, "reactions", evs)

	job, err := Parse("e2e.yaml", []byte(emojiJob))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, UntilEnd: true, MetricsListen: "off"}); err != nil {
		t.Fatal(err)
	}

	wantRows, wantLate, wantBad := reference(evs, parts, 2000, 5000, 2000)
	var got []outRow
	for _, r := range consumeAll(t, addr, "counts") {
		var o outRow
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatalf("output row %s: %v", r.Value, err)
		}
		if string(r.Key) != o.Match {
			t.Fatalf("record key %q, want the match_id %q", r.Key, o.Match)
		}
		got = append(got, o)
	}
	sortRows(got)
	sortRows(wantRows)
	if len(got) != len(wantRows) {
		t.Errorf("got %d rows, want %d", len(got), len(wantRows))
	}
	for i := range min(len(got), len(wantRows)) {
		if got[i] != wantRows[i] {
			t.Fatalf("row %d: got %v, want %v", i, got[i], wantRows[i])
		}
	}

	// Every record that did not count is in the DLQ with the reason: nothing silently lost.
	var late, bad int
	for _, r := range consumeAll(t, addr, "e2e.dlq") {
		switch class := kafka.Header(r, kafka.HeaderClass); class {
		case kafka.ClassLate:
			late++
			if !strings.Contains(kafka.Header(r, kafka.HeaderReason), "late") {
				t.Errorf("late record without a reason: %q", kafka.Header(r, kafka.HeaderReason))
			}
		case kafka.ClassDecode:
			bad++
		default:
			t.Errorf("unexpected DLQ class %q", class)
		}
		if kafka.Header(r, kafka.HeaderTopic) != "reactions" || kafka.Header(r, kafka.HeaderOffset) == "" {
			t.Errorf("DLQ record lacks its provenance: %v", r.Headers)
		}
		if !slices.ContainsFunc(evs, func(e event) bool { return bytes.Equal(e.value, r.Value) }) {
			t.Errorf("DLQ value is not an original record: %q", r.Value)
		}
	}
	if late != wantLate || bad != wantBad {
		t.Errorf("DLQ: %d late and %d malformed, want %d and %d", late, bad, wantLate, wantBad)
	}
	if wantLate == 0 || wantBad == 0 {
		t.Fatalf("the generated input must exercise late and malformed records (late=%d bad=%d)", wantLate, wantBad)
	}
	var total int64
	for _, r := range wantRows {
		if r.Revision > 0 {
			total++
		}
	}
	if total == 0 {
		t.Fatal("the generated input must exercise revisions within allowed lateness")
	}
}

// A bounded run over partitions of which some are empty ends (a task with nothing to read ends
// at once) and still produces every row.
func TestBoundedWithEmptyPartitions(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 8)
	var evs []event
	for _, e := range genEvents(3, 2000) {
		if e.match == "m1" { // one key: one partition holds everything
			evs = append(evs, e)
		}
	}
	parts := produce(t, addr, "reactions", evs)
	job, err := Parse("e.yaml", []byte(strings.Replace(emojiJob, "name: e2e", "name: empty", 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, UntilEnd: true, MetricsListen: "off"}); err != nil {
		t.Fatal(err)
	}
	want, _, _ := reference(evs, parts, 2000, 5000, 2000)
	if got := consumeAll(t, addr, "counts"); len(got) != len(want) || len(want) == 0 {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
}

// TestGroupRestartThenDrain: a streaming run in the consumer group is stopped mid-input (as by
// SIGINT) and restarted; the restarted run is drained at the end. Every row the reference
// computes comes out; rows repeated because of the restart (at-least-once before checkpoints)
// are identical copies, never a different count under the same (window, key, revision).
func TestGroupRestartThenDrain(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 4)
	evs := genEvents(21, 30_000)
	half := len(evs) / 2
	parts := produce(t, addr, "reactions", evs[:half])
	job, err := Parse("g.yaml", []byte(strings.Replace(emojiJob, "name: e2e", "name: grp", 1)))
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t)

	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() {
		done1 <- Run(ctx1, env, job, RunOptions{Brokers: []string{addr}, MetricsListen: "off"})
	}()
	waitSettled(t, addr, "counts") // the first run has consumed its half
	rowsBefore := endOf(t, addr, "counts")
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("first run: %v", err)
	}

	parts = append(parts, produce(t, addr, "reactions", evs[half:])...)
	drain := make(chan struct{})
	close(drain)
	ctx2, stop2 := context.WithTimeout(context.Background(), time.Minute)
	defer stop2()
	if err := Run(ctx2, env, job, RunOptions{Brokers: []string{addr}, MetricsListen: "off", Drain: drain}); err != nil {
		t.Fatalf("second run: %v", err)
	}

	want, _, _ := reference(evs, parts, 2000, 5000, 2000)
	type key struct {
		w, m, e string
		rev     int64
	}
	got := map[key]outRow{}
	dups := 0
	for _, r := range consumeAll(t, addr, "counts") {
		var o outRow
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatal(err)
		}
		k := key{o.WindowStart, o.Match, o.Emoji, o.Revision}
		if prev, ok := got[k]; ok {
			dups++
			if prev != o {
				t.Fatalf("two different rows for one (window, key, revision): %v and %v", prev, o)
			}
		}
		got[k] = o
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct rows, want %d", len(got), len(want))
	}
	for _, w := range want {
		if g, ok := got[key{w.WindowStart, w.Match, w.Emoji, w.Revision}]; !ok || g != w {
			t.Fatalf("row %v: got %v (present %v)", w, g, ok)
		}
	}
	t.Logf("%d rows, %d before the restart, %d repeated after it", len(got), rowsBefore, dups)
	// Offsets were committed up to the windows closed at the stop: only rows of windows still
	// open then (about allowed_lateness + out-of-orderness of event time) can repeat.
	if dups > int(rowsBefore)/4 {
		t.Errorf("%d of %d rows repeated: offsets were not committed as windows closed", dups, rowsBefore)
	}
}

// endOf is the sum of the end offsets of topic, 0 while it does not exist.
func endOf(t testing.TB, addr, topic string) int64 {
	cl, err := kafka.NewClient([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kafka.EndOffsets(context.Background(), kadm.NewClient(cl), topic)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ends[topic] {
		n += e
	}
	return n
}

// TestComputeAndFilterSteps: computed columns before the window (two of them, the second
// reading the first), a filter between them, and a filter and a computed column on the result
// rows, end to end. Every record is accounted for: counted, filtered, or dead-lettered.
func TestComputeAndFilterSteps(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 2)
	evs := genEvents(5, 4000)
	parts := produce(t, addr, "reactions", evs)
	src := strings.Replace(emojiJob, `pipeline:
  - key_by: [match_id, emoji]`, `pipeline:
  - compute:
      fire: "emoji == '🔥' ? 1 : 0"
  - filter: "match_id != 'm5'"
  - compute:
      fire2: "fire * 2"
  - key_by: [match_id, emoji]`, 1)
	src = strings.Replace(src, `      n: count()
`, `      n: count()
      fires: sum(fire2)
  - filter: "n > 0"
  - compute:
      half: "fires / 2"
`, 1)
	src = strings.Replace(src, "name: e2e", "name: comp", 1)
	job, err := Parse("comp.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, UntilEnd: true, MetricsListen: "off"}); err != nil {
		t.Fatal(err)
	}
	var kept []event
	var keptParts []int32
	for i, e := range evs {
		if e.bad || e.match != "m5" {
			kept = append(kept, e)
			keptParts = append(keptParts, parts[i])
		}
	}
	want, _, _ := reference(kept, keptParts, 2000, 5000, 2000)
	type row2 struct {
		outRow
		Fires int64   `json:"fires"`
		Half  float64 `json:"half"`
	}
	var got []outRow
	for _, r := range consumeAll(t, addr, "counts") {
		var o row2
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatal(err)
		}
		if o.Match == "m5" {
			t.Fatalf("filtered match in output: %s", r.Value)
		}
		if (o.Emoji == "🔥") != (o.Fires == 2*o.N) || (o.Emoji != "🔥" && o.Fires != 0) || o.Half != float64(o.Fires)/2 {
			t.Fatalf("computed columns wrong: %s", r.Value)
		}
		got = append(got, o.outRow)
	}
	sortRows(got)
	sortRows(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for _, r := range consumeAll(t, addr, "comp.dlq") {
		if c := kafka.Header(r, kafka.HeaderClass); c == kafka.ClassExpression {
			t.Fatalf("expression failure: %s", kafka.Header(r, kafka.HeaderReason))
		}
	}
}
