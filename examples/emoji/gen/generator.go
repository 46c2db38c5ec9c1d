package gen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrConfig is returned (wrapped, with every problem listed) by New for an invalid Config.
var ErrConfig = errors.New("gen: invalid config")

// Config sets up a Generator. Start from DefaultConfig: New uses every field as given, so a zero
// fraction really means none.
type Config struct {
	Seed    uint64 // everything the generator does is a function of Seed and the Append times
	Matches int    // concurrent matches, ids m1..mN (1..99)
	Users   int    // viewer ids u0000000..u(Users-1), at most 10 000 000

	EmojiSkew float64 // Zipf exponent of emoji popularity (> 0)
	MatchSkew float64 // Zipf exponent of audience size across matches (>= 0; 0 = equal)
	// MomentsPerMinute is each match's mean number of moments (sixes, wickets, ...) per minute
	// of event time, at most 5.
	MomentsPerMinute float64

	// MaxDelay bounds the network delay (arrival minus ts) of all events but the late ones.
	MaxDelay time.Duration
	// LateFraction of events is delayed by more than MaxDelay, up to LateMax.
	LateFraction float64
	LateMax      time.Duration
	// DuplicateFraction of valid events is sent a second time, 0.2 to 2 s later (a client retry).
	DuplicateFraction float64
	// MalformedFraction of events is malformed: truncated JSON, no ts, or ts as a string.
	MalformedFraction float64
}

