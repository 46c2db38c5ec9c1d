package checkpoint

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files in testdata")

// sampleManifests covers empty and full manifests and extreme values.
func sampleManifests() []*Manifest {
	return []*Manifest{
		{Job: "j", Task: 0, ID: 0},
		{
			Job: "emoji-counts", Task: 7, ID: 42,
			Created:   time.Date(2026, 9, 18, 12, 30, 0, 123456789, time.UTC),
			Inputs:    []InputOffset{{Topic: "reactions", Partition: 7, Offset: 1_234_567}, {Topic: "users", Partition: 7, Offset: 0}},
			Watermark: 1_758_198_600_000,
			StateKey:  "emoji-counts/task-7/state-00000000000000000042", StateSize: 100 << 20, StateCRC: 0xdeadbeef,
			Sinks: []SinkState{{Name: "lake", Data: []byte(`{"files":["a.parquet"]}`)}, {Name: "kafka", Data: []byte{0, 1, 2, 0xff}}},
			Meta:  map[string]string{"glint.version": "0.1.0", "job.sha256": "abc", "z": ""},
		},
		{
			Job: "extreme", Task: math.MaxInt32, ID: math.MaxUint64,
			Created:   time.Unix(0, -1).UTC(),
			Inputs:    []InputOffset{{Topic: "t", Partition: math.MaxInt32, Offset: math.MinInt64}},
			Watermark: math.MinInt64,
			Sinks:     []SinkState{{Name: "empty"}},
		},
		{Job: "inf", Task: 1, ID: 1, Watermark: math.MaxInt64, Meta: map[string]string{"k": strings.Repeat("v", 300)}},
	}
}

// equalManifests compares two manifests treating nil and empty slices and maps alike.
func equalManifests(t *testing.T, got, want *Manifest) {
	t.Helper()
	norm := func(m *Manifest) Manifest {
		c := *m
		c.Created = time.Time{}
		if len(c.Inputs) == 0 {
			c.Inputs = nil
		}
		if len(c.Sinks) == 0 {
			c.Sinks = nil
		}
		c.Sinks = append([]SinkState(nil), c.Sinks...)
		for i := range c.Sinks {
			if len(c.Sinks[i].Data) == 0 {
				c.Sinks[i].Data = nil
			}
		}
		if len(c.Meta) == 0 {
			c.Meta = nil
		}
		return c
	}
	if !got.Created.Equal(want.Created) {
		t.Errorf("Created = %v, want %v", got.Created, want.Created)
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("manifest mismatch:\n got  %+v\n want %+v", g, w)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	for _, m := range sampleManifests() {
		b := m.Encode()
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%s/%d)): %v", m.Job, m.ID, err)
		}
		equalManifests(t, got, m)
		if again := got.Encode(); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs: the encoding is not canonical", m.Job)
		}
	}
}

func TestManifestEncodingIsDeterministic(t *testing.T) {
	m := sampleManifests()[1]
	first := m.Encode()
	for range 20 { // map iteration order varies between runs of Encode
		if !bytes.Equal(m.Encode(), first) {
			t.Fatal("Encode is not deterministic")
		}
	}
}

