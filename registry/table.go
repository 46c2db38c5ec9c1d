package registry

import (
	"encoding/binary"
	"slices"
)

// slot is one stored claim: an id, the token generation that claimed it and the event time.
// gen 0 marks an empty slot (generations start at 1).
type slot struct {
	id  ID
	tok uint32 // index into State.tokens
	gen uint32 // generation of that record when it claimed; a mismatch means released
	ev  int64
}

// table is an open-addressing hash table of slots with linear probing and backward-shift
// deletion: a claim looks an id up and stores it in one probe sequence, which touches one
// cache line in the common case (a Go map needs a lookup and an assign). After a snapshot the
// slots are shared with it; the first write clones them.
type table struct {
	slots  []slot
	n      int
	shared bool
}

const minTableSize = 64

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

// shardOf picks a table by the hash's top bits; positions use its low bits.
func shardOf(h uint64) int { return int(h >> (64 - 8)) }

func (t *table) writable() {
	if t.shared {
		t.slots = slices.Clone(t.slots)
		t.shared = false
	}
}

// find returns the index of id's slot, or of the empty slot where it would go. The table must
// have at least one empty slot.
func (t *table) find(id *ID, h uint64) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.gen == 0 {
			return i, false
		}
		if s.id == *id {
			return i, true
		}
	}
}

// reserve grows the table so that one more slot can be filled (load stays ≤ 3/4).
func (t *table) reserve() {
	if len(t.slots) == 0 {
		t.slots = make([]slot, minTableSize)
		t.shared = false
		return
	}
	if (t.n+1)*4 <= len(t.slots)*3 {
		return
	}
	old := t.slots
	grow := 2
	if len(old) < 1<<14 {
		grow = 4 // small tables grow fast: fewer rehashes while a registry fills up
	}
	t.slots = make([]slot, grow*len(old))
	t.shared = false
	mask := len(t.slots) - 1
	for i := range old {
		if old[i].gen == 0 {
			continue
		}
		j := int(hashID(&old[i].id)) & mask
		for t.slots[j].gen != 0 {
			j = (j + 1) & mask
		}
		t.slots[j] = old[i]
	}
}

// deleteAt empties slot i and shifts later members of its probe run back, so that lookups
// never need tombstones.
func (t *table) deleteAt(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].gen != 0; j = (j + 1) & mask {
		home := int(hashID(&t.slots[j].id)) & mask
		// Slot j may move to i unless its home lies cyclically in (i, j].
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = slot{}
	t.n--
}
