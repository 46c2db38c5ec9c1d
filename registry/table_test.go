package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkTable verifies the table's structure: every directory entry names a page whose ids
// share the entry's hash prefix down to the page's depth, counts add up, and every stored id
// is found where lookup looks for it.
func checkTable(t *testing.T, tb *table, want map[ID]int64) {
	t.Helper()
	if len(tb.dir) != 1<<tb.depth {
		t.Fatalf("directory has %d entries at depth %d", len(tb.dir), tb.depth)
	}
	total := 0
	for pi := range tb.pages {
		r := &tb.pages[pi]
		n := 0
		if len(r.tags) != len(r.s) {
			t.Fatalf("page %d has %d tags for %d slots", pi, len(r.tags), len(r.s))
		}
		for j := range r.s {
			sl := &r.s[j]
			if sl.gen == 0 {
				if r.tags[j] != 0 {
					t.Fatalf("page %d slot %d is empty but tagged %d", pi, j, r.tags[j])
				}
				continue
			}
			if r.tags[j] != tagOf(hashID(&sl.id)) {
				t.Fatalf("page %d slot %d tagged %d, its id's tag is %d", pi, j, r.tags[j], tagOf(hashID(&sl.id)))
			}
			n++
			di := tb.dirIndex(hashID(&sl.id))
			if tb.dir[di] != uint32(pi) {
				t.Fatalf("id in page %d, directory says page %d", pi, tb.dir[di])
			}
		}
		if n != int(r.n) {
			t.Fatalf("page %d counts %d, holds %d", pi, r.n, n)
		}
		if r.full() && int(r.n)*4 > len(r.s)*3 {
			t.Fatalf("page %d over 3/4 full: %d of %d", pi, r.n, len(r.s))
		}
		total += n
	}
	if total != tb.n || total != len(want) {
		t.Fatalf("table counts %d, pages hold %d, want %d", tb.n, total, len(want))
	}
	for id, ev := range want {
		pi, i, _, found := tb.lookup(&id)
		if !found || tb.pages[pi].s[i].ev != ev {
			t.Fatalf("id %s lost or changed", id)
		}
	}
}

// viewContents reads a frozen view's slots as a map.
func viewContents(pages [][]slot) map[ID]int64 {
	out := map[ID]int64{}
	for _, s := range pages {
		for j := range s {
			if s[j].gen != 0 {
				out[s[j].id] = s[j].ev
			}
		}
	}
	return out
}

// TestTableAgainstMap: random inserts, overwrites and deletes (backward shift) on a table,
// checked against a map through many page splits and directory doublings; frozen views taken
// along the way keep exactly what the table held when they were taken.
func TestTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tb table
	tb.init(0)
	want := map[ID]int64{}
	var keys []ID
	type view struct {
		pages [][]slot
		want  map[ID]int64
	}
	var views []view
	for step := range 80000 {
		switch r := rng.IntN(6); {
		case r == 0 && len(keys) > 0:
			k := rng.IntN(len(keys))
			id := keys[k]
			keys[k] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			pi, i, _, found := tb.lookup(&id)
			if !found {
				t.Fatalf("step %d: stored id not found", step)
			}
			tb.writable(pi)
			tb.deleteAt(pi, i)
			delete(want, id)
		case r == 1 && len(keys) > 0:
			id := keys[rng.IntN(len(keys))]
			pi, i, _, found := tb.lookup(&id)
			if !found {
				t.Fatalf("step %d: stored id not found", step)
			}
			tb.writable(pi).s[i].ev = int64(step)
			want[id] = int64(step)
		default:
			var id ID
			id[0], id[1], id[2] = byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(8))
			pi, i, h, found := tb.lookup(&id)
			if _, ok := want[id]; ok != found {
				t.Fatalf("step %d: lookup says %v, map %v", step, found, ok)
			}
			if !found {
				tb.insert(pi, i, h, &slot{id: id, gen: 1, ev: int64(step)})
				want[id] = int64(step)
				keys = append(keys, id)
			}
		}
		if step%5000 == 2500 {
			views = append(views, view{tb.freeze(), maps.Clone(want)})
		}
		if step%5000 == 4999 && len(views) > 0 {
			v := views[0]
			views = views[1:]
			if got := viewContents(v.pages); !maps.Equal(got, v.want) {
				t.Fatalf("step %d: a frozen view changed: %d ids, want %d", step, len(got), len(v.want))
			}
			tb.release()
		}
		if step%997 == 0 {
			checkTable(t, &tb, want)
		}
	}
	checkTable(t, &tb, want)
	if len(tb.pages) < 64 || tb.depth < 6 {
		t.Fatalf("table never grew much (%d pages, depth %d)", len(tb.pages), tb.depth)
	}
}

// inverseMul is the inverse of an odd multiplier modulo 2^64 (Newton's iteration).
func inverseMul(c uint64) uint64 {
	x := c
	for range 6 {
		x *= 2 - c*x
	}
	return x
}

// idWithHash returns an id whose hashID is h (the mixer is a bijection on the first 8 bytes
// when the last 8 are zero).
func idWithHash(h uint64) ID {
	h ^= h >> 33
	h *= inverseMul(0xc4ceb9fe1a85ec53)
	h ^= h >> 33
	h *= inverseMul(0xff51afd7ed558ccd)
	h ^= h >> 33
	var id ID
	binary.LittleEndian.PutUint64(id[:8], h)
	return id
}