// TestManifestGolden freezes version 1 of the encoding: a build must keep reading manifests
// written by older builds. Run with -rewrite only for a deliberate format change, together
// with a version bump.
func TestManifestGolden(t *testing.T) {
	path := filepath.Join("testdata", "manifest_v1.hex")
	m := sampleManifests()[1]
	if *rewrite {
		if err := os.WriteFile(path, []byte(hex.Dump(m.Encode())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := undump(t, string(raw))
	got, err := Decode(golden)
	if err != nil {
		t.Fatalf("decode golden v1 manifest: %v", err)
	}
	equalManifests(t, got, m)
	if !bytes.Equal(m.Encode(), golden) {
		t.Error("Encode no longer produces the v1 golden bytes")
	}
}

// undump parses the output of hex.Dump.
func undump(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if len(line) < 10 {
			continue
		}
		hexPart, _, _ := strings.Cut(line[10:], "|")
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexPart), ""))
		if err != nil {
			t.Fatalf("bad golden line %q: %v", line, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	valid := sampleManifests()[1].Encode()
	withCRC := func(b []byte) []byte { return fixCRC(append([]byte(nil), b...)) }
	version2 := append([]byte(nil), valid...)
	version2[4] = 2
	trailing := append(append([]byte(nil), valid[:len(valid)-4]...), 0, 0, 0, 0, 0)
	m := sampleManifests()[1]
	m.StateKey, m.StateCRC = "", 0 // a size without a key
	unsortedMeta := encodeBody(t, func(b []byte) []byte {
		b = appendString(b, "j")
		b = append(b, 0, 0, 0, 0, 0) // task, id, created, watermark, 0 inputs
		b = appendString(b, "")      // state key
		b = append(b, 0, 0, 0, 0, 0) // size 0, crc 0
		b = append(b, 0)             // 0 sinks
		b = append(b, 2)             // 2 meta entries, out of order
		b = appendString(appendString(b, "b"), "1")
		return appendString(appendString(b, "a"), "2")
	})
	overlong := encodeBody(t, func(b []byte) []byte {
		b = appendString(b, "j")
		return append(b, 0x80, 0x00) // task 0 encoded in two bytes
	})
	hugeCount := encodeBody(t, func(b []byte) []byte {
		b = appendString(b, "j")
		b = append(b, 0, 0, 0, 0)
		return append(b, 0xff, 0xff, 0xff, 0xff, 0x0f) // 4 G inputs in a tiny manifest
	})
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"header only", valid[:5], "truncated"},
		{"truncated by one", valid[:len(valid)-1], "checksum"},
		{"half", valid[:len(valid)/2], "checksum"},
		{"bad magic", append([]byte("GLCX"), valid[4:]...), "magic"},
		{"bad checksum", append(append([]byte(nil), valid[:len(valid)-1]...), valid[len(valid)-1]^1), "checksum"},
		{"flipped body byte", func() []byte { b := append([]byte(nil), valid...); b[20] ^= 0x40; return b }(), "checksum"},
		{"unknown version", withCRC(version2), "unknown manifest version 2"},
		{"trailing bytes", withCRC(trailing), "after the last field"},
		{"size without key", m.Encode(), "without a state key"},
		{"unsorted meta", unsortedMeta, "out of order"},
		{"overlong varint", overlong, "minimally"},
		{"huge count", hugeCount, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %+v, %v; want an error wrapping ErrCorrupt", got, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if got != nil {
				t.Error("Decode returned a manifest with its error")
			}
		})
	}
}

// encodeBody frames a hand-written body with a valid header and CRC.
func encodeBody(t *testing.T, body func([]byte) []byte) []byte {
	t.Helper()
	b := append([]byte(manifestMagic), manifestVersion)
	return fixCRC(append(body(b), 0, 0, 0, 0))
}

// fixCRC rewrites the magic and the trailing CRC of b (len >= 9) to match its middle.
func fixCRC(b []byte) []byte {
	copy(b, manifestMagic)
	end := len(b) - trailerLen
	sum := crcOf(b[len(manifestMagic):end])
	b[end], b[end+1], b[end+2], b[end+3] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	return b
}

func TestValidate(t *testing.T) {
	bad := &Manifest{Job: "a/b", Task: -1, Inputs: []InputOffset{{Topic: "", Partition: -2}},
		Sinks: []SinkState{{Name: "x"}, {Name: "x"}, {Name: ""}}, Meta: map[string]string{"": "v"}}
	err := bad.validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("validate = %v, want ErrInvalid", err)
	}
	// Every problem is reported at once.
	for _, want := range []string{"slash", "task -1", "empty topic", "partition -2", "duplicate name", "empty name", "meta: empty key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validate error %q does not report %q", err, want)
		}
	}
	for _, job := range []string{"", ".", "..", "a\\b", "a\nb", "\xff", strings.Repeat("j", 201)} {
		if (&Manifest{Job: job}).validate() == nil {
			t.Errorf("job %q accepted", job)
		}
	}
	for _, m := range sampleManifests() {
		if err := m.validate(); err != nil {
			t.Errorf("sample %q rejected: %v", m.Job, err)
		}
	}
}
