package gen

// bucketMs is the event-time resolution of match shares and burst mixes: within one bucket the
// generator treats every moment's intensity as constant.
const bucketMs = 100

// cacheSize buckets are memoised, direct-mapped by bucket number. Event times of one burst of
// Append calls span MaxDelay (plus the odd late event), i.e. about 16 buckets, so misses are rare.
const cacheSize = 128

// bucketEntry is what the generator needs at one bucket of event time.
type bucketEntry struct {
	id   int64        // bucket number (ts / bucketMs)
	ok   bool         // the entry holds data
	cum  []float64    // cumulative share of each match in the traffic
	p    []float64    // per match: probability that a reaction comes from the burst palette
	kind []MomentKind // per match: the kind of the dominant active moment
}

// bucketCache memoises bucketEntry by bucket. It is a pure function cache: it changes speed,
// never output.
type bucketCache struct {
	entries [cacheSize]bucketEntry
}

func (c *bucketCache) init(matches int) {
	cum := make([]float64, cacheSize*matches)
	p := make([]float64, cacheSize*matches)
	kind := make([]MomentKind, cacheSize*matches)
	for i := range c.entries {
		lo, hi := i*matches, (i+1)*matches
		c.entries[i] = bucketEntry{cum: cum[lo:hi:hi], p: p[lo:hi:hi], kind: kind[lo:hi:hi]}
	}
}

// get returns the entry for the bucket holding event time ts (ms).
func (c *bucketCache) get(g *Generator, ts int64) *bucketEntry {
	id := floorDiv(ts, bucketMs)
	e := &c.entries[uint64(id)%cacheSize]
	if e.ok && e.id == id {
		return e
	}
	e.id, e.ok = id, true
	t := id*bucketMs + bucketMs/2
	var total float64
	for m := range e.cum {
		amp, kind := g.burst(m, t)
		spec := &momentSpecs[kind]
		w := g.matchBase[m]
		if amp > 0 {
			w *= 1 + spec.rate*amp/spec.amp
		}
		total += w
		e.cum[m] = total
		e.p[m] = amp / (1 + amp)
		e.kind[m] = kind
	}
	for m := range e.cum {
		e.cum[m] /= total
	}
	e.cum[len(e.cum)-1] = 1
	return e
}

// dupCap bounds the pending client retries; when full, no new duplicate is scheduled.
const dupCap = 4096

// maxRecord bounds an encoded event (the longest is about 106 bytes).
const maxRecord = 128

type pendingDup struct {
	due  int64 // arrival time of the retry, ms
	meta Meta
	n    int
	buf  [maxRecord]byte
}

// dupRing holds scheduled retries in FIFO order; a retry goes out at the first Append at or
// after its due time once every retry before it went out.
type dupRing struct {
	ring       []pendingDup
	head, size int
}

func (r *dupRing) push(b []byte, meta Meta, due int64) {
	if r.size == dupCap || len(b) > maxRecord {
		return
	}
	if r.ring == nil {
		r.ring = make([]pendingDup, dupCap)
	}
	d := &r.ring[(r.head+r.size)%dupCap]
	d.due, d.meta, d.n = due, meta, copy(d.buf[:], b)
	r.size++
}

// due returns the oldest retry if it is due at now, else nil.
func (r *dupRing) due(now int64) *pendingDup {
	if r.size == 0 || r.ring[r.head].due > now {
		return nil
	}
	return &r.ring[r.head]
}

func (r *dupRing) pop() {
	r.head = (r.head + 1) % dupCap
	r.size--
}
