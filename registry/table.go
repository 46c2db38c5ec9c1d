package registry

import (
	"encoding/binary"
	"sync/atomic"
)

// slot is one stored claim: an id, the token generation that claimed it and the event time.
// gen 0 marks an empty slot (generations start at 1).
type slot struct {
	id  ID
	tok uint32 // index into State.tokens
	gen uint32 // generation of that record when it claimed; a mismatch means released
	ev  int64
}

// The claim table is an extendible hash table of pages: a directory indexed by the top bits
// of an id's hash names the page, and within the page the low bits start a linear probe
// (backward-shift deletion, no tombstones). Beside its slots a page has one tag byte per slot
// (0: empty, else 8 more bits of the hash), so that a probe reads the tags, 64 to a cache
// line and 32 times denser than the slots, and reads a slot only for an id whose tag matches:
// claiming a new id reads one tag line and writes its slot, and stores need not wait for
// their cache line the way loads do.
//
// Why pages: a full page splits in two by one more hash bit, so the table grows a page at a
// time (a few microseconds) instead of rehashing everything at once; and a snapshot shares
// pages copy-on-write, so freezing costs O(pages) and a write after it copies one page.
const (
	pageBits  = 9
	pageSlots = 1 << pageBits // 512 slots: 16 KB
	// maxDepth caps the directory (2^maxDepth entries of 4 bytes). Past it a page that
	// cannot split any more doubles instead: only ids crafted to collide in their hash's
	// top bits get there, and they then cost what they would in one flat table.
	maxDepth = 22
)

// pageMem is a page's memory: slots, and their tags (tagOf; 0 where the slot is empty). Both
// have the same length, a power of two ≥ pageSlots.
type pageMem struct {
	s    []slot
	tags []uint8
}

// pageRef is one page and what the table knows of it.
type pageRef struct {
	pageMem
	n     int32  // slots in use
	depth uint8  // local depth: its ids share the top depth bits of their hash
	ver   uint32 // table version when the memory was allocated (see table.shared)
}

// full reports whether one more slot would push the page past 3/4 full.
func (r *pageRef) full() bool { return int(r.n+1)*4 > len(r.s)*3 }

// tagOf is an id's tag: hash bits used neither for the page (the top maxDepth bits) nor for
// the position in it (the low bits), never 0.
func tagOf(h uint64) uint8 {
	t := uint8(h >> 32)
	return t | uint8((uint32(t)-1)>>31) // 0 becomes 1
}

// table is the set of stored claims. Not safe for concurrent use, except that a frozen view
// (freeze) may read the pages it names while the table goes on changing: a page whose
// version is at most shared, while a view is held, is copied before it is written.
type table struct {
	depth uint8     // global depth: len(dir) == 1<<depth
	dir   []uint32  // page index by the top depth bits of the hash
	pages []pageRef // never shrinks; a split keeps one half's index and appends the other
	n     int       // slots in use, over all pages

	scratch *[pageSlots]slot // split's copy of the page it splits in place
	touched uint32           // see touch
	arena   *arena           // where pages come from and go back to

	ver    uint32       // version of pages allocated now
	shared uint32       // pages with ver ≤ shared may be read by a frozen view
	views  atomic.Int32 // frozen views not yet released
}

// hashID mixes an id's 128 bits (ids from IDOf are random already; caller-made ids such as
// sequential UUIDs may not be).
func hashID(id *ID) uint64 {
	h := binary.LittleEndian.Uint64(id[0:8]) ^ (binary.LittleEndian.Uint64(id[8:16]) * 0x9e3779b97f4a7c15)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// init makes an empty table of 2^depth pages. Past one page, their memory is faulted in now
// (see arena.reserve): a table sized up front should not pay for it while serving.
func (t *table) init(depth uint8) {
	t.arena = newArena()
	t.depth = depth
	t.ver = 1
	t.dir = make([]uint32, 1<<depth)
	t.pages = make([]pageRef, 1<<depth)
	if depth > 0 {
		t.arena.reserve(1 << depth)
	}
	for i := range t.pages {
		t.dir[i] = uint32(i)
		t.pages[i] = pageRef{pageMem: t.arena.page(true), depth: depth, ver: t.ver}
	}
}

// depthFor is the depth at which 2^depth pages hold n claims without splitting.
func depthFor(n int) uint8 {
	d := uint8(0)
	for d < maxDepth && (1<<d)*(pageSlots*3/4) < n {
		d++
	}
	return d
}

// dirIndex is the directory entry of hash h.
func (t *table) dirIndex(h uint64) uint64 { return h >> (64 - uint64(t.depth)) } // h>>64 is 0

// pageOf returns the index of the page that holds (or would hold) hash h.
func (t *table) pageOf(h uint64) uint32 { return t.dir[t.dirIndex(h)] }

// find returns the position of id's slot in page p, or of the empty slot where it would go.
// The page always has an empty slot.
func (p *pageRef) find(id *ID, h uint64) (int, bool) {
	tags := p.tags
	mask := len(tags) - 1
	tag := tagOf(h)
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch tags[i] {
		case 0:
			return i, false
		case tag:
			if p.s[i].id == *id {
				return i, true
			}
		}
	}
}

