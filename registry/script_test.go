package registry

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata scripts with the actual output")

// TestScripts runs testdata/*.txt: each block is a command (with input lines), "----", and the
// expected output, as in etcd's and pebble's datadriven tests. Run with -rewrite to update.
//
// Commands (clock= and retention= are sticky; one command is one log entry):
//
//	claim tok=P/T/E [lease=MS] ids=name@evtime,...   claim ids
//	confirm|abort tok=P/T/E
//	renew tok=P/T/E [lease=MS]
//	recover tok=P/T/CHECKPOINT
//	batch        each input line is one op above, all in one entry
//	state        dump the state
//	snapshot     write a snapshot, restore it in place of the state, check nothing changed
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptBlock struct {
	pre    []string // comments and blank lines before the block
	cmd    string
	input  []string
	expect []string
}

func parseScript(t *testing.T, path string) (blocks []scriptBlock, tail []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var pre []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			i++
			continue
		}
		b := scriptBlock{pre: pre, cmd: l}
		pre = nil
		i++
		for i < len(lines) && lines[i] != "----" {
			b.input = append(b.input, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: command %q has no ----", path, b.cmd)
		}
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			b.expect = append(b.expect, lines[i])
			i++
		}
		blocks = append(blocks, b)
	}
	return blocks, pre
}

func runScript(t *testing.T, path string) {
	blocks, tail := parseScript(t, path)
	h := &harness{s: NewState(), names: map[ID]string{}, lease: 1000}
	var out bytes.Buffer
	failed := false
	for _, b := range blocks {
		got := h.run(t, b)
		if !*rewrite && !slices.Equal(got, b.expect) {
			t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", path, b.cmd, strings.Join(got, "\n"), strings.Join(b.expect, "\n"))
			failed = true
		}
		for _, l := range b.pre {
			out.WriteString(l + "\n")
		}
		out.WriteString(b.cmd + "\n")
		for _, l := range b.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range got {
			out.WriteString(l + "\n")
		}
	}
	for _, l := range tail {
		out.WriteString(l + "\n")
	}
	if *rewrite && !failed {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type harness struct {
	s         *State
	names     map[ID]string
	clock     int64
	retention int64
	lease     int64
}

func (h *harness) run(t *testing.T, b scriptBlock) []string {
	fields := strings.Fields(b.cmd)
	switch fields[0] {
	case "state":
		return h.dump()
	case "snapshot":
		before := h.dump()
		var buf bytes.Buffer
		if err := h.s.freeze().writeTo(&buf); err != nil {
			t.Fatal(err)
		}
		s2, err := readSnapshot(&buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		h.s = s2
		if after := h.dump(); !slices.Equal(before, after) {
			return append([]string{"snapshot changed the state:"}, after...)
		}
		return []string{"ok"}
	case "batch":
		h.sticky(t, fields[1:])
		var ops []op
		for _, l := range b.input {
			ops = append(ops, h.parseOp(t, strings.Fields(l)))
		}
		return h.apply(ops)
	}
	h.sticky(t, fields[1:])
	return h.apply([]op{h.parseOp(t, fields)})
}

// sticky reads clock= and retention=, which stay until changed.
func (h *harness) sticky(t *testing.T, args []string) {
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "clock":
			h.clock = atoi(t, v)
		case "retention":
			h.retention = atoi(t, v)
		}
	}
}

func atoi(t *testing.T, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return v
}

func parseToken(t *testing.T, s string) Token {
	p := strings.Split(s, "/")
	if len(p) != 3 {
		t.Fatalf("bad token %q", s)
	}
	return Token{Pipeline: p[0], Task: uint32(atoi(t, p[1])), Epoch: uint64(atoi(t, p[2]))}
}

func (h *harness) parseOp(t *testing.T, fields []string) op {
	kinds := map[string]opKind{"claim": opClaim, "confirm": opConfirm, "abort": opAbort, "renew": opRenew, "recover": opRecover}
	k, ok := kinds[fields[0]]
	if !ok {
		t.Fatalf("unknown op %q", fields[0])
	}
	o := op{kind: k, lease: h.lease}
	for _, a := range fields[1:] {
		key, v, _ := strings.Cut(a, "=")
		switch key {
		case "tok":
			o.tok = parseToken(t, v)
		case "lease":
			o.lease = atoi(t, v)
		case "ids":
			for _, s := range strings.Split(v, ",") {
				name, ev, ok := strings.Cut(s, "@")
				if !ok {
					t.Fatalf("bad id %q (want name@time)", s)
				}
				id := IDOfString(name)
				h.names[id] = name
				o.ids = append(o.ids, ClaimID{ID: id, EventTime: atoi(t, ev)})
			}
		case "clock", "retention":
		default:
			t.Fatalf("unknown argument %q", a)
		}
	}
	return o
}

func (h *harness) apply(ops []op) []string {
	e := entry{clock: h.clock, retention: h.retention, ops: ops}
	// Every entry goes through the codec, as in the log.
	dec, err := decodeEntry(encodeEntry(&e))
	if err != nil {
		return []string{"decode: " + err.Error()}
	}
	res := h.s.Apply(&dec)
	var out []string
	for i, r := range res {
		o := &ops[i]
		if r.code != codeOK {
			out = append(out, o.kind.String()+" "+o.tok.String()+": "+r.code.err(o.tok).Error())
			continue
		}
		if o.kind != opClaim {
			out = append(out, o.kind.String()+" "+o.tok.String()+": ok")
			continue
		}
		parts := make([]string, len(r.outcomes))
		for j, res := range r.results() {
			parts[j] = h.names[o.ids[j].ID] + ":" + res.Outcome.String()
			if res.Outcome == Lost {
				parts[j] += "(" + res.Holder.String() + ")"
			}
		}
		out = append(out, "claim "+o.tok.String()+": "+strings.Join(parts, " "))
	}
	return out
}

// dump prints the logical state (token generations, live claims) in an order independent of
// table layout and record slots.
func (h *harness) dump() []string {
	s := h.s
	hz := "none"
	if s.horizon != math.MinInt64 {
		hz = strconv.FormatInt(s.horizon, 10)
	}
	var toks []string
	for i := range s.tokens {
		r := &s.tokens[i]
		if r.state == tokFree {
			continue
		}
		toks = append(toks, "token "+h.tokenDesc(r))
	}
	slices.Sort(toks)
	var cl []string
	for i := range s.claims.pages {
		for j := range s.claims.pages[i].s {
			sl := &s.claims.pages[i].s[j]
			if sl.gen == 0 || !s.live(sl) {
				continue
			}
			cl = append(cl, fmt.Sprintf("id %s ev=%d %s", h.names[sl.id], sl.ev, h.tokenDesc(&s.tokens[sl.tok])))
		}
	}
	slices.Sort(cl)
	out := []string{fmt.Sprintf("clock=%d horizon=%s live=%d", s.clock, hz, len(cl))}
	out = append(out, toks...)
	return append(out, cl...)
}

func (h *harness) tokenDesc(r *tokenRec) string {
	st := [...]string{"free", "open", "confirmed"}[r.state]
	if h.s.expired(r) {
		st = "expired"
	}
	d := r.key.String() + " " + st
	if r.state == tokOpen {
		d += fmt.Sprintf(" deadline=%d", r.deadline)
	}
	if !r.attached {
		d += " detached"
	}
	if r.orphan {
		d += " orphan"
	}
	return d
}
