package registry

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
)

// Snapshot format (all integers varints unless said otherwise):
//
//	magic "GLRSNAP2"
//	clock, retention, horizon, maxEvent
//	members: count, then (id, addr) strings
//	tokens: count, then (token, flags byte, lease, deadline, maxEv); claims name them by position
//	claims: blocks of (count, then count × (16-byte id, token position, event time)), until a
//	        block of count 0
//	trailer "GLRSEND2"
//
// A snapshot holds the logical state: every token generation and every live claim, so a
// restored node answers every later entry exactly as a node that applied the whole log.
var (
	snapMagic   = [8]byte{'G', 'L', 'R', 'S', 'N', 'A', 'P', '2'}
	snapTrailer = [8]byte{'G', 'L', 'R', 'S', 'E', 'N', 'D', '2'}
)

const (
	flagAttached   = 1 << 4
	flagOrphan     = 1 << 5
	stateMask      = 0x0f
	snapBlockSize  = 4096
	snapFlushBytes = 64 << 10
)

// frozen is a point-in-time view of a State, taken in O(pages + tokens) by freeze and written
// while Apply goes on: the claim table's pages are shared copy-on-write, the small parts are
// copied. Release it once written, so that the table stops copying pages on write.
type frozen struct {
	clock, retention, horizon, maxEvent int64
	tokens                              []tokenRec
	members                             map[string]string
	pages                               [][]slot
	table                               *table
}

func (s *State) freeze() *frozen {
	return &frozen{
		clock: s.clock, retention: s.retention, horizon: s.horizon, maxEvent: s.maxEvent,
		tokens:  append([]tokenRec(nil), s.tokens...),
		members: maps.Clone(s.members),
		pages:   s.claims.freeze(),
		table:   &s.claims,
	}
}

// release tells the state the view is no longer read. Safe from any goroutine, once.
func (f *frozen) release() {
	if f.table != nil {
		f.table.release()
		f.table, f.pages = nil, nil
	}
}

// live is State.live on the frozen view.
func (f *frozen) live(sl *slot) bool {
	if sl.gen == 0 || sl.ev < f.horizon {
		return false
	}
	r := &f.tokens[sl.tok]
	if r.gen != sl.gen {
		return false
	}
	return r.state == tokConfirmed || (r.state == tokOpen && r.deadline >= f.clock)
}

func (f *frozen) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	b := make([]byte, 0, 2*snapFlushBytes)
	flush := func(force bool) error {
		if len(b) < snapFlushBytes && !force {
			return nil
		}
		_, err := bw.Write(b)
		b = b[:0]
		return err
	}
	b = append(b, snapMagic[:]...)
	b = binary.AppendVarint(b, f.clock)
	b = binary.AppendUvarint(b, uint64(f.retention))
	b = binary.AppendVarint(b, f.horizon)
	b = binary.AppendVarint(b, f.maxEvent)
	b = binary.AppendUvarint(b, uint64(len(f.members)))
	for id, addr := range f.members {
		b = appendString(appendString(b, id), addr)
	}
	// Free records are left out; claims name records by their position among those written.
	pos := make([]uint32, len(f.tokens))
	n := uint32(0)
	for i := range f.tokens {
		if f.tokens[i].state != tokFree {
			pos[i] = n
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i := range f.tokens {
		r := &f.tokens[i]
		if r.state == tokFree {
			continue
		}
		b = appendToken(b, r.key)
		flags := byte(r.state)
		if r.attached {
			flags |= flagAttached
		}
		if r.orphan {
			flags |= flagOrphan
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(r.lease))
		b = binary.AppendVarint(b, r.deadline)
		b = binary.AppendVarint(b, r.maxEv)
		if err := flush(false); err != nil {
			return err
		}
	}
	// Live claims in blocks; a block's count is patched in once it is known.
	var block [binary.MaxVarintLen64]byte
	for _, slots := range f.pages {
		for i := 0; i < len(slots); {
			start, k := len(b), 0
			b = append(b, block[:3]...) // room for a count < 2^21
			for ; i < len(slots) && k < snapBlockSize; i++ {
				sl := &slots[i]
				if !f.live(sl) {
					continue
				}
				b = append(b, sl.id[:]...)
				b = binary.AppendUvarint(b, uint64(pos[sl.tok]))
				b = binary.AppendVarint(b, sl.ev)
				k++
			}
			if k == 0 {
				b = b[:start]
				continue
			}
			// Fixed 3-byte uvarint of k (k ≤ 4096 < 2^21).
			b[start], b[start+1], b[start+2] = byte(k)|0x80, byte(k>>7)|0x80, byte(k>>14)
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	b = binary.AppendUvarint(b, 0)
	b = append(b, snapTrailer[:]...)
	if err := flush(true); err != nil {
		return err
	}
	runtime.KeepAlive(f.table) // the pages' memory is the table's arena's
	return bw.Flush()
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// snapReader decodes a snapshot stream. Counts cannot be checked against a stream's length,
// so nothing is preallocated beyond a cap: a corrupt count ends in an EOF error, not an
// allocation of its size.
type snapReader struct {
	r   *bufio.Reader
	err error
}

func (d *snapReader) fail(what string, err error) {
	if d.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("%w: snapshot: bad %s: %v", ErrCorrupt, what, err)
	}
}

func (d *snapReader) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.fail(what, err)
	}
	return v
}

func (d *snapReader) nonneg(what string) int64 {
	v := d.uvarint(what)
	if v > math.MaxInt64 {
		d.fail(what, errors.New("out of range"))
		return 0
	}
	return int64(v)
}

func (d *snapReader) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.fail(what, err)
	}
	return v
}

