package strictyaml

import (
	"strings"
	"testing"
	"time"
)

type inner struct {
	Size  Size     `yaml:"size"`
	Every Duration `yaml:"every"`
}

type cfg struct {
	Name  string            `yaml:"name"`
	Count int               `yaml:"count"`
	On    bool              `yaml:"on"`
	Ratio float64           `yaml:"ratio"`
	Tags  []string          `yaml:"tags"`
	Keys  StringOrList      `yaml:"keys"`
	In    *inner            `yaml:"inner"`
	Cols  Ordered[string]   `yaml:"cols"`
	Meta  map[string]string `yaml:"meta"`
	Deep  Ordered[inner]    `yaml:"deep"`
}

func TestDecodeAllKinds(t *testing.T) {
	src := `name: x
count: 3
on: true
ratio: 0.5
tags: [a, b]
keys: k
inner: {size: 128MiB, every: 1m30s}
cols:
  z: "1"
  a: "2"
meta: {k: v}
deep:
  one: {size: 10KB}
`
	var c cfg
	pos, err := Decode("c.yaml", []byte(src), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "x" || c.Count != 3 || !c.On || c.Ratio != 0.5 || len(c.Tags) != 2 || c.Keys[0] != "k" {
		t.Fatalf("%+v", c)
	}
	if c.In.Size != 128<<20 || c.In.Every.D() != 90*time.Second {
		t.Fatalf("inner %+v", c.In)
	}
	if strings.Join(c.Cols.Keys(), ",") != "z,a" || c.Cols[1].Value != "2" || c.Cols[1].Pos.Line != 10 {
		t.Fatalf("ordered %+v", c.Cols)
	}
	if c.Meta["k"] != "v" || c.Deep[0].Value.Size != 10_000 {
		t.Fatalf("map/deep %+v %+v", c.Meta, c.Deep)
	}
	if p := pos.Lookup("inner.every"); p.Line != 7 || p.Column != 30 {
		t.Fatalf("position of inner.every: %v", p)
	}
	if p := pos.Lookup("tags[1].nothing"); p.Line != 5 || p.Column != 11 {
		t.Fatalf("nearest ancestor position: %v", p)
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	src := `nme: x
count: many
on: yes please
inner: {size: big, every: soon, extra: 1}
cols: [1]
tags: {a: b}
name: y
name: z
`
	var c cfg
	_, err := Decode("c.yaml", []byte(src), &c)
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`c.yaml:1:1: nme: unknown field "nme" (did you mean "name"?)`,
		`c.yaml:2:8: count: want an integer, got "many"`,
		`c.yaml:3:5: on: want true or false, got "yes please"`,
		`c.yaml:4:15: inner.size: want a size such as "128MiB" or "64MB", got "big"`,
		`c.yaml:4:27: inner.every: want a duration`,
		`c.yaml:4:33: inner.extra: unknown field "extra"`,
		`c.yaml:5:7: cols: want a mapping`,
		`c.yaml:6:7: tags: want a list, got a mapping`,
		`c.yaml:8:1: name: field "name" is set twice`,
	}
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{"tumblng", ` (did you mean "tumbling"?)`},
		{"xyzzy", ` (valid: tumbling, sliding, session)`},
		{"Session", ` (did you mean "session"?)`},
	} {
		if got := DidYouMean(c.got, []string{"tumbling", "sliding", "session"}); got != c.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", c.got, got, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: x\ncols: {a: b}\ninner: {size: 1KiB}\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte("deep: {a: {size: -1}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c cfg
		_, err := Decode("f.yaml", b, &c)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("non-positioned error %T", err)
			}
		}
	})
}
