package registry

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
)

// MaxLease bounds the lease a claim or renew may ask for.
const MaxLease = 24 * 3600 * 1000 // ms

const (
	collectEvery    = 1000 // ms of registry clock between scans of the token records
	sweepPerEntry   = 64   // slots swept per entry, plus sweepPerID per id applied
	sweepPerID      = 4
	noEvent         = math.MinInt64
	firstGeneration = 1
)

type tokState uint8

const (
	tokFree      tokState = iota // slot on the free list
	tokOpen                      // claims tentative while the lease runs; expired after
	tokConfirmed                 // claims final
	tokStateCount
)

// tokenRec is one generation of a token. A token key maps (byKey) to its current, attached
// generation. Abort frees the generation; Recover detaches it as an orphan. Claims name the
// record's index and generation, so a freed (and reused) record releases them all at once.
type tokenRec struct {
	key      Token
	gen      uint32 // current generation of this index; claims with another gen are released
	state    tokState
	attached bool  // byKey[key] is this record
	orphan   bool  // detached by Recover: the same task's claims win its ids
	lease    int64 // ms, from the last claim or renew
	deadline int64 // lease end, registry clock (ms); meaningful while open
	maxEv    int64 // newest event time of the ids this generation won; noEvent if none
}

// State is the registry's replicated state machine. It is pure: Apply is deterministic in the
// entries applied, reads no clock and does no IO. Time is the leader's stamp carried in each
// entry, made monotonic here, so every node sees leases expire at the same entry.
//
// Every answer depends only on the logical state: the token records, and the live claims. A
// claim is live when its event time is within the horizon and its token generation is current
// and confirmed, or open with its lease running. Dead claims may stay in the tables until the
// sweeper or a new claim removes them; when that happens differs between a node that applied
// the log and one restored from a snapshot, and no answer depends on it.
//
// Not safe for concurrent use, except that a frozen snapshot may be written while Apply runs.
type State struct {
	clock     int64 // max leader stamp seen, ms
	retention int64 // ms of event time kept; 0 = forever
	horizon   int64 // ids with event time below it are refused
	maxEvent  int64 // max event time ever claimed; noEvent before the first

	tokens      []tokenRec
	free        []uint32
	byKey       map[Token]uint32
	lastCollect int64 // clock/collectEvery at the last token scan

	claims table // stored claims, live or dead

	sweepPage uint32 // physical GC cursor: page index and slot position
	sweepPos  int

	members        map[string]string // raft server id → API address
	membersChanged bool              // set by an opMember; the fsm clears it when it publishes
}

// NewState returns an empty registry state.
func NewState() *State { return newStateSized(0) }

// newStateSized returns an empty state whose tables hold expected claims without growing:
// growing a large table stalls Apply while it rehashes.
func newStateSized(expected int) *State {
	s := &State{
		horizon:  math.MinInt64,
		maxEvent: noEvent,
		byKey:    make(map[Token]uint32),
		members:  make(map[string]string),
	}
	s.claims.init(depthFor(expected))
	return s
}

// opResult is the answer to one op: a code, and for claims one outcome per id with the
// holders of the Lost ones, in order.
type opResult struct {
	code     opCode
	outcomes []Outcome
	holders  []Token
}

// results expands an opResult into Results; the caller owns them.
func (r *opResult) results() []Result {
	out := make([]Result, len(r.outcomes))
	h := 0
	for i, o := range r.outcomes {
		out[i].Outcome = o
		if o == Lost && h < len(r.holders) {
			out[i].Holder = r.holders[h]
			h++
		}
	}
	return out
}

// Apply applies one entry and returns one result per op. The caller owns the results.
func (s *State) Apply(e *entry) []opResult {
	s.advance(e.clock, e.retention)
	n := 0
	for i := range e.ops {
		n += len(e.ops[i].ids)
	}
	outs := make([]Outcome, n)
	out := make([]opResult, len(e.ops))
	for i := range e.ops {
		o := &e.ops[i]
		k := len(o.ids)
		out[i] = s.applyOp(o, outs[:k:k])
		outs = outs[k:]
	}
	s.sweep(sweepPerEntry + sweepPerID*n)
	s.claims.reclaim()
	return out
}

func (s *State) applyOp(o *op, outs []Outcome) opResult {
	if o.kind != opMember && o.tok.validate() != nil {
		return opResult{code: codeInvalid}
	}
	switch o.kind {
	case opClaim:
		holders, code := s.claim(o, outs)
		if code != codeOK {
			return opResult{code: code}
		}
		return opResult{outcomes: outs, holders: holders}
	case opConfirm:
		return opResult{code: s.confirm(o.tok)}
	case opAbort:
		return opResult{code: s.abort(o.tok)}
	case opRenew:
		return opResult{code: s.renew(o.tok, o.lease)}
	case opRecover:
		s.recover(o.tok.Pipeline, o.tok.Task, o.tok.Epoch)
		return opResult{}
	case opMember:
		if o.addr == "" {
			delete(s.members, o.member)
		} else {
			s.members[o.member] = o.addr
		}
		s.membersChanged = true
		return opResult{}
	}
	return opResult{code: codeInvalid}
}

