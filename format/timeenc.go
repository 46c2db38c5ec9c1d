package format

import (
	"fmt"
	"strconv"
)

// TimeEncoding says how a timestamp field is written in a record.
type TimeEncoding uint8

// The time encodings. Decoded timestamps are always int64 milliseconds since the Unix epoch, UTC.
const (
	// EpochMillis: an integer number of milliseconds since the epoch ("epoch_ms"). The zero value.
	EpochMillis TimeEncoding = iota
	// EpochMicros: an integer number of microseconds ("epoch_us"), rounded down to milliseconds.
	EpochMicros
	// EpochSeconds: a number of seconds ("epoch_s"), possibly fractional, rounded down to
	// milliseconds.
	EpochSeconds
	// RFC3339: a string such as "2026-11-22T15:04:02.123+01:00" ("rfc3339").
	RFC3339
)

var timeEncodingNames = [...]string{"epoch_ms", "epoch_us", "epoch_s", "rfc3339"}

// String returns the name ParseTimeEncoding accepts.
func (e TimeEncoding) String() string {
	if int(e) < len(timeEncodingNames) {
		return timeEncodingNames[e]
	}
	return "TimeEncoding(" + strconv.Itoa(int(e)) + ")"
}

// TimeEncodingNames lists the names ParseTimeEncoding accepts, for error messages and docs.
func TimeEncodingNames() []string { return timeEncodingNames[:] }

// ParseTimeEncoding parses a time encoding as written in job files: epoch_ms, epoch_us, epoch_s
// or rfc3339. The error wraps ErrUnknownTimeEncoding and lists the valid names.
func ParseTimeEncoding(s string) (TimeEncoding, error) {
	for i, n := range timeEncodingNames {
		if s == n {
			return TimeEncoding(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: epoch_ms, epoch_us, epoch_s, rfc3339)", ErrUnknownTimeEncoding, s)
}
