package operators

import (
	"math"
	"strconv"
	"time"
)

// appendTime appends an event time as the rows print it (RFC 3339, ms, UTC), and the
// watermark's infinities as -inf and +inf.
func appendTime(dst []byte, ms int64) []byte {
	switch ms {
	case math.MinInt64:
		return append(dst, "-inf"...)
	case math.MaxInt64:
		return append(dst, "+inf"...)
	}
	return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
}

func appendRange(dst []byte, start, end int64) []byte {
	dst = append(dst, '[')
	dst = appendTime(dst, start)
	dst = append(dst, ',')
	dst = appendTime(dst, end)
	return append(dst, ')')
}

// appendDuration appends a duration in ms the way job files write it: 5s, 1m30s, 250ms.
func appendDuration(dst []byte, ms int64) []byte {
	return append(dst, (time.Duration(ms) * time.Millisecond).String()...)
}

// lateReason names what a late record missed: n consecutive windows from [firstStart,
// firstEnd) to [lastStart, lastEnd) (noun "window" or "session"), closed at watermark wm.
func lateReason(noun string, n int, firstStart, firstEnd, lastStart, lastEnd, wm, lateness int64) string {
	b := make([]byte, 0, 160)
	b = append(b, "late: "...)
	if n == 1 {
		b = append(b, noun...)
		b = append(b, ' ')
		b = appendRange(b, firstStart, firstEnd)
	} else {
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ' ')
		b = append(b, noun...)
		b = append(b, "s from "...)
		b = appendRange(b, firstStart, firstEnd)
		b = append(b, " to "...)
		b = appendRange(b, lastStart, lastEnd)
	}
	b = append(b, " closed at watermark "...)
	b = appendTime(b, wm)
	b = append(b, " (allowed_lateness "...)
	b = appendDuration(b, lateness)
	b = append(b, ')')
	return string(b)
}

// outOfRangeReason is the reason for an event time outside [MinEventTime, MaxEventTime].
func outOfRangeReason(t int64) string {
	b := make([]byte, 0, 96)
	b = append(b, "event time "...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, "ms is outside the supported range ±2^61 ms"...)
	return string(b)
}
