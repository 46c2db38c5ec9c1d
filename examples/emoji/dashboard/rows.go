package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadRow marks an output row the dashboard could not use (undecodable, or a field missing).
var ErrBadRow = errors.New("dashboard: bad row")

// Time is an instant in an output row, in Unix milliseconds. It decodes from an RFC 3339 string
// ("2026-11-22T15:04:02.000Z") or a JSON number of milliseconds, and encodes as RFC 3339 with
// milliseconds in UTC.
type Time int64

// TimeOf converts a time.Time.
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std returns the time as a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON encodes the time as an RFC 3339 string with milliseconds.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 26)
	b = append(b, '"')
	b = t.Std().AppendFormat(b, rfc3339Milli)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts an RFC 3339 string or a number of Unix milliseconds.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		*t = TimeOf(v)
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("time %s: neither an RFC 3339 string nor epoch milliseconds", b)
	}
	*t = Time(v)
	return nil
}

// CountRow is a row of the emoji-counts topic: the 2 s tumbling count of one (match, emoji).
// A row with a higher Revision replaces the earlier row of its (window, match, emoji).
type CountRow struct {
	WindowStart Time   `json:"window_start"`
	WindowEnd   Time   `json:"window_end"`
	MatchID     string `json:"match_id"`
	Emoji       string `json:"emoji"`
	N           int64  `json:"n"`
	Revision    int64  `json:"revision"`
}

// MoodRow is a row of the emoji-mood topic: one match's reactions in a 10 s window sliding by
// 2 s, of which Positive and Negative are the mood-scored ones.
type MoodRow struct {
	WindowStart Time   `json:"window_start"`
	WindowEnd   Time   `json:"window_end"`
	MatchID     string `json:"match_id"`
	N           int64  `json:"n"`
	Positive    int64  `json:"positive"`
	Negative    int64  `json:"negative"`
	Revision    int64  `json:"revision"`
}

func (r *CountRow) check() error {
	switch {
	case r.MatchID == "" || r.Emoji == "":
		return fmt.Errorf("%w: count row without match_id or emoji", ErrBadRow)
	case r.WindowEnd <= r.WindowStart:
		return fmt.Errorf("%w: count row window [%d, %d) is empty", ErrBadRow, r.WindowStart, r.WindowEnd)
	case r.N < 0 || r.Revision < 0:
		return fmt.Errorf("%w: count row with negative n or revision", ErrBadRow)
	}
	return nil
}

func (r *MoodRow) check() error {
	switch {
	case r.MatchID == "":
		return fmt.Errorf("%w: mood row without match_id", ErrBadRow)
	case r.WindowEnd <= r.WindowStart:
		return fmt.Errorf("%w: mood row window [%d, %d) is empty", ErrBadRow, r.WindowStart, r.WindowEnd)
	case r.N < 0 || r.Positive < 0 || r.Negative < 0 || r.Positive+r.Negative > r.N || r.Revision < 0:
		return fmt.Errorf("%w: mood row counts n=%d positive=%d negative=%d revision=%d", ErrBadRow, r.N, r.Positive, r.Negative, r.Revision)
	}
	return nil
}

// DLQRecord is a record of the dead-letter topic: the original bytes and where they came from,
// as the engine's glint.* headers say.
type DLQRecord struct {
	Reason    string `json:"reason"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"` // the original bytes, truncated for display
	Time      Time   `json:"time"`  // the dead-letter record's Kafka timestamp
}
