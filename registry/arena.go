package registry

import (
	"runtime"
	"unsafe"
)

// arena hands out the claim table's pages. Where it can (Linux, not under the race detector)
// their memory is mapped outside the Go heap, in chunks advised as transparent huge pages.
//
// Why: a registry's tables are most of its memory, hundreds of megabytes without a pointer in
// them. On the Go heap they would set the garbage collector's heap goal (twice the live heap
// by default), so the many short-lived buffers of replication and RPCs would be carved from
// fresh memory until the heap doubled instead of from memory freed a moment ago; on virtual
// machines where a page fault is dear, that first touch cost more than the claims themselves.
// Off the heap, the process's other allocations recycle warm memory, and the tables fault in
// once per huge page.
//
// Slots and tags come from separate chunks, so that the tags of all pages, read by every
// probe, lie close together. Pages freed by the table are kept for reuse; a page a frozen
// view may still read is retired and reused only once no view is held. The mappings are
// released when the arena becomes unreachable: everything that reads pages (the table,
// frozen views through their table pointer) keeps it reachable.
type arena struct {
	maps    *mappings
	slots   []slot    // the current slot chunk's part not yet handed out
	tags    []uint8   // the current tag chunk's part not yet handed out
	free    []pageMem // pages to reuse (contents arbitrary)
	retired []pageMem // pages replaced while a view might read them
	chunk   int       // size of the next chunk, in pages
}

// mappings are an arena's chunks, released by a cleanup once the arena is unreachable.
type mappings struct{ chunks [][]byte }

const (
	slotSize        = int(unsafe.Sizeof(slot{}))
	firstChunkPages = 16                                  // 256 KB of slots: small tables stay small
	maxChunkPages   = (32 << 20) / (slotSize * pageSlots) // 32 MB of slots
)

func newArena() *arena {
	a := &arena{maps: &mappings{}, chunk: firstChunkPages}
	runtime.AddCleanup(a, (*mappings).release, a.maps)
	return a
}

func (m *mappings) release() {
	for _, c := range m.chunks {
		unmapChunk(c)
	}
	m.chunks = nil
}

// reserve makes sure n more pages can be handed out without mapping again, mapping them as
// one chunk and faulting its memory in now (presizing: the cost is paid before serving).
func (a *arena) reserve(n int) {
	if have := len(a.slots)/pageSlots + len(a.free); have < n {
		a.newChunk(n-have, true)
	}
}

// page returns a page, zeroed if zero is set (else its contents are arbitrary: the caller
// overwrites all of it).
func (a *arena) page(zero bool) pageMem {
	if n := len(a.free); n > 0 {
		p := a.free[n-1]
		a.free = a.free[:n-1]
		if zero {
			clear(p.s)
			clear(p.tags)
		}
		return p
	}
	if len(a.slots) == 0 {
		a.newChunk(a.chunk, false)
		a.chunk = min(2*a.chunk, maxChunkPages)
	}
	p := pageMem{a.slots[:pageSlots:pageSlots], a.tags[:pageSlots:pageSlots]}
	a.slots, a.tags = a.slots[pageSlots:], a.tags[pageSlots:]
	return p // fresh memory is zero
}

func (a *arena) newChunk(pages int, prefault bool) {
	// Pages of the old chunks not yet handed out are kept.
	for len(a.slots) >= pageSlots {
		a.free = append(a.free, pageMem{a.slots[:pageSlots:pageSlots], a.tags[:pageSlots:pageSlots]})
		a.slots, a.tags = a.slots[pageSlots:], a.tags[pageSlots:]
	}
	sb := mapChunk(pages * pageSlots * slotSize)
	tb := mapChunk(pages * pageSlots)
	a.maps.chunks = append(a.maps.chunks, sb, tb)
	if prefault {
		for _, b := range [][]byte{sb, tb} {
			for i := 0; i < len(b); i += 4096 {
				b[i] = 0 // a write faults the memory in; the value is the zero it held
			}
		}
	}
	a.slots = unsafe.Slice((*slot)(unsafe.Pointer(unsafe.SliceData(sb))), len(sb)/slotSize)
	a.tags = tb
}

// put returns a page nobody reads any more.
func (a *arena) put(p pageMem) {
	if len(p.s) == pageSlots {
		a.free = append(a.free, p)
	} // grown pages live on the Go heap
}

// retire returns a page that a frozen view may still read.
func (a *arena) retire(p pageMem) {
	if len(p.s) == pageSlots {
		a.retired = append(a.retired, p)
	}
}

// reclaim makes retired pages reusable; call it only when no view is held.
func (a *arena) reclaim() {
	a.free = append(a.free, a.retired...)
	clear(a.retired)
	a.retired = a.retired[:0]
}
