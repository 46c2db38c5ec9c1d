package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glintstream/glint/internal/strictyaml"
)

func compileString(t *testing.T, src string) (*Plan, error) {
	t.Helper()
	j, err := Parse("job.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile(j, NewEnv())
}

func TestCompileEmojiJob(t *testing.T) {
	p, err := compileString(t, emojiJob)
	if err != nil {
		t.Fatal(err)
	}
	want := "(window_start timestamp, window_end timestamp, match_id string, emoji string, n int, revision int)"
	if got := p.Output.String(); got != want {
		t.Errorf("output schema %s, want %s", got, want)
	}
	if p.Window.Span != 2000 || p.Job.DeadLetter.Topic != "e2e.dlq" || p.Sources[0].Watermark.MaxOutOfOrder != 2000 {
		t.Errorf("plan: span %d dlq %q ooo %d", p.Window.Span, p.Job.DeadLetter.Topic, p.Sources[0].Watermark.MaxOutOfOrder)
	}
}

func TestExampleJobsCompile(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example jobs found")
	}
	for _, f := range files {
		j, err := Load(f)
		if err == nil {
			_, err = Compile(j, NewEnv())
		}
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

// Every problem is reported at once, each at its line:column with the field's path.
func TestValidateReportsEveryProblemWithPosition(t *testing.T) {
	src := `name: bad job
sources:
  - topic: reactions
    fromat: json
    fields:
      match_id: string
      emoji: strin
      ts: timestamp
    event_time: {field: tss}
    watermark: {max_out_of_orderness: two seconds}
    start: yesterday
    partitioned_by: [match_id]
pipeline:
  - key_by: [match_id, emojj]
  - window: {type: tumbling, size: 2s, slide: 1s}
  - aggregate:
      n: cnt()
sinks:
  - type: kafak
    topic: out
`
	_, err := compileString(t, src)
	var es strictyaml.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want strictyaml.Errors, got %v", err)
	}
	text := err.Error()
	// Decoding problems come first (the job cannot be compiled until it decodes).
	for _, want := range []string{
		`job.yaml:4:5: sources[0].fromat: unknown field "fromat" (did you mean "format"?)`,
		`job.yaml:10:39: sources[0].watermark.max_out_of_orderness: want a duration`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	// Fix the decoding problems; the semantic ones are then all reported.
	src = strings.Replace(src, "fromat", "format", 1)
	src = strings.Replace(src, "two seconds", "2s", 1)
	_, err = compileString(t, src)
	if err == nil {
		t.Fatal("want errors")
	}
	text = err.Error()
	for _, want := range []string{
		`job.yaml:1:7: name: "bad job": a job name may hold`,
		`job.yaml:7:14: sources[0].fields.emoji: unknown type "strin" (did you mean "string"?)`,
		`job.yaml:9:25: sources[0].event_time.field: no field "tss" (did you mean "ts"?)`,
		`job.yaml:11:12: sources[0].start: want earliest, latest or an RFC 3339 time`,
		`job.yaml:14:13: pipeline[0].key_by: no field "emojj"`,
		`job.yaml:15:47: pipeline[1].window.slide: slide does not apply to a tumbling window`,
		`job.yaml:17:10: pipeline[2].aggregate.n:`,
		`job.yaml:19:11: sinks[0].type: unknown sink type "kafak" (did you mean "kafka"?)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

func TestValidateRejectsKeyByNeedingRepartition(t *testing.T) {
	src := strings.Replace(emojiJob, "key_by: [match_id, emoji]", "key_by: [emoji]", 1)
	_, err := compileString(t, src)
	if err == nil || !strings.Contains(err.Error(), "repartitioning is not supported yet") ||
		!strings.Contains(err.Error(), "partitioned_by [match_id]") {
		t.Fatalf("want a repartition error that says why and what to change, got %v", err)
	}
}

func TestValidateStructure(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"window without aggregate", "  - aggregate:\n      n: count()\n", "", "must be followed by an aggregate"},
		{"two ops in a step", "  - key_by: [match_id, emoji]\n", "  - key_by: [match_id, emoji]\n    filter: \"true\"\n", "a step holds one operator"},
		{"no sinks", "sinks:\n  - type: kafka\n    topic: counts\n    key: [match_id]\n", "sinks: []\n", "at least one sink"},
		{"sink key unknown", "key: [match_id]", "key: [matchid]", `no output column "matchid" (did you mean "match_id"?)`},
		{"session with size", "{type: tumbling, size: 2s, allowed_lateness: 5s}", "{type: session, size: 2s}", "a session window needs a positive gap"},
		{"slide longer than size", "{type: tumbling, size: 2s, allowed_lateness: 5s}", "{type: sliding, size: 2s, slide: 4s}", "is longer than size"},
		{"event time not a timestamp", "ts: timestamp", "ts: int", `field "ts" must have type timestamp`},
		{"bad aggregate field", "n: count()", "n: sum(nope)", `no field "nope"`},
		{"aggregate name taken", "n: count()", "revision: count()", `output column "revision" is taken`},
		{"bad encoding", "event_time: {field: ts}", "event_time: {field: ts, encoding: epoch_ns}", "event_time.encoding"},
		{"session timeout too short", "sinks:\n", "group: {session_timeout: 500ms}\nsinks:\n", "group.session_timeout: 500ms is too short"},
		{"rebalance timeout too short", "sinks:\n", "group: {rebalance_timeout: 10ms}\nsinks:\n", "group.rebalance_timeout: 10ms is too short"},
		{"heartbeat above session", "sinks:\n", "group: {session_timeout: 6s, heartbeat_interval: 6s}\nsinks:\n", "group.heartbeat_interval: 6s must be positive and below session_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(emojiJob, c.from, c.to, 1)
			if src == emojiJob {
				t.Fatalf("replacement %q not found", c.from)
			}
			_, err := compileString(t, src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestParseRejectsInvalidYAML(t *testing.T) {
	_, err := Parse("j.yaml", []byte("name: x\nsources: [\n"))
	if err == nil || !strings.Contains(err.Error(), "j.yaml:") || !strings.Contains(err.Error(), "invalid YAML") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("j.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseJob: any bytes give a job or errors, never a panic; accepted jobs compile or give
// positioned errors.
func FuzzParseJob(f *testing.F) {
	f.Add([]byte(emojiJob))
	for _, p := range []string{"../examples/emoji/emoji-counts.yaml", "../examples/emoji/emoji-mood.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: [\n"))
	f.Add([]byte("sources: {a: b}\npipeline: 3\n"))
	env := NewEnv()
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Parse("f.yaml", b)
		if err != nil {
			var es strictyaml.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse error is not positioned: %v", err)
			}
			return
		}
		if _, err := Compile(j, env); err != nil {
			var es strictyaml.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Compile error is not positioned: %v", err)
			}
		}
	})
}
