package format

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// The millisecond range of years 0000-9999, where timestamps have an RFC 3339 form.
var (
	minRFC3339Millis = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxRFC3339Millis = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
)

func TestParseRFC3339Millis(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ms int) int64 {
		return time.Date(y, mo, d, h, mi, s, ms*1e6, time.UTC).UnixMilli()
	}
	ok := []struct {
		in   string
		want int64
	}{
		{"2026-11-22T15:04:02Z", utc(2026, 11, 22, 15, 4, 2, 0)},
		{"2026-11-22T15:04:02.1Z", utc(2026, 11, 22, 15, 4, 2, 100)},
		{"2026-11-22T15:04:02.12Z", utc(2026, 11, 22, 15, 4, 2, 120)},
		{"2026-11-22T15:04:02.123Z", utc(2026, 11, 22, 15, 4, 2, 123)},
		{"2026-11-22T15:04:02.123999999999Z", utc(2026, 11, 22, 15, 4, 2, 123)}, // truncated, not rounded
		{"2026-11-22T15:04:02.000+01:00", utc(2026, 11, 22, 14, 4, 2, 0)},
		{"2026-11-22T00:30:00-23:59", utc(2026, 11, 23, 0, 29, 0, 0)},
		{"1970-01-01T00:00:00Z", 0},
		{"1969-12-31T23:59:59.999Z", -1},
		{"1969-12-31T23:59:59.9995Z", -1},
		{"0000-01-01T00:00:00Z", utc(0, 1, 1, 0, 0, 0, 0)},
		{"0000-01-01T00:00:00+01:00", utc(-1, 12, 31, 23, 0, 0, 0)},
		{"9999-12-31T23:59:59.999Z", utc(9999, 12, 31, 23, 59, 59, 999)},
		{"2024-02-29T12:00:00Z", utc(2024, 2, 29, 12, 0, 0, 0)},
		{"2000-02-29T12:00:00Z", utc(2000, 2, 29, 12, 0, 0, 0)},
	}
	for _, c := range ok {
		got, why := parseRFC3339Millis([]byte(c.in))
		if why != "" || got != c.want {
			t.Errorf("parse(%q) = %d %q, want %d", c.in, got, why, c.want)
		}
		if tm, err := time.Parse(time.RFC3339Nano, c.in); err != nil || tm.UnixMilli() != c.want {
			t.Errorf("time.Parse(%q) = %v, %v: the test table is wrong", c.in, tm, err)
		}
	}
	bad := map[string]string{
		"2026-11-22":                   "too short",
		"2026-11-22 15:04:02Z":         "not laid out as 2006-01-02T15:04:05Z07:00",
		"2026-11-22t15:04:02Z":         "not laid out as 2006-01-02T15:04:05Z07:00",
		"2026-1a-22T15:04:02Z":         "not laid out as 2006-01-02T15:04:05Z07:00",
		"2026-13-22T15:04:02Z":         "month out of range",
		"2026-00-22T15:04:02Z":         "month out of range",
		"2026-02-29T15:04:02Z":         "day out of range",
		"1900-02-29T15:04:02Z":         "day out of range",
		"2026-04-31T15:04:02Z":         "day out of range",
		"2026-04-00T15:04:02Z":         "day out of range",
		"2026-11-22T24:00:00Z":         "hour out of range",
		"2026-11-22T15:60:02Z":         "minute out of range",
		"2026-11-22T15:04:60Z":         "second out of range",
		"2026-11-22T15:04:02z":         "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02":          "too short",
		"2026-11-22T15:04:02.Z":        "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02,123Z":     "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02+0100":     "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02+24:00":    "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02+01:60":    "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02.123+01:0": "bad zone offset (want Z or ±hh:mm)",
		"2026-11-22T15:04:02Z ":        "bad zone offset (want Z or ±hh:mm)",
	}
	for in, want := range bad {
		if got, why := parseRFC3339Millis([]byte(in)); why != want {
			t.Errorf("parse(%q) = %d %q, want error %q", in, got, why, want)
		}
	}
}

