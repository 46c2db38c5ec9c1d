package registry

import (
	"math/rand/v2"
	"testing"
)

// TestTableAgainstMap: random inserts and deletes (backward shift) on one table, checked
// against a map after every step, through several growths.
func TestTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tb table
	want := map[ID]int64{}
	var keys []ID
	for step := range 60000 {
		if len(keys) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(keys))
			id := keys[k]
			keys[k] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			i, found := tb.find(&id, hashID(&id))
			if !found {
				t.Fatalf("step %d: stored id not found", step)
			}
			tb.deleteAt(i)
			delete(want, id)
		} else {
			var id ID
			id[0], id[1], id[2] = byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(8))
			h := hashID(&id)
			tb.reserve()
			i, found := tb.find(&id, h)
			if _, ok := want[id]; ok != found {
				t.Fatalf("step %d: find says %v, map %v", step, found, ok)
			}
			if !found {
				tb.slots[i] = slot{id: id, gen: 1, ev: int64(step)}
				tb.n++
				want[id] = int64(step)
				keys = append(keys, id)
			}
		}
		if step%997 == 0 || step > 59000 {
			if tb.n != len(want) {
				t.Fatalf("step %d: %d stored, map %d", step, tb.n, len(want))
			}
			for id, ev := range want {
				i, found := tb.find(&id, hashID(&id))
				if !found || tb.slots[i].ev != ev {
					t.Fatalf("step %d: id lost or changed", step)
				}
			}
		}
	}
	if len(tb.slots) < 4096 {
		t.Fatalf("table never grew much (%d slots)", len(tb.slots))
	}
}