// advance moves the clock (never back: a new leader's clock may be behind the old one's) and
// the retention horizon. The horizon follows the newest event time claimed, but never runs
// ahead of the clock, so one event stamped in the far future cannot make everything else look
// too old.
func (s *State) advance(clock, retention int64) {
	if clock > s.clock {
		s.clock = clock
	}
	s.retention = retention
	if retention > 0 && s.maxEvent != noEvent {
		if h := min(s.maxEvent, s.clock); h >= math.MinInt64+retention && h-retention > s.horizon {
			s.horizon = h - retention
		}
	}
	if c := floorDiv(s.clock, collectEvery); c != s.lastCollect {
		s.lastCollect = c
		s.collectTokens()
	}
}

func (s *State) expired(r *tokenRec) bool { return r.state == tokOpen && r.deadline < s.clock }

func (s *State) live(sl *slot) bool {
	if sl.ev < s.horizon {
		return false
	}
	r := &s.tokens[sl.tok]
	if r.gen != sl.gen {
		return false
	}
	switch r.state {
	case tokConfirmed:
		return true
	case tokOpen:
		return r.deadline >= s.clock
	}
	return false
}

func validLease(l int64) bool { return l > 0 && l <= MaxLease }

func (s *State) claim(o *op, outs []Outcome) ([]Token, opCode) {
	if !validLease(o.lease) {
		return nil, codeInvalid
	}
	ti, ok := s.byKey[o.tok]
	if ok {
		r := &s.tokens[ti]
		switch {
		case r.state == tokConfirmed:
			return nil, codeConfirmed
		case s.expired(r):
			return nil, codeLeaseLost
		}
	} else {
		ti = s.newToken(o.tok)
	}
	r := &s.tokens[ti]
	r.lease = o.lease
	r.deadline = satAdd(s.clock, o.lease)
	var holders []Token
	var hashes [claimGroup]uint64
	for start := 0; start < len(o.ids); start += claimGroup {
		group := o.ids[start:min(start+claimGroup, len(o.ids))]
		s.claims.touch(group, &hashes)
		for j := range group {
			var h *Token
			outs[start+j], h = s.claimOne(ti, &group[j], hashes[j])
			if h != nil {
				holders = append(holders, *h)
			}
		}
	}
	return holders, codeOK
}

// claimOne decides one id, whose hash is h. The claimant's record never moves during a claim
// (records are only appended by newToken, before). Only a claim that stores something writes
// the table.
func (s *State) claimOne(ti uint32, c *ClaimID, h uint64) (Outcome, *Token) {
	if c.EventTime > s.maxEvent {
		s.maxEvent = c.EventTime
	}
	if c.EventTime < s.horizon {
		return Refused, nil
	}
	t := &s.claims
	pi := t.pageOf(h)
	i, found := t.pages[pi].find(&c.ID, h)
	me := &s.tokens[ti]
	if found {
		sl := &t.pages[pi].s[i]
		if s.live(sl) {
			if sl.tok == ti {
				return Won, nil
			}
			holder := &s.tokens[sl.tok]
			if !holder.orphan || holder.key.Pipeline != me.key.Pipeline || holder.key.Task != me.key.Task {
				return Lost, &holder.key
			}
			// The task recovered past the epoch that held this id: it wins it again.
			sl = &t.writable(pi).s[i]
			sl.tok, sl.gen = ti, me.gen
			me.maxEv = max(me.maxEv, sl.ev)
			return Won, nil
		}
		// A dead claim of the id: take its slot.
		t.writable(pi).s[i] = slot{id: c.ID, tok: ti, gen: me.gen, ev: c.EventTime} // same tag
		me.maxEv = max(me.maxEv, c.EventTime)
		return Won, nil
	}
	t.insert(pi, i, h, &slot{id: c.ID, tok: ti, gen: me.gen, ev: c.EventTime})
	me.maxEv = max(me.maxEv, c.EventTime)
	return Won, nil
}

func (s *State) confirm(tok Token) opCode {
	ti, ok := s.byKey[tok]
	if !ok {
		return codeOK // nothing held: an epoch without claims confirms trivially
	}
	r := &s.tokens[ti]
	switch {
	case r.state == tokConfirmed:
		return codeOK
	case s.expired(r):
		return codeLeaseLost
	}
	r.state = tokConfirmed
	if r.maxEv == noEvent || r.maxEv < s.horizon {
		s.freeToken(ti) // holds nothing live: nothing to remember
	}
	return codeOK
}

func (s *State) abort(tok Token) opCode {
	ti, ok := s.byKey[tok]
	if !ok {
		return codeOK
	}
	if s.tokens[ti].state == tokConfirmed {
		return codeConfirmed
	}
	s.freeToken(ti) // its claims are released with its generation
	return codeOK
}