// TestRFC3339AgainstTime checks parsing and formatting against package time on random instants
// of years 0000-9999, in random zones and with random fraction lengths.
func TestRFC3339AgainstTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	layouts := []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.0Z07:00", "2006-01-02T15:04:05.000Z07:00",
		"2006-01-02T15:04:05.000000Z07:00", "2006-01-02T15:04:05.999999999Z07:00"}
	for range 200_000 {
		ms := minRFC3339Millis + rng.Int64N(maxRFC3339Millis-minRFC3339Millis)
		tm := time.UnixMilli(ms).Add(time.Duration(rng.IntN(1_000_000))).UTC()
		if got := string(appendRFC3339Millis(nil, ms)); got != time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Fatalf("format %d = %s", ms, got)
		}
		zone := time.FixedZone("", (rng.IntN(48*60-1)-24*60+1)*60)
		s := tm.In(zone).Format(layouts[rng.IntN(len(layouts))])
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			continue // shifted out of years 0000-9999 by the zone
		}
		got, why := parseRFC3339Millis([]byte(s))
		if why != "" || got != want.UnixMilli() {
			t.Fatalf("parse(%q) = %d %q, want %d", s, got, why, want.UnixMilli())
		}
	}
	// Outside years 0000-9999 the encoder falls back to package time's form.
	for _, ms := range []int64{minRFC3339Millis - 1, maxRFC3339Millis, -1 << 62, 1<<62 + 7} {
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(appendRFC3339Millis(nil, ms)); got != want {
			t.Errorf("format %d = %s, want %s", ms, got, want)
		}
	}
}

func TestCivilDays(t *testing.T) {
	for days := int64(-800_000); days < 3_000_000; days += 7 {
		y, m, d := civilFromDays(days)
		tm := time.Unix(days*86400, 0).UTC()
		if y != int64(tm.Year()) || m != int64(tm.Month()) || d != int64(tm.Day()) {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", days, y, m, d, tm)
		}
		if back := daysFromCivil(y, m, d); back != days {
			t.Fatalf("daysFromCivil(%d-%d-%d) = %d, want %d", y, m, d, back, days)
		}
	}
}

// TestFloorScaled checks the exact epoch_s conversion against math/big on random literals.
func TestFloorScaled(t *testing.T) {
	cases := map[string]int64{
		"0": 0, "-0": 0, "1": 1000, "1.5": 1500, "1.0005": 1000, "-1.0005": -1001, "-1.5": -1500,
		"0.0009": 0, "-0.0009": -1, "1e3": 1_000_000, "1E-3": 1, "-1e-3": -1, "1.23456e2": 123456,
		"123456789012345678901234567890e-20": 1234567890123, "0.000e999999999": 0,
		"1e-999999999": 0, "-1e-999999999": -1, "9223372036854775.807": 1<<63 - 1,
		"-9223372036854775.808": -1 << 63, "-9223372036854775.8079": -1 << 63,
	}
	for in, want := range cases {
		if got, ok := floorScaled([]byte(in), 3); !ok || got != want {
			t.Errorf("floorScaled(%s) = %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"9223372036854775.808", "-9223372036854775.8081", "1e16", "1e999999999", "-1e17", "18446744073709551616"} {
		if got, ok := floorScaled([]byte(in), 3); ok {
			t.Errorf("floorScaled(%s) = %d, want out of range", in, got)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for range 100_000 {
		lit := ""
		if rng.IntN(2) == 0 {
			lit = "-"
		}
		ip := digits(1 + rng.IntN(20))
		for len(ip) > 1 && ip[0] == '0' {
			ip = ip[1:]
		}
		lit += ip
		if rng.IntN(2) == 0 {
			lit += "." + digits(1+rng.IntN(25))
		}
		if rng.IntN(2) == 0 {
			lit += "e" + []string{"", "+", "-"}[rng.IntN(3)] + strconv.Itoa(rng.IntN(30))
		}
		r, _ := new(big.Rat).SetString(lit)
		q := new(big.Int).Div(r.Mul(r, big.NewRat(1000, 1)).Num(), r.Denom())
		got, ok := floorScaled([]byte(lit), 3)
		if ok != q.IsInt64() || ok && got != q.Int64() {
			t.Fatalf("floorScaled(%s) = %d %v, want %v", lit, got, ok, q)
		}
	}
}
