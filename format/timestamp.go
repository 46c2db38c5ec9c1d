package format

import "time"

// Timestamps are int64 milliseconds since the Unix epoch, UTC. The conversions here are written
// out (no time.Time) because they run once per record.

const msPerDay = 86_400_000

// floorDiv returns floor(a / b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(m, y int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseRFC3339Millis parses s, laid out as 2006-01-02T15:04:05[.frac](Z|±hh:mm), into
// milliseconds since the epoch. It accepts exactly what the fast path of Go's time.RFC3339
// parser accepts; fractional digits beyond milliseconds are truncated (the result is the floor).
// On failure it returns a reason.
func parseRFC3339Millis(s []byte) (int64, string) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return 0, "too short"
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, "not laid out as 2006-01-02T15:04:05Z07:00"
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, "not laid out as 2006-01-02T15:04:05Z07:00"
	}
	switch {
	case month < 1 || month > 12:
		return 0, "month out of range"
	case day < 1 || day > daysIn(month, year):
		return 0, "day out of range"
	case hour > 23:
		return 0, "hour out of range"
	case minute > 59:
		return 0, "minute out of range"
	case sec > 59:
		return 0, "second out of range"
	}
	s = s[19:]
	var ms int64
	if len(s) >= 2 && s[0] == '.' && s[1]-'0' <= 9 {
		n := 1
		for ; n < len(s) && s[n]-'0' <= 9; n++ {
			if n <= 3 {
				ms = ms*10 + int64(s[n]-'0')
			}
		}
		for k := n; k <= 3; k++ {
			ms *= 10
		}
		s = s[n:]
	}
	t := daysFromCivil(year, month, day)*msPerDay + ((hour*60+minute)*60+sec)*1000 + ms
	if len(s) == 1 && s[0] == 'Z' {
		return t, ""
	}
	if len(s) != len("+07:00") || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, "bad zone offset (want Z or ±hh:mm)"
	}
	oh, ok1 := digits(s[1:3])
	om, ok2 := digits(s[4:6])
	if !ok1 || !ok2 || oh > 23 || om > 59 {
		return 0, "bad zone offset (want Z or ±hh:mm)"
	}
	off := (oh*60 + om) * 60_000
	if s[0] == '-' {
		off = -off
	}
	return t - off, ""
}

// digits parses a short run of ASCII digits.
func digits(s []byte) (int64, bool) {
	var v int64
	for _, c := range s {
		if c-'0' > 9 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// appendRFC3339Millis appends ms as 2006-01-02T15:04:05.000Z. Years outside 0000-9999 have no
// RFC 3339 form; they are written as time.Time.AppendFormat writes them.
func appendRFC3339Millis(dst []byte, ms int64) []byte {
	days := floorDiv(ms, msPerDay)
	rem := ms - days*msPerDay
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	sec := rem / 1000
	milli := rem % 1000
	h, mi, s := sec/3600, sec/60%60, sec%60
	return append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}