func (d *snapReader) full(p []byte, what string) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		d.fail(what, err)
	}
}

func (d *snapReader) str(what string, max int) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(max) {
		d.fail(what, errors.New("too long"))
		return ""
	}
	p := make([]byte, n)
	d.full(p, what)
	return string(p)
}

func (d *snapReader) token() Token {
	var t Token
	t.Pipeline = d.str("token pipeline", MaxPipelineLen)
	task := d.uvarint("token task")
	if task > math.MaxUint32 {
		d.fail("token task", errors.New("out of range"))
	}
	t.Task = uint32(task)
	t.Epoch = d.uvarint("token epoch")
	return t
}

const maxPrealloc = 1 << 16

// readSnapshot decodes a snapshot into a new State sized for expected claims (see
// Config.ExpectedClaims). It never panics on bad input.
func readSnapshot(r io.Reader, expected int) (*State, error) {
	d := &snapReader{r: bufio.NewReaderSize(r, 1<<20)}
	var magic [8]byte
	d.full(magic[:], "magic")
	if d.err == nil && magic != snapMagic {
		return nil, fmt.Errorf("%w: snapshot: bad magic %q", ErrCorrupt, magic[:])
	}
	s := newStateSized(expected)
	s.clock = d.varint("clock")
	s.retention = d.nonneg("retention")
	s.horizon = d.varint("horizon")
	s.maxEvent = d.varint("max event")
	s.lastCollect = floorDiv(s.clock, collectEvery)
	nm := d.uvarint("member count")
	for i := uint64(0); i < nm && d.err == nil; i++ {
		id := d.str("member id", maxMemberLen)
		s.members[id] = d.str("member address", maxMemberLen)
	}
	nt := d.uvarint("token count")
	if nt > math.MaxUint32 {
		d.fail("token count", errors.New("out of range"))
	}
	s.tokens = make([]tokenRec, 0, min(nt, maxPrealloc))
	for i := uint64(0); i < nt && d.err == nil; i++ {
		r := tokenRec{gen: firstGeneration}
		r.key = d.token()
		var flags [1]byte
		d.full(flags[:], "token flags")
		st := tokState(flags[0] & stateMask)
		if flags[0]&^(stateMask|flagAttached|flagOrphan) != 0 || st == tokFree || st >= tokStateCount {
			d.fail("token flags", fmt.Errorf("%#x", flags[0]))
		}
		r.state = st
		r.attached = flags[0]&flagAttached != 0
		r.orphan = flags[0]&flagOrphan != 0
		r.lease = d.nonneg("lease")
		r.deadline = d.varint("deadline")
		r.maxEv = d.varint("max event time")
		if d.err != nil {
			break
		}
		if r.attached {
			if _, dup := s.byKey[r.key]; dup {
				d.fail("token", fmt.Errorf("%s attached twice", r.key))
				break
			}
			s.byKey[r.key] = uint32(len(s.tokens))
		}
		s.tokens = append(s.tokens, r)
	}
	for d.err == nil {
		k := d.uvarint("claim block")
		if k == 0 || d.err != nil {
			break
		}
		for j := uint64(0); j < k && d.err == nil; j++ {
			var c slot
			d.full(c.id[:], "claim id")
			ti := d.uvarint("claim token")
			c.ev = d.varint("claim event time")
			if d.err != nil {
				break
			}
			if ti >= uint64(len(s.tokens)) {
				d.fail("claim token", fmt.Errorf("%d of %d", ti, len(s.tokens)))
				break
			}
			c.tok, c.gen = uint32(ti), firstGeneration
			pi, i, h, found := s.claims.lookup(&c.id)
			if found {
				d.fail("claim id", errors.New("stored twice"))
				break
			}
			s.claims.insert(pi, i, h, &c)
		}
	}
	var trailer [8]byte
	d.full(trailer[:], "trailer")
	if d.err == nil && trailer != snapTrailer {
		d.fail("trailer", errors.New("mismatch"))
	}
	if d.err == nil {
		if _, err := d.r.ReadByte(); err != io.EOF {
			d.fail("trailer", errors.New("trailing bytes"))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}
