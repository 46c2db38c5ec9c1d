package format

import (
	"encoding/json"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/glintstream/glint/row"
)

// emojiEvent is the ~99-byte event of BASELINES.md.
var emojiEvent = []byte(`{"match_id":"m07","emoji":"🔥","user_id":"u123456789","ts":1763823842123,"client":"android-4.2.1"}`)

var emojiFields = []Field{
	{Name: "match_id", Type: row.TypeString},
	{Name: "emoji", Type: row.TypeString},
	{Name: "user_id", Type: row.TypeString},
	{Name: "ts", Type: row.TypeTimestamp, Time: EpochMillis},
}

// emojiStruct is what the library decoders decode into: the same four fields; "client" is
// skipped by all three.
type emojiStruct struct {
	MatchID string `json:"match_id"`
	Emoji   string `json:"emoji"`
	UserID  string `json:"user_id"`
	TS      int64  `json:"ts"`
}

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeEmoji compares the glint decoder with goccy/go-json and encoding/json decoding
// the same event into a struct, in the same run, so the ratios are meaningful on a noisy machine.
func BenchmarkDecodeEmoji(b *testing.B) {
	b.Run("glint", func(b *testing.B) {
		dec, err := NewJSONDecoder(emojiFields)
		if err != nil {
			b.Fatal(err)
		}
		dst := make(row.Row, len(emojiFields))
		b.SetBytes(int64(len(emojiEvent)))
		b.ReportAllocs()
		for b.Loop() {
			if err := dec.Decode(emojiEvent, dst); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b)
		if dst[3].I != 1763823842123 || dst[1].S != "🔥" {
			b.Fatalf("decoded %v", dst)
		}
	})
	b.Run("goccy", func(b *testing.B) {
		var v emojiStruct
		b.SetBytes(int64(len(emojiEvent)))
		b.ReportAllocs()
		for b.Loop() {
			if err := gojson.Unmarshal(emojiEvent, &v); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b)
		if v.TS != 1763823842123 {
			b.Fatalf("decoded %+v", v)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		var v emojiStruct
		b.SetBytes(int64(len(emojiEvent)))
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Unmarshal(emojiEvent, &v); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b)
		if v.TS != 1763823842123 {
			b.Fatalf("decoded %+v", v)
		}
	})
}

// BenchmarkEncodeEmoji measures AppendJSON on the decoded event, against encoding/json and
// goccy/go-json marshalling the struct.
func BenchmarkEncodeEmoji(b *testing.B) {
	s := SchemaOf(emojiFields)
	r := row.Row{row.String("m07"), row.String("🔥"), row.String("u123456789"), row.Timestamp(1763823842123)}
	v := emojiStruct{MatchID: "m07", Emoji: "🔥", UserID: "u123456789", TS: 1763823842123}
	b.Run("glint", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendJSON(buf[:0], s, r)
		}
		b.SetBytes(int64(len(buf)))
		reportEvents(b)
	})
	b.Run("goccy", func(b *testing.B) {
		b.ReportAllocs()
		var out []byte
		for b.Loop() {
			out, _ = gojson.Marshal(&v)
		}
		b.SetBytes(int64(len(out)))
		reportEvents(b)
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var out []byte
		for b.Loop() {
			out, _ = json.Marshal(&v)
		}
		b.SetBytes(int64(len(out)))
		reportEvents(b)
	})
}

// BenchmarkDecodeEmojiInterleaved runs the three decoders in alternating slices of 2000 events
// and reports each one's events/s and the ratios, so that load from other processes on a shared
// machine falls on all three alike.
func BenchmarkDecodeEmojiInterleaved(b *testing.B) {
	dec, err := NewJSONDecoder(emojiFields)
	if err != nil {
		b.Fatal(err)
	}
	dst := make(row.Row, len(emojiFields))
	var v emojiStruct
	const slice = 2000
	run := []func(){
		func() {
			for range slice {
				if err := dec.Decode(emojiEvent, dst); err != nil {
					b.Fatal(err)
				}
			}
		},
		func() {
			for range slice {
				if err := gojson.Unmarshal(emojiEvent, &v); err != nil {
					b.Fatal(err)
				}
			}
		},
		func() {
			for range slice {
				if err := json.Unmarshal(emojiEvent, &v); err != nil {
					b.Fatal(err)
				}
			}
		},
	}
	var spent [3]time.Duration
	events := 0
	for b.Loop() {
		for k, f := range run {
			start := time.Now()
			f()
			spent[k] += time.Since(start)
		}
		events += slice
	}
	rate := func(k int) float64 { return float64(events) / spent[k].Seconds() }
	b.ReportMetric(rate(0), "glint_events/s")
	b.ReportMetric(rate(1), "goccy_events/s")
	b.ReportMetric(rate(2), "stdlib_events/s")
	b.ReportMetric(rate(0)/rate(1), "glint/goccy")
	b.ReportMetric(rate(0)/rate(2), "glint/stdlib")
}