func (s *State) renew(tok Token, lease int64) opCode {
	if !validLease(lease) {
		return codeInvalid
	}
	ti, ok := s.byKey[tok]
	if !ok {
		return codeOK // holds nothing: nothing to keep alive
	}
	r := &s.tokens[ti]
	switch {
	case r.state == tokConfirmed:
		return codeOK
	case s.expired(r):
		return codeLeaseLost
	}
	r.lease = lease
	r.deadline = satAdd(s.clock, lease)
	return codeOK
}

// recover detaches the generations of (pipeline, task) with epochs after checkpoint as
// orphans: their live claims stay held against others, and the task's next claims win them.
// Open orphans get a fresh lease so the replay has time to reach them.
func (s *State) recover(pipeline string, task uint32, checkpoint uint64) {
	var hit []uint32
	for k, ti := range s.byKey {
		if k.Pipeline == pipeline && k.Task == task && k.Epoch > checkpoint {
			hit = append(hit, ti)
		}
	}
	slices.Sort(hit) // map order is random; keep the free list deterministic
	for _, ti := range hit {
		r := &s.tokens[ti]
		if s.expired(r) || r.maxEv == noEvent {
			s.freeToken(ti) // holds nothing live
			continue
		}
		if r.state == tokOpen {
			r.deadline = satAdd(s.clock, r.lease)
		}
		delete(s.byKey, r.key)
		r.attached = false
		r.orphan = true
	}
}

// collectTokens frees the records that can hold nothing live any more: confirmed generations
// whose newest id fell behind the horizon, and orphans whose lease ran out. Open and expired
// attached records stay until aborted or recovered, so that a late Confirm keeps failing.
func (s *State) collectTokens() {
	for i := range s.tokens {
		r := &s.tokens[i]
		switch {
		case r.state == tokFree:
		case r.state == tokConfirmed && r.maxEv < s.horizon:
			s.freeToken(uint32(i))
		case r.orphan && s.expired(r):
			s.freeToken(uint32(i))
		}
	}
}

func (s *State) newToken(key Token) uint32 {
	var ti uint32
	gen := uint32(firstGeneration)
	if n := len(s.free); n > 0 {
		ti = s.free[n-1]
		s.free = s.free[:n-1]
		gen = s.tokens[ti].gen
	} else {
		ti = uint32(len(s.tokens))
		s.tokens = append(s.tokens, tokenRec{})
	}
	s.tokens[ti] = tokenRec{key: key, gen: gen, state: tokOpen, attached: true, maxEv: noEvent}
	s.byKey[key] = ti
	return ti
}

// freeToken ends a generation: claims naming it are released at once, and the index is
// reused with the next generation.
func (s *State) freeToken(ti uint32) {
	r := &s.tokens[ti]
	if r.attached {
		delete(s.byKey, r.key)
	}
	gen := r.gen + 1
	if gen == 0 { // wrapped: 0 marks empty slots
		gen = firstGeneration
	}
	*r = tokenRec{gen: gen}
	s.free = append(s.free, ti)
}

// sweep examines up to budget slots for dead claims and deletes those, resuming where the
// last sweep stopped; eight empty slots in a row count as one. It skips pages a snapshot
// still shares, to not copy them just to tidy up.
func (s *State) sweep(budget int) {
	t := &s.claims
	if t.n == 0 {
		return
	}
	for visited := 0; budget > 0 && visited <= len(t.pages); {
		if int(s.sweepPage) >= len(t.pages) {
			s.sweepPage, s.sweepPos = 0, 0
		}
		pi := s.sweepPage
		r := &t.pages[pi]
		if s.sweepPos >= len(r.s) || r.n == 0 || t.isShared(r) {
			s.sweepPage++
			s.sweepPos = 0
			visited++
			budget--
			continue
		}
		i, tags := s.sweepPos, r.tags
		for ; i < len(tags) && budget > 0; budget-- {
			if i%8 == 0 && binary.LittleEndian.Uint64(tags[i:]) == 0 { // pages are 8-aligned
				i += 8
				continue
			}
			if tags[i] != 0 && !s.live(&r.s[i]) {
				t.deleteAt(pi, i) // a later slot may shift here: look at this one again
				continue
			}
			i++
		}
		s.sweepPos = i
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Stats summarises the state, for Status.
type Stats struct {
	Claims    int   // ids stored: live ones and released ones not yet swept
	Open      int   // token generations with tentative claims and a running lease
	Expired   int   // open generations whose lease ran out (their confirm will fail)
	Confirmed int   // confirmed generations that may still hold ids
	Orphaned  int   // generations detached by Recover that may still hold ids
	Clock     int64 // registry clock, Unix ms
	Horizon   int64 // ids with older event times are refused; math.MinInt64 if none yet
	Members   map[string]string
}

func (s *State) stats() Stats {
	st := Stats{Claims: s.claims.n, Clock: s.clock, Horizon: s.horizon, Members: maps.Clone(s.members)}
	for i := range s.tokens {
		r := &s.tokens[i]
		switch {
		case r.state == tokFree:
		case r.orphan:
			st.Orphaned++
		case r.state == tokConfirmed:
			st.Confirmed++
		case s.expired(r):
			st.Expired++
		case r.state == tokOpen:
			st.Open++
		}
	}
	return st
}
