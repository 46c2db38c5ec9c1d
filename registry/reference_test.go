package registry

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refState is a naive reference of the registry's semantics: every token generation is an
// object kept forever, claims are a plain map. TestAgainstReference checks State (tables,
// generations, sweeping, token freeing, snapshots) answers exactly as it does.
type refState struct {
	clock, retention, horizon, maxEvent int64
	current                             map[Token]*refGen
	claims                              map[ID]refClaim
}

type refGen struct {
	key       Token
	confirmed bool
	dead      bool // aborted
	orphan    bool
	lease     int64
	deadline  int64
}

type refClaim struct {
	gen *refGen
	ev  int64
}

func newRef() *refState {
	return &refState{horizon: math.MinInt64, maxEvent: math.MinInt64, current: map[Token]*refGen{}, claims: map[ID]refClaim{}}
}

func (r *refState) expired(g *refGen) bool { return !g.confirmed && !g.dead && g.deadline < r.clock }

func (r *refState) live(c refClaim) bool {
	return c.ev >= r.horizon && !c.gen.dead && (c.gen.confirmed || c.gen.deadline >= r.clock)
}

func (r *refState) apply(e *entry) []opResult {
	r.clock = max(r.clock, e.clock)
	r.retention = e.retention
	if e.retention > 0 && r.maxEvent != math.MinInt64 {
		r.horizon = max(r.horizon, min(r.maxEvent, r.clock)-e.retention)
	}
	var out []opResult
	for _, o := range e.ops {
		out = append(out, r.op(o))
	}
	return out
}

func (r *refState) op(o op) opResult {
	g := r.current[o.tok]
	switch o.kind {
	case opClaim:
		if g != nil && g.confirmed {
			return opResult{code: codeConfirmed}
		}
		if g != nil && r.expired(g) {
			return opResult{code: codeLeaseLost}
		}
		if g == nil {
			g = &refGen{key: o.tok}
			r.current[o.tok] = g
		}
		g.lease, g.deadline = o.lease, r.clock+o.lease
		res := opResult{outcomes: []Outcome{}}
		for _, c := range o.ids {
			r.maxEvent = max(r.maxEvent, c.EventTime)
			if c.EventTime < r.horizon {
				res.outcomes = append(res.outcomes, Refused)
				continue
			}
			old, ok := r.claims[c.ID]
			switch {
			case !ok || !r.live(old):
				r.claims[c.ID] = refClaim{g, c.EventTime}
				res.outcomes = append(res.outcomes, Won)
			case old.gen == g:
				res.outcomes = append(res.outcomes, Won)
			case old.gen.orphan && old.gen.key.Pipeline == o.tok.Pipeline && old.gen.key.Task == o.tok.Task:
				r.claims[c.ID] = refClaim{g, old.ev}
				res.outcomes = append(res.outcomes, Won)
			default:
				res.outcomes = append(res.outcomes, Lost)
				res.holders = append(res.holders, old.gen.key)
			}
		}
		return res
	case opConfirm:
		if g == nil || g.confirmed {
			return opResult{}
		}
		if r.expired(g) {
			return opResult{code: codeLeaseLost}
		}
		g.confirmed = true
	case opAbort:
		if g == nil {
			return opResult{}
		}
		if g.confirmed {
			return opResult{code: codeConfirmed}
		}
		g.dead = true
		delete(r.current, o.tok)
	case opRenew:
		if g == nil || g.confirmed {
			return opResult{}
		}
		if r.expired(g) {
			return opResult{code: codeLeaseLost}
		}
		g.lease, g.deadline = o.lease, r.clock+o.lease
	case opRecover:
		for k, g := range r.current {
			if k.Pipeline == o.tok.Pipeline && k.Task == o.tok.Task && k.Epoch > o.tok.Epoch {
				if !g.confirmed && !r.expired(g) {
					g.deadline = r.clock + g.lease
				}
				g.orphan = true
				delete(r.current, k)
			}
		}
	}
	return opResult{}
}

