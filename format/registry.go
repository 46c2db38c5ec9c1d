package format

import (
	"fmt"
	"slices"
	"strings"
)

// Registry maps format names to decoder factories. The CLI builds one and passes it to whatever
// creates sources; there is no package-level registry.
//
// Register all formats before use. After that, New and Names are safe for concurrent use (they
// only read); Register is not safe concurrently with anything.
type Registry struct {
	factories map[string]DecoderFactory
}

// NewRegistry returns a registry holding the built-in formats: "json".
func NewRegistry() *Registry {
	r := &Registry{factories: make(map[string]DecoderFactory)}
	if err := r.Register("json", func(fields []Field) (Decoder, error) {
		return NewJSONDecoder(fields)
	}); err != nil {
		panic(err) // unreachable: the registry is empty
	}
	return r
}

// Register adds a format. The name must be non-empty and not yet registered (the error wraps
// ErrDuplicateFormat).
func (r *Registry) Register(name string, f DecoderFactory) error {
	switch {
	case name == "":
		return fmt.Errorf("format: register: empty format name")
	case f == nil:
		return fmt.Errorf("format: register %q: nil factory", name)
	}
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateFormat, name)
	}
	r.factories[name] = f
	return nil
}

// New builds a decoder of the named format for fields. An unknown name gives an error wrapping
// ErrUnknownFormat that lists the known names.
func (r *Registry) New(name string, fields []Field) (Decoder, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, name, strings.Join(r.Names(), ", "))
	}
	return f(fields)
}

// Names returns the registered format names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
