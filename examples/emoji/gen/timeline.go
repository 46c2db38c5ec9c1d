package gen

import (
	"math"
	"time"
)

// MomentKind is a match event that makes viewers react.
type MomentKind uint8

// The moment kinds.
const (
	MomentSix MomentKind = iota
	MomentFour
	MomentWicket
	MomentMilestone
	MomentDroppedCatch
	numMomentKinds
)

func (k MomentKind) String() string {
	switch k {
	case MomentSix:
		return "six"
	case MomentFour:
		return "four"
	case MomentWicket:
		return "wicket"
	case MomentMilestone:
		return "milestone"
	case MomentDroppedCatch:
		return "dropped-catch"
	}
	return "unknown"
}

// Moment is one entry of a match's timeline.
type Moment struct {
	Match int        // match index (MatchID gives its id)
	Kind  MomentKind // what happened
	At    time.Time  // event time of the moment, millisecond precision
}

// momentSpec says how hard viewers react to a kind of moment and with what.
type momentSpec struct {
	prob    float64 // share of moments of this kind
	amp     float64 // peak burst intensity: the reaction mix is amp/(1+amp) moment emoji
	rate    float64 // peak extra reaction traffic of the match, as a multiple of its base rate
	palette [numEmojis]float64
}

// momentSpecs: a six makes 🔥🎉 spike, a wicket 😢😡.
var momentSpecs = [numMomentKinds]momentSpec{
	MomentSix:          {prob: 0.30, amp: 4, rate: 3, palette: pal(eFire, .40, eParty, .30, eClap, .15, eHundred, .10, eWow, .05)},
	MomentFour:         {prob: 0.35, amp: 2, rate: 1.5, palette: pal(eClap, .45, eFire, .30, eCricket, .20, eParty, .05)},
	MomentWicket:       {prob: 0.20, amp: 4, rate: 3, palette: pal(eCry, .40, eAngry, .30, eScream, .15, eWow, .10, ePray, .05)},
	MomentMilestone:    {prob: 0.05, amp: 3, rate: 2, palette: pal(eClap, .40, eParty, .25, eHeart, .20, ePray, .10, eHundred, .05)},
	MomentDroppedCatch: {prob: 0.10, amp: 2.5, rate: 1.5, palette: pal(eAngry, .35, eScream, .30, eWow, .25, ePray, .10)},
}

func pal(kv ...float64) (p [numEmojis]float64) {
	for i := 0; i < len(kv); i += 2 {
		p[int(kv[i])] = kv[i+1]
	}
	return p
}

// Timeline constants: each match's time is cut into slots of slotMs; a slot holds at most one
// moment, placed by a hash of (seed, match, slot), so the timeline is a pure function of event
// time and never depends on how the caller's clock advanced. A moment's burst decays
// exponentially with time constant tauMs and is ignored after horizonMs.
const (
	slotMs    = 12_000
	tauMs     = 2_500
	horizonMs = 15_000
)

// momentIn returns the moment of match m in slot k, if there is one.
func (g *Generator) momentIn(m int, k int64) (Moment, bool) {
	h := hash3(g.seed, uint64(m)+1, uint64(k))
	if float64(h>>11)*(1.0/(1<<53)) >= g.slotProb {
		return Moment{}, false
	}
	h2 := mix64(h)
	off := int64(h2 % slotMs)
	u := float64(mix64(h2)>>11) * (1.0 / (1 << 53))
	kind := MomentKind(0)
	for ; kind < numMomentKinds-1; kind++ {
		if u < momentSpecs[kind].prob {
			break
		}
		u -= momentSpecs[kind].prob
	}
	return Moment{Match: m, Kind: kind, At: time.UnixMilli(k*slotMs + off).UTC()}, true
}

// Moments returns the moments of match m with from <= At < to, in time order.
func (g *Generator) Moments(m int, from, to time.Time) []Moment {
	var out []Moment
	f, t := from.UnixMilli(), to.UnixMilli()
	for k := floorDiv(f, slotMs); k*slotMs < t; k++ {
		if mo, ok := g.momentIn(m, k); ok && mo.At.UnixMilli() >= f && mo.At.UnixMilli() < t {
			out = append(out, mo)
		}
	}
	return out
}

// burst returns the strongest moment's burst intensity for match m at event time ts (ms), and
// that moment's kind; intensity 0 means no moment is active.
func (g *Generator) burst(m int, ts int64) (float64, MomentKind) {
	best, kind := 0.0, MomentKind(0)
	for k := floorDiv(ts, slotMs); k*slotMs+slotMs > ts-horizonMs; k-- {
		mo, ok := g.momentIn(m, k)
		if !ok {
			continue
		}
		d := ts - mo.At.UnixMilli()
		if d < 0 || d > horizonMs {
			continue
		}
		if v := momentSpecs[mo.Kind].amp * math.Exp(-float64(d)/tauMs); v > best {
			best, kind = v, mo.Kind
		}
	}
	return best, kind
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