// lookup finds id: its page, and its position there or where it would go.
func (t *table) lookup(id *ID) (pi uint32, i int, h uint64, found bool) {
	h = hashID(id)
	pi = t.pageOf(h)
	i, found = t.pages[pi].find(id, h)
	return pi, i, h, found
}

// claimGroup ids are looked up together: see touch.
const claimGroup = 16

// touch hashes a group of ids into hashes and reads the first tag each will probe. The reads
// do not depend on each other, so the processor overlaps their cache misses, which claiming
// the ids one by one (each a chain of dependent loads and unpredictable branches) does not.
// In tables far larger than the caches that miss is most of a claim's cost: in a 3-node
// cluster on two cores this cut the CPU per claimed id by about a fifth.
func (t *table) touch(ids []ClaimID, hashes *[claimGroup]uint64) {
	var sum uint32
	for j := range ids {
		h := hashID(&ids[j].ID)
		hashes[j] = h
		r := &t.pages[t.pageOf(h)]
		i := int(h) & (len(r.tags) - 1)
		sum += uint32(r.tags[i]) + r.s[i].gen
	}
	t.touched += sum // a use, so the reads are not left out
}

// insert stores sl, whose id lookup did not find, at the place lookup returned.
func (t *table) insert(pi uint32, i int, h uint64, sl *slot) {
	if t.pages[pi].full() {
		pi = t.makeRoom(h)
		i, _ = t.pages[pi].find(&sl.id, h)
	}
	m := t.writable(pi)
	m.s[i] = *sl
	m.tags[i] = tagOf(h)
	t.pages[pi].n++
	t.n++
}

// isShared reports whether a frozen view may still read page r.
func (t *table) isShared(r *pageRef) bool { return r.ver <= t.shared && t.views.Load() > 0 }

// writable returns page pi's memory ready to be written: copied first if a view shares it.
func (t *table) writable(pi uint32) pageMem {
	r := &t.pages[pi]
	if t.isShared(r) {
		old := r.pageMem
		r.pageMem = t.newPage(len(old.s), false)
		copy(r.s, old.s)
		copy(r.tags, old.tags)
		r.ver = t.ver
		t.arena.retire(old)
	}
	return r.pageMem
}

// newPage returns a page of n slots, zeroed if zero is set.
func (t *table) newPage(n int, zero bool) pageMem {
	if n != pageSlots {
		return pageMem{make([]slot, n), make([]uint8, n)} // past maxDepth: on the Go heap
	}
	t.reclaim()
	return t.arena.page(zero)
}

// reclaim makes the pages retired by copy-on-write reusable once no view is held.
func (t *table) reclaim() {
	if len(t.arena.retired) > 0 && t.views.Load() == 0 {
		t.arena.reclaim()
	}
}

// drop gives back a page the table no longer uses.
func (t *table) drop(r *pageRef) {
	if t.isShared(r) {
		t.arena.retire(r.pageMem)
	} else {
		t.arena.put(r.pageMem)
	}
}

// makeRoom makes sure the page for hash h can take one more slot (splitting or growing it)
// and returns that page's index.
func (t *table) makeRoom(h uint64) uint32 {
	for {
		pi := t.pageOf(h)
		r := &t.pages[pi]
		if !r.full() {
			return pi
		}
		if r.depth >= maxDepth {
			t.grow(pi)
			return pi
		}
		t.split(pi, t.dirIndex(h))
	}
}

