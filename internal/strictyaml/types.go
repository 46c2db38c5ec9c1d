package strictyaml

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "2s", "500ms", "1m30s".
type Duration time.Duration

// UnmarshalStrictYAML implements Unmarshaler.
func (du *Duration) UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string) {
	if !d.Scalar(n, path, `a duration such as "2s" or "500ms"`) {
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, `want a duration such as "2s", "500ms" or "1m30s", got %q`, n.Value)
		return
	}
	if v < 0 {
		d.Errorf(n, path, "a duration must not be negative, got %s", n.Value)
		return
	}
	*du = Duration(v)
}

// D returns the time.Duration.
func (du Duration) D() time.Duration { return time.Duration(du) }

// Millis returns the duration in whole milliseconds.
func (du Duration) Millis() int64 { return time.Duration(du).Milliseconds() }

func (du Duration) String() string { return time.Duration(du).String() }

// Size is a byte count written as "128MiB", "64MB", "4096".
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1},
}

// ParseSize parses a byte size such as "128MiB".
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f < 0 {
				break
			}
			return Size(f * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf(`want a size such as "128MiB" or "64MB", got %q`, s)
	}
	return Size(n), nil
}

// UnmarshalStrictYAML implements Unmarshaler.
func (sz *Size) UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string) {
	if !d.Scalar(n, path, `a size such as "128MiB"`) {
		return
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	*sz = v
}

// Entry is one key of an ordered mapping, with where it was written.
type Entry[T any] struct {
	Key   string
	Value T
	Pos   Pos
}

// Ordered is a mapping that keeps the order its keys were written in (field lists, aggregate
// lists, computed columns: their order is the output's column order). Keys must be unique.
type Ordered[T any] []Entry[T]

// UnmarshalStrictYAML implements Unmarshaler.
func (o *Ordered[T]) UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string) {
	if !d.Mapping(n, path) {
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		if seen[k.Value] {
			d.Errorf(k, sub, "%q is set twice", k.Value)
			continue
		}
		seen[k.Value] = true
		var e Entry[T]
		e.Key, e.Pos = k.Value, d.Pos(k)
		decodeAny(d, val, sub, &e.Value)
		*o = append(*o, e)
	}
}

// Keys returns the keys in order.
func (o Ordered[T]) Keys() []string {
	ks := make([]string, len(o))
	for i, e := range o {
		ks[i] = e.Key
	}
	return ks
}

// StringOrList is a list of strings that may also be written as one string.
type StringOrList []string

// UnmarshalStrictYAML implements Unmarshaler.
func (s *StringOrList) UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		*s = StringOrList{n.Value}
		return
	}
	var l []string
	decodeAny(d, n, path, &l)
	*s = l
}