// DefaultConfig returns the demo's workload for a seed: four matches, five million viewers,
// delays up to 1.5 s, 0.3% late (up to 10 s), 0.3% duplicated and 0.2% malformed events.
func DefaultConfig(seed uint64) Config {
	return Config{
		Seed:              seed,
		Matches:           4,
		Users:             5_000_000,
		EmojiSkew:         1.1,
		MatchSkew:         0.8,
		MomentsPerMinute:  2.5,
		MaxDelay:          1500 * time.Millisecond,
		LateFraction:      0.003,
		LateMax:           10 * time.Second,
		DuplicateFraction: 0.003,
		MalformedFraction: 0.002,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Matches < 1 || c.Matches > 99 {
		bad("Matches", "%d is not in [1, 99]", c.Matches)
	}
	if c.Users < 1 || c.Users > 10_000_000 {
		bad("Users", "%d is not in [1, 10000000]", c.Users)
	}
	if !(c.EmojiSkew > 0) || c.EmojiSkew > 10 {
		bad("EmojiSkew", "%v is not in (0, 10]", c.EmojiSkew)
	}
	if !(c.MatchSkew >= 0) || c.MatchSkew > 10 {
		bad("MatchSkew", "%v is not in [0, 10]", c.MatchSkew)
	}
	if !(c.MomentsPerMinute >= 0) || c.MomentsPerMinute > 60_000/slotMs {
		bad("MomentsPerMinute", "%v is not in [0, %d]", c.MomentsPerMinute, 60_000/slotMs)
	}
	if c.MaxDelay < time.Millisecond || c.MaxDelay > time.Hour {
		bad("MaxDelay", "%v is not in [1ms, 1h]", c.MaxDelay)
	}
	if c.LateFraction > 0 && c.LateMax <= c.MaxDelay {
		bad("LateMax", "%v must exceed MaxDelay (%v) when LateFraction > 0", c.LateMax, c.MaxDelay)
	}
	if c.LateMax > 24*time.Hour {
		bad("LateMax", "%v exceeds 24h", c.LateMax)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"LateFraction", c.LateFraction}, {"DuplicateFraction", c.DuplicateFraction}, {"MalformedFraction", c.MalformedFraction}} {
		if !(f.v >= 0) || f.v > 0.5 {
			bad(f.name, "%v is not in [0, 0.5]", f.v)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// Kind tells what a generated record is.
type Kind uint8

// The record kinds.
const (
	KindValid     Kind = iota // a well-formed event, sent for the first time
	KindDuplicate             // a well-formed event sent again: same bytes, same event_id
	KindMalformed             // a record a decoder must reject (see Malformation)
)

func (k Kind) String() string {
	switch k {
	case KindValid:
		return "valid"
	case KindDuplicate:
		return "duplicate"
	case KindMalformed:
		return "malformed"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Malformation says how a malformed record is broken.
type Malformation uint8

// The malformations.
const (
	MalformedNone      Malformation = iota
	MalformedTruncated              // the JSON is cut short (at least the closing brace is gone)
	MalformedMissingTS              // a complete object without the ts field
	MalformedStringTS               // ts is a JSON string of digits, not a number
	numMalformations
)

func (m Malformation) String() string {
	switch m {
	case MalformedNone:
		return "none"
	case MalformedTruncated:
		return "truncated"
	case MalformedMissingTS:
		return "missing-ts"
	case MalformedStringTS:
		return "string-ts"
	}
	return "Malformation(" + strconv.Itoa(int(m)) + ")"
}

// Meta is what the generator meant by one record. For a malformed record Match, Emoji and TS are
// what the event would have carried.
type Meta struct {
	Kind         Kind
	Malformation Malformation
	Match        int    // match index: MatchID(Match) is the record's match_id and key
	Emoji        int    // index into Emojis()
	Seq          uint64 // sequence number of the original event (1, 2, ...); EventID derives from it
	TS           int64  // client event time, epoch milliseconds (field ts)
	Arrival      int64  // time the record reached the API (the Append time), epoch milliseconds
	Late         bool   // Arrival - TS > MaxDelay
}

// Generator produces the reaction stream. It is a pure state machine: output depends only on the
// Config and on the times passed to Append. Not safe for concurrent use.
type Generator struct {
	cfg       Config
	seed      uint64
	matchIDs  []string
	idKey     uint64
	slotProb  float64
	maxDelay  int64
	lateSpan  int64
	matchBase []float64            // audience weight per match (sums to 1)
	emojiCum  [][numEmojis]float64 // per match: cumulative base emoji distribution
	momentCum [numMomentKinds][numEmojis]float64

	r    rng
	seq  uint64
	last int64 // last Append time (ms); time never runs backwards inside

	cache bucketCache
	dups  dupRing
}

// New returns a Generator for cfg.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:      cfg,
		seed:     cfg.Seed,
		idKey:    mix64(cfg.Seed ^ 0x5eed),
		slotProb: cfg.MomentsPerMinute * slotMs / 60_000,
		maxDelay: cfg.MaxDelay.Milliseconds(),
		lateSpan: (cfg.LateMax - cfg.MaxDelay).Milliseconds(),
		r:        rng{s: mix64(cfg.Seed)},
		last:     math.MinInt64,
	}
	g.matchIDs = make([]string, cfg.Matches)
	g.matchBase = make([]float64, cfg.Matches)
	g.emojiCum = make([][numEmojis]float64, cfg.Matches)
	var total float64
	for m := range cfg.Matches {
		g.matchIDs[m] = "m" + strconv.Itoa(m+1)
		g.matchBase[m] = math.Pow(float64(m+1), -cfg.MatchSkew)
		total += g.matchBase[m]
		g.emojiCum[m] = g.matchPalette(m)
	}
	for m := range g.matchBase {
		g.matchBase[m] /= total
	}
	for k := range numMomentKinds {
		g.momentCum[k] = cumulative(momentSpecs[k].palette)
	}
	g.cache.init(cfg.Matches)
	return g, nil
}

// matchPalette gives match m its own twist of the global popularity order: a few neighbouring
// ranks swap and one less popular emoji becomes a local favourite.
func (g *Generator) matchPalette(m int) [numEmojis]float64 {
	r := rng{s: hash3(g.seed, uint64(m)+1, 0xe0)}
	var rank [numEmojis]int // rank[i] = emoji at popularity rank i
	for i := range rank {
		rank[i] = i
	}
	for range 3 {
		i := r.intn(numEmojis - 1)
		rank[i], rank[i+1] = rank[i+1], rank[i]
	}
	from, to := 4+r.intn(numEmojis-4), 1+r.intn(3)
	fav := rank[from]
	copy(rank[to+1:from+1], rank[to:from])
	rank[to] = fav
	var w [numEmojis]float64
	for i, e := range rank {
		w[e] = math.Pow(float64(i+1), -g.cfg.EmojiSkew)
	}
	return cumulative(w)
}

func cumulative(w [numEmojis]float64) (c [numEmojis]float64) {
	var total float64
	for _, v := range w {
		total += v
	}
	var acc float64
	for i, v := range w {
		acc += v / total
		c[i] = acc
	}
	c[numEmojis-1] = 1
	return c
}

func pick(cum *[numEmojis]float64, u float64) int {
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return numEmojis - 1
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Matches returns the number of matches.
func (g *Generator) Matches() int { return len(g.matchIDs) }

// MatchID returns the id of match m ("m1" for m = 0), the record key and match_id field.
func (g *Generator) MatchID(m int) string { return g.matchIDs[m] }

// EventID returns the event_id of the event with sequence number seq: 16 hex digits, distinct
// for distinct seq under one seed.
func (g *Generator) EventID(seq uint64) string {
	var b [16]byte
	return string(appendHex16(b[:0], mix64(seq+g.idKey)))
}

// Append generates the next record, as it reaches the API at now, appends its bytes to dst and
// returns the extended slice with the record's Meta. Times before the previous call's are taken
// as the previous call's time. Append does not allocate unless dst must grow.
func (g *Generator) Append(dst []byte, now time.Time) ([]byte, Meta) {
	nowMs := now.UnixMilli()
	if nowMs < g.last {
		nowMs = g.last
	}
	g.last = nowMs
	if d := g.dups.due(nowMs); d != nil {
		meta := d.meta
		meta.Kind, meta.Arrival, meta.Late = KindDuplicate, nowMs, nowMs-meta.TS > g.maxDelay
		dst = append(dst, d.buf[:d.n]...)
		g.dups.pop()
		return dst, meta
	}
	return g.fresh(dst, nowMs)
}

// fresh generates a new event (not a retry) arriving at nowMs.
func (g *Generator) fresh(dst []byte, nowMs int64) ([]byte, Meta) {
	var meta Meta
	if g.r.float() < g.cfg.MalformedFraction {
		meta.Kind = KindMalformed
		meta.Malformation = Malformation(1 + g.r.intn(int(numMalformations)-1))
	}
	ts := nowMs - g.delay()
	e := g.cache.get(g, ts)
	m := len(g.matchIDs) - 1
	u := g.r.float()
	for i, c := range e.cum {
		if u < c {
			m = i
			break
		}
	}
	var emoji int
	if g.r.float() < e.p[m] {
		emoji = pick(&g.momentCum[e.kind[m]], g.r.float())
	} else {
		emoji = pick(&g.emojiCum[m], g.r.float())
	}
	user := g.r.intn(g.cfg.Users)
	g.seq++
	meta.Match, meta.Emoji, meta.Seq, meta.TS, meta.Arrival = m, emoji, g.seq, ts, nowMs
	meta.Late = nowMs-ts > g.maxDelay

	start := len(dst)
	dst = g.encode(dst, &meta, user)
	switch {
	case meta.Kind == KindMalformed:
		if meta.Malformation == MalformedTruncated {
			n := len(dst) - start
			dst = dst[:start+1+g.r.intn(n-1)]
		}
	case g.cfg.DuplicateFraction > 0 && g.r.float() < g.cfg.DuplicateFraction:
		g.dups.push(dst[start:], meta, nowMs+200+int64(g.r.intn(1800)))
	}
	return dst, meta
}

// delay draws a network delay in ms: 20 ms plus an exponential tail with mean 180 ms, folded
// into [0, MaxDelay]; a LateFraction of events instead waits (MaxDelay, LateMax].
func (g *Generator) delay() int64 {
	if g.r.float() < g.cfg.LateFraction {
		return g.maxDelay + 1 + int64(g.r.intn(int(g.lateSpan)))
	}
	d := 20 + int64(-math.Log(1-g.r.float())*180)
	if d > g.maxDelay {
		d = int64(g.r.intn(int(g.maxDelay) + 1))
	}
	return d
}

// encode appends the event's JSON; a MissingTS or StringTS malformation changes the ts field.
func (g *Generator) encode(dst []byte, meta *Meta, user int) []byte {
	dst = append(dst, `{"event_id":"`...)
	dst = appendHex16(dst, mix64(meta.Seq+g.idKey))
	dst = append(dst, `","match_id":"`...)
	dst = append(dst, g.matchIDs[meta.Match]...)
	dst = append(dst, `","emoji":"`...)
	dst = append(dst, emojis[meta.Emoji].Glyph...)
	dst = append(dst, `","user_id":"u`...)
	dst = appendPad7(dst, user)
	switch meta.Malformation {
	case MalformedMissingTS:
		return append(dst, `"}`...)
	case MalformedStringTS:
		dst = append(dst, `","ts":"`...)
		dst = strconv.AppendInt(dst, meta.TS, 10)
		return append(dst, `"}`...)
	}
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, meta.TS, 10)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

func appendHex16(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xf])
	}
	return dst
}

func appendPad7(dst []byte, v int) []byte {
	var b [7]byte
	for i := 6; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:]...)
}