// split divides page pi (found at directory entry di) by the next hash bit into itself and a
// new page, doubling the directory first if the page is as deep as it.
func (t *table) split(pi uint32, di uint64) {
	old := t.pages[pi]
	if old.depth == t.depth {
		dir := make([]uint32, 2*len(t.dir))
		for i, p := range t.dir {
			dir[2*i], dir[2*i+1] = p, p
		}
		t.dir = dir
		t.depth++
		di *= 2
	}
	depth := old.depth + 1
	lo := pageRef{depth: depth, ver: t.ver}
	// The new page is cleared even when fresh (zero already): writing it in order brings it
	// into the cache, so that the scattered writes below do not each miss.
	hi := pageRef{pageMem: t.newPage(len(old.s), false), depth: depth, ver: t.ver}
	clear(hi.s)
	clear(hi.tags)
	src := old.s
	if len(old.s) == pageSlots && !t.isShared(&old) {
		// Split in place: the lower half reuses the old page, so the table takes only one
		// page of fresh memory (whose first touch is what growing costs most).
		if t.scratch == nil {
			t.scratch = new([pageSlots]slot)
		}
		src = t.scratch[:]
		copy(src, old.s)
		clear(old.s)
		clear(old.tags)
		lo.pageMem = old.pageMem
	} else {
		lo.pageMem = t.newPage(len(old.s), true)
		defer t.drop(&old)
	}
	bit := 64 - uint64(depth) // the hash bit that tells the halves apart
	for i := range src {
		sl := &src[i]
		if sl.gen == 0 {
			continue
		}
		h := hashID(&sl.id)
		dst := &lo
		if h>>bit&1 == 1 {
			dst = &hi
		}
		dst.put(sl, h)
	}
	hiIdx := uint32(len(t.pages))
	t.pages[pi] = lo
	t.pages = append(t.pages, hi)
	// The old page's directory entries are a run of 2^(global-local) starting at a multiple of
	// that length; its upper half now names the new page.
	span := uint64(1) << (t.depth - old.depth)
	start := di &^ (span - 1)
	for i := start + span/2; i < start+span; i++ {
		t.dir[i] = hiIdx
	}
}

// grow doubles page pi in place (only past maxDepth).
func (t *table) grow(pi uint32) {
	old := t.pages[pi]
	r := pageRef{pageMem: t.newPage(2*len(old.s), true), depth: old.depth, ver: t.ver}
	for i := range old.s {
		if sl := &old.s[i]; sl.gen != 0 {
			r.put(sl, hashID(&sl.id))
		}
	}
	t.pages[pi] = r
	t.drop(&old)
}

// put stores a slot known to be absent into a page with room (splits and restores).
func (p *pageRef) put(sl *slot, h uint64) {
	mask := len(p.tags) - 1
	j := int(h) & mask
	for p.tags[j] != 0 {
		j = (j + 1) & mask
	}
	p.s[j] = *sl
	p.tags[j] = tagOf(h)
	p.n++
}

// deleteAt empties slot i of page pi and shifts later members of its probe run back, so that
// lookups never need tombstones. The page must be writable.
func (t *table) deleteAt(pi uint32, i int) {
	s, tags := t.pages[pi].s, t.pages[pi].tags
	mask := len(s) - 1
	for j := (i + 1) & mask; tags[j] != 0; j = (j + 1) & mask {
		home := int(hashID(&s[j].id)) & mask
		// Slot j may move to i unless its home lies cyclically in (i, j].
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		s[i], tags[i] = s[j], tags[j]
		i = j
	}
	s[i], tags[i] = slot{}, 0
	t.pages[pi].n--
	t.n--
}

// freeze marks every current page shared with a view and returns the pages' slots. The view
// must be released (release) once nothing reads it; until then the table copies a page
// before writing it.
func (t *table) freeze() [][]slot {
	t.views.Add(1)
	t.shared = t.ver
	t.ver++
	out := make([][]slot, len(t.pages))
	for i := range t.pages {
		out[i] = t.pages[i].s
	}
	return out
}

// release ends a view taken by freeze. Safe to call from another goroutine.
func (t *table) release() { t.views.Add(-1) }