// TestTableCollidingHashes: ids crafted to share the top 40 bits of their hash cannot be told
// apart by splitting; the table splits down to maxDepth, then grows that page, and keeps
// every id.
func TestTableCollidingHashes(t *testing.T) {
	var tb table
	tb.init(0)
	want := map[ID]int64{}
	for k := range 3 * pageSlots {
		id := idWithHash(0xabcdef1234<<24 | uint64(k)*0x9e37&(1<<24-1))
		if hashID(&id)>>24 != 0xabcdef1234 {
			t.Fatalf("crafted id %s hashes to %x", id, hashID(&id))
		}
		pi, i, h, found := tb.lookup(&id)
		if found {
			t.Fatalf("id %d found before it was stored", k)
		}
		tb.insert(pi, i, h, &slot{id: id, gen: 1, ev: int64(k)})
		want[id] = int64(k)
	}
	if tb.depth != maxDepth {
		t.Fatalf("depth %d, want %d", tb.depth, maxDepth)
	}
	grown := false
	for _, r := range tb.pages {
		grown = grown || len(r.s) > pageSlots
	}
	if !grown {
		t.Fatal("no page grew past its split limit")
	}
	checkTable(t, &tb, want)
}

// TestSnapshotWhileApplying: a snapshot written on another goroutine while entries keep
// claiming, splitting pages, releasing tokens and sweeping holds exactly the state at the
// freeze; after the view is released the table reuses the pages it retired. Under the race
// detector this also checks that no write reaches a page the writer reads.
func TestSnapshotWhileApplying(t *testing.T) {
	s := NewState()
	h := &harness{s: s, names: map[ID]string{}}
	clock := int64(1_000_000)
	claim := func(tok Token, first, n int) {
		ids := make([]ClaimID, n)
		for i := range ids {
			ids[i] = ClaimID{ID: IDOfString(fmt.Sprint(first + i)), EventTime: clock}
		}
		s.Apply(&entry{clock: clock, retention: 60_000, ops: []op{{kind: opClaim, tok: tok, lease: 30_000, ids: ids}}})
	}
	for i := range 20 {
		claim(Token{Pipeline: "a", Task: uint32(i)}, i*1000, 1000)
	}
	s.Apply(&entry{clock: clock, retention: 60_000, ops: []op{{kind: opConfirm, tok: Token{Pipeline: "a", Task: 1}}}})
	want := h.dump()

	for round := range 3 {
		f := s.freeze()
		var buf bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- f.writeTo(&buf) }()
		for i := range 30 { // new ids (splits), lost ids, and an abort that sweeping reclaims
			clock += 10
			claim(Token{Pipeline: "b", Task: uint32(round*100 + i)}, 20_000+round*30_000+i*1000, 1000)
			claim(Token{Pipeline: "c", Task: uint32(round*100 + i)}, i*500, 50)
		}
		s.Apply(&entry{clock: clock, retention: 60_000, ops: []op{{kind: opAbort, tok: Token{Pipeline: "a", Task: uint32(2 + round)}}}})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		f.release()
		restored, err := readSnapshot(&buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&harness{s: restored, names: h.names}).dump(); !slices.Equal(got, want) {
			t.Fatalf("round %d: the snapshot is not the state at the freeze:\n%d lines, want %d", round, len(got), len(want))
		}
		if len(s.claims.arena.retired) == 0 && round == 0 {
			t.Fatal("writes after the freeze retired no page")
		}
		s.Apply(&entry{clock: clock, retention: 60_000}) // sweeps, and may reuse retired pages
		claim(Token{Pipeline: "d", Task: uint32(round)}, 900_000+round*1000, 1000)
		if len(s.claims.arena.retired) != 0 {
			t.Fatalf("round %d: %d pages still retired with no view held", round, len(s.claims.arena.retired))
		}
		want = h.dump()
	}
}

// TestSweepReclaims: claims that fall behind the horizon are deleted by the sweep, a little
// with every entry, so that a registry at a steady rate keeps a steady size: their slots are
// reused and the table stops growing.
func TestSweepReclaims(t *testing.T) {
	s := NewState()
	const n = 20_000
	clock := int64(1_000_000)
	tok := Token{Pipeline: "p"}
	round := func(r int) {
		ids := make([]ClaimID, n)
		for i := range ids {
			ids[i] = ClaimID{ID: IDOfString(fmt.Sprint(r, "/", i)), EventTime: clock}
		}
		for i := 0; i < n; i += 1000 {
			s.Apply(&entry{clock: clock, retention: 1000, ops: []op{{kind: opClaim, tok: tok, lease: MaxLease, ids: ids[i : i+1000]}}})
		}
	}
	round(0)
	clock += 2000
	round(1) // round 0 is now behind the horizon
	for e := 0; s.claims.n > n; e++ {
		if e == 10_000 {
			t.Fatalf("%d claims stored after %d entries, want %d", s.claims.n, e, n)
		}
		s.Apply(&entry{clock: clock, retention: 1000})
	}
	var pages [2]int
	for k, r := range pages {
		for range 4 {
			clock += 2000
			round(2 + 4*k + r)
			r++
		}
		pages[k] = len(s.claims.pages)
	}
	if s.claims.n > 2*n || pages[1] > pages[0]+pages[0]/20 {
		t.Fatalf("%d claims stored, pages %d then %d: the table keeps growing", s.claims.n, pages[0], pages[1])
	}
}
