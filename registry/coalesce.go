package registry

// coalescer gathers queued items into batches, Nagle-like: a batch goes out at once when
// nothing is in flight, or when it holds eager ids or more; otherwise it waits for a batch in
// flight to return, gathering what arrives meanwhile. Light load thus makes one batch per
// round trip (a lone call still goes at once, with no timer), and heavy load, whose batches
// fill up quickly, keeps up to maxInflight of them in flight.
//
// Why not send whatever is queued as soon as a slot is free: at a moderate rate that sends
// every call on its own, and each batch costs the same fixed work whatever its size (an RPC;
// a raft entry, a leader dispatch and an fsync on each node). At 1000 calls/s of 100 ids
// (3 nodes on loopback, 2 shared cores) that was about a thousand fsyncs a second over the
// nodes and kept raft's leader loop, which also does the leader's fsync, 60-80% busy: entries
// queued there, and the median commit took 5-7 ms instead of 2-3.
//
// One goroutine (run) owns the batch being gathered and the count in flight, and calls send;
// done may be called from any goroutine.
type coalescer[T any] struct {
	queue       chan T
	returned    chan struct{} // one per finished batch; buffered maxInflight, so done never blocks
	size        func(T) int   // ids an item carries
	maxIDs      int           // a batch takes no more items once it holds this many ids
	eager       int           // a batch this big goes out even while others are in flight
	maxInflight int
}

// eagerIDs: batches of this many ids go out without waiting for those in flight. An entry of
// 4096 ids (about 75 KB) amortises the fixed cost of an RPC, an entry and an fsync to some
// tens of nanoseconds per id; smaller ones are better sent together.
const eagerIDs = 4096

func newCoalescer[T any](queueLen, maxIDs, maxInflight int, size func(T) int) *coalescer[T] {
	return &coalescer[T]{
		queue: make(chan T, queueLen), returned: make(chan struct{}, maxInflight), size: size,
		maxIDs: maxIDs, eager: min(eagerIDs, maxIDs), maxInflight: maxInflight,
	}
}

// done reports that a batch handed to send has finished. Call it once per batch.
func (c *coalescer[T]) done() { c.returned <- struct{}{} }

// run gathers and sends batches until stop closes, and returns the items it had gathered and
// not sent (the caller fails them). send owns the batch it is given and must call done when
// the batch has finished, from any goroutine.
func (c *coalescer[T]) run(stop <-chan struct{}, send func(batch []T)) (unsent []T) {
	var batch []T
	ids, inflight := 0, 0
	for {
		queue := c.queue
		if ids >= c.maxIDs {
			queue = nil // full: wait for a batch in flight to return
		}
		select {
		case it := <-queue:
			batch = append(batch, it)
			ids += c.size(it)
		drain:
			for ids < c.maxIDs {
				select {
				case it := <-c.queue:
					batch = append(batch, it)
					ids += c.size(it)
				default:
					break drain
				}
			}
		case <-c.returned:
			inflight--
		case <-stop:
			return batch
		}
		if len(batch) > 0 && inflight < c.maxInflight && (inflight == 0 || ids >= c.eager) {
			inflight++
			send(batch)
			batch, ids = nil, 0
		}
	}
}
