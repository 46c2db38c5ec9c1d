// Package format decodes record values (Kafka message bytes) into rows and encodes rows back
// into bytes. It sits on the hot path of every source: a task decodes each fetched record into a
// reused row.Row before event time is read and operators run.
//
// # Decoding
//
// A job file names a format ("json") and the fields to extract. The CLI builds one Registry
// (NewRegistry comes with "json"; Avro or Protobuf register their own DecoderFactory), and each
// task asks it for its own Decoder:
//
//	reg := format.NewRegistry()
//	dec, err := reg.New("json", []format.Field{
//		{Name: "match_id", Type: row.TypeString},
//		{Name: "uid", Type: row.TypeString, Path: "user.id"},
//		{Name: "ts", Type: row.TypeTimestamp, Time: format.EpochMillis},
//	})
//	dst := make(row.Row, 3)
//	for _, rec := range records {
//		if err := dec.Decode(rec.Value, dst); err != nil {
//			// send rec and err.Error() to the dead-letter topic
//		}
//	}
//
// A Decoder is not safe for concurrent use: make one per task (goroutine).
//
// # Ownership of decoded strings
//
// Decode does not copy strings. A string value aliases the input bytes when it needs no
// unescaping, and otherwise lives in a scratch buffer owned by the decoder that the next Decode
// call overwrites. Either way a decoded row is valid only until the next Decode call on the same
// decoder, and only while the input bytes are unchanged. Whoever keeps a string longer (a window
// key, a join's event store) copies it with strings.Clone or row.Row.Clone. This matches the
// ownership rule of package row.
//
// # JSON
//
// The JSON decoder (NewJSONDecoder) is a single-pass scanner over one JSON object per record. It
// validates the whole input as JSON (RFC 8259), reads the fields of its schema, found by key or
// by dotted path into nested objects, and skips everything else. Semantics:
//
//   - Duplicate keys: the last occurrence of a field wins, both for its value and for any error
//     in it ({"n":"x","n":1} decodes n=1).
//   - A missing field, or a JSON null, is row.Null() when the field is Optional and an error
//     otherwise. A null (or missing) object on the way to a nested field makes the field
//     missing; any other non-object there is a type error for every field below it.
//   - Types are strict: a string field takes a JSON string, an int field an integer literal that
//     fits int64 (1.0 and 1e3 are refused), a float field any number, a bool field true/false.
//   - Timestamps: epoch_ms and epoch_us take integer literals, epoch_s any number (fractional
//     seconds kept to the millisecond, rounded toward minus infinity), rfc3339 a string in the
//     form 2006-01-02T15:04:05[.frac](Z|±hh:mm), as Go's time.RFC3339 parser accepts it.
//   - Strings are unescaped as encoding/json does, including \uXXXX surrogate pairs; lone
//     surrogates and invalid UTF-8 bytes become U+FFFD.
//   - Path segments are separated by dots, so a key that itself contains a dot cannot be named.
//   - Nesting deeper than 1000 objects/arrays is refused.
//
// Errors are *DecodeError values naming the field, the byte offset and the reason, in a form fit
// for a dead-letter record.
//
// # Encoding
//
// AppendJSON writes a row as a JSON object in schema order without allocating: timestamps as
// RFC 3339 UTC strings with milliseconds, floats in shortest round-trip form (NaN and ±Inf as
// null), strings escaped with invalid UTF-8 replaced by U+FFFD.
package format