func resultsEqual(a, b opResult) bool {
	return a.code == b.code && slices.Equal(a.outcomes, b.outcomes) && slices.Equal(a.holders, b.holders)
}

// TestAgainstReference runs random operations on State and on the naive reference and
// requires identical answers; the state is snapshotted and restored at random points.
// Tokens are never claimed or aborted after their confirm (a protocol violation whose answer
// depends on when the registry forgets the token, which the reference does not model).
func TestAgainstReference(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		s, ref := NewState(), newRef()
		confirmed := map[Token]bool{}
		clock := int64(10_000)
		retention := []int64{0, 0, 500, 3000}[rng.IntN(4)]
		// Small id spaces contend; large ones (a third of the seeds) split pages.
		nIDs, perClaim := 4+rng.IntN(60), 6
		if seed%3 == 2 {
			nIDs, perClaim = 2000+rng.IntN(4000), 60
		}
		for step := range 400 {
			clock += int64(rng.IntN(300)) - 50 // sometimes backwards: a slower new leader
			e := entry{clock: clock, retention: retention}
			for range 1 + rng.IntN(3) {
				tok := Token{Pipeline: []string{"p", "q"}[rng.IntN(2)], Task: uint32(rng.IntN(2)), Epoch: uint64(rng.IntN(4))}
				o := op{tok: tok, lease: int64(50 + rng.IntN(800))}
				switch k := rng.IntN(20); {
				case k < 12:
					if confirmed[tok] {
						continue
					}
					o.kind = opClaim
					for range 1 + rng.IntN(perClaim) {
						id := rng.IntN(nIDs)
						o.ids = append(o.ids, ClaimID{ID: IDOfString(fmt.Sprint(id)), EventTime: clock - int64(rng.IntN(4000))})
					}
				case k < 15:
					o.kind = opConfirm
					confirmed[tok] = true
				case k < 17:
					if confirmed[tok] {
						continue
					}
					o.kind = opAbort
				case k < 19:
					o.kind = opRenew
				default:
					o.kind = opRecover
					o.tok.Epoch = uint64(rng.IntN(3))
					for k := range confirmed {
						if k.Pipeline == tok.Pipeline && k.Task == tok.Task && k.Epoch > o.tok.Epoch {
							delete(confirmed, k) // detached: the key starts a new generation
						}
					}
				}
				e.ops = append(e.ops, o)
			}
			got, want := s.Apply(&e), ref.apply(&e)
			for i := range want {
				if !resultsEqual(got[i], want[i]) {
					t.Fatalf("seed %d step %d op %s %s: got %+v, want %+v", seed, step, e.ops[i].kind, e.ops[i].tok, got[i], want[i])
				}
			}
			if rng.IntN(50) == 0 {
				var buf bytes.Buffer
				if err := s.freeze().writeTo(&buf); err != nil {
					t.Fatal(err)
				}
				// Keep writing to the live state once before restoring: copy-on-write must
				// leave the frozen view alone.
				s.Apply(&entry{clock: clock, retention: retention})
				restored, err := readSnapshot(&buf, rng.IntN(2)*1000)
				if err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				s = restored
			}
		}
		// Same live claims at the end.
		live := 0
		for i := range s.claims.pages {
			for j := range s.claims.pages[i].s {
				sl := &s.claims.pages[i].s[j]
				if sl.gen == 0 || !s.live(sl) {
					continue
				}
				live++
				rc, ok := ref.claims[sl.id]
				if !ok || !ref.live(rc) || rc.gen.key != s.tokens[sl.tok].key {
					t.Fatalf("seed %d: claim %s held by %s, reference disagrees", seed, sl.id, s.tokens[sl.tok].key)
				}
			}
		}
		refLive := 0
		for _, c := range ref.claims {
			if ref.live(c) {
				refLive++
			}
		}
		if live != refLive {
			t.Fatalf("seed %d: %d live claims, reference %d", seed, live, refLive)
		}
	}
}
