package registry

import (
	"slices"
	"testing"
	"testing/synctest"
)

// coalescerHarness runs a coalescer of int items (each item is its own id count) whose send
// hands batches to the test. Used inside a synctest bubble: synctest.Wait lets run take
// everything queued and block, so what it sent (or held) is exact.
type coalescerHarness struct {
	co   *coalescer[int]
	sent chan []int
	stop chan struct{}
	left chan []int // run's unsent batch, once stopped
}

func newCoalescerHarness(maxIDs, eager, maxInflight int) *coalescerHarness {
	h := &coalescerHarness{
		co:   newCoalescer(64, maxIDs, maxInflight, func(n int) int { return n }),
		sent: make(chan []int, 64), stop: make(chan struct{}), left: make(chan []int, 1),
	}
	h.co.eager = eager
	go func() { h.left <- h.co.run(h.stop, func(b []int) { h.sent <- b }) }()
	return h
}

// add queues items and waits until run has taken them.
func (h *coalescerHarness) add(items ...int) {
	for _, it := range items {
		h.co.queue <- it
	}
	synctest.Wait()
}

// done finishes a batch in flight and waits until run has acted on it.
func (h *coalescerHarness) done() {
	h.co.done()
	synctest.Wait()
}

// sends checks the batches sent since the last check.
func (h *coalescerHarness) sends(t *testing.T, want ...[]int) {
	t.Helper()
	var got [][]int
	for len(h.sent) > 0 {
		got = append(got, <-h.sent)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

func TestCoalescerNagle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoalescerHarness(100, 50, 4)
		defer close(h.stop)
		// A lone item goes at once.
		h.add(1)
		h.sends(t, []int{1})
		// Small items wait while a batch is in flight, and go together when it returns.
		h.add(2, 3, 4)
		h.sends(t)
		h.done()
		h.sends(t, []int{2, 3, 4})
		// A batch of eager ids goes although one is in flight; a small item after it waits
		// until none is.
		h.add(50)
		h.sends(t, []int{50})
		h.add(5)
		h.done()
		h.sends(t)
		h.done()
		h.sends(t, []int{5})
		h.done()
	})
}

func TestCoalescerLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoalescerHarness(100, 100, 2)
		defer close(h.stop)
		h.add(1)
		h.sends(t, []int{1})
		// A batch takes no more items once it holds maxIDs ids; a full batch goes while
		// another is in flight.
		h.add(40, 40, 40, 40)
		h.sends(t, []int{40, 40, 40})
		// Two in flight (the cap): a full batch waits too.
		h.add(60)
		h.sends(t)
		h.done()
		h.sends(t, []int{40, 60})
		h.done()
		h.done()
		h.sends(t)
	})
}

func TestCoalescerStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoalescerHarness(100, 50, 4)
		h.add(1)
		h.add(2, 3) // held: a batch is in flight
		close(h.stop)
		if got := <-h.left; !slices.Equal(got, []int{2, 3}) {
			t.Fatalf("unsent after stop: %v, want [2 3]", got)
		}
	})
}
