// Package strictyaml decodes YAML into plain Go structs strictly: unknown fields are errors with
// a "did you mean", type mismatches name the field's path, and every problem is reported at once
// with file:line:column. It also records where each field was written, so that semantic
// validation after decoding can point at the right place too.
//
// Supported targets: structs (fields named by `yaml:"name"` tags), strings, bools, all int and
// float kinds, slices, pointers, map[string]T, and any type implementing Unmarshaler (used for
// durations, sizes and ordered mappings).
package strictyaml
