package registry

import (
	"encoding/binary"
	"fmt"
	"math"
)

// opKind is what one operation does. The numbers are part of the log format: never reuse one.
type opKind uint8

const (
	opClaim   opKind = 1
	opConfirm opKind = 2
	opAbort   opKind = 3
	opRenew   opKind = 4
	opRecover opKind = 5 // tok.Pipeline, tok.Task; tok.Epoch is the checkpoint
	opMember  opKind = 6 // member, addr: a node's API address ("" forgets it)
)

func (k opKind) String() string {
	switch k {
	case opClaim:
		return "claim"
	case opConfirm:
		return "confirm"
	case opAbort:
		return "abort"
	case opRenew:
		return "renew"
	case opRecover:
		return "recover"
	case opMember:
		return "member"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// op is one operation, as clients send it and as the log stores it.
type op struct {
	kind   opKind
	tok    Token
	lease  int64 // claim, renew: lease length in milliseconds
	ids    []ClaimID
	member string // opMember: raft server id
	addr   string // opMember: API address
}

// entry is one Raft log entry: many operations stamped with the leader's clock and
// retention, so every node applies them with the same time and horizon.
type entry struct {
	clock     int64 // leader's wall clock, Unix milliseconds
	retention int64 // milliseconds of event time to keep; 0 keeps forever
	ops       []op
}

// entryVersion leads every encoded entry.
const entryVersion = 1

// Minimum encoded sizes, used to bound counts read from untrusted bytes before allocating.
const (
	minIDSize = 16 + 1 // id + 1-byte varint
	minOpSize = 1 + 3  // kind + shortest token
)

func appendToken(b []byte, t Token) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.Pipeline)))
	b = append(b, t.Pipeline...)
	b = binary.AppendUvarint(b, uint64(t.Task))
	return binary.AppendUvarint(b, t.Epoch)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendOp encodes o. Event times are delta-encoded: ids of one claim are usually close in
// time, so most take one or two bytes besides the 16 of the id.
func appendOp(b []byte, o *op) []byte {
	b = append(b, byte(o.kind))
	switch o.kind {
	case opMember:
		b = appendString(b, o.member)
		return appendString(b, o.addr)
	}
	b = appendToken(b, o.tok)
	switch o.kind {
	case opClaim:
		b = binary.AppendUvarint(b, uint64(o.lease))
		b = binary.AppendUvarint(b, uint64(len(o.ids)))
		prev := int64(0)
		for i := range o.ids {
			b = append(b, o.ids[i].ID[:]...)
			b = binary.AppendVarint(b, o.ids[i].EventTime-prev)
			prev = o.ids[i].EventTime
		}
	case opRenew:
		b = binary.AppendUvarint(b, uint64(o.lease))
	}
	return b
}

// opSize is an upper bound of appendOp's output length, for buffer sizing.
func opSize(o *op) int {
	return 1 + 3*binary.MaxVarintLen64 + len(o.tok.Pipeline) + len(o.member) + len(o.addr) +
		len(o.ids)*(16+binary.MaxVarintLen64)
}

func appendEntryHeader(b []byte, clock, retention int64, nops int) []byte {
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, clock)
	b = binary.AppendUvarint(b, uint64(retention))
	return binary.AppendUvarint(b, uint64(nops))
}

func encodeEntry(e *entry) []byte {
	n := 32
	for i := range e.ops {
		n += opSize(&e.ops[i])
	}
	b := appendEntryHeader(make([]byte, 0, n), e.clock, e.retention, len(e.ops))
	for i := range e.ops {
		b = appendOp(b, &e.ops[i])
	}
	return b
}

// decoder reads untrusted bytes: every count is checked against what is left before anything
// is allocated, and the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte1(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items of at least minSize bytes each, bounded by what is left.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint(what)
	if v > uint64(len(d.b)/minSize) {
		d.fail(what)
		return 0
	}
	return int(v)
}

// nonneg reads a uvarint that must fit an int64.
func (d *decoder) nonneg(what string) int64 {
	v := d.uvarint(what)
	if v > math.MaxInt64 {
		d.fail(what)
		return 0
	}
	return int64(v)
}

func (d *decoder) str(what string, max int) string {
	n := d.uvarint(what)
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) token() Token {
	var t Token
	t.Pipeline = d.str("token pipeline", MaxPipelineLen)
	task := d.uvarint("token task")
	if task > math.MaxUint32 {
		d.fail("token task")
	}
	t.Task = uint32(task)
	t.Epoch = d.uvarint("token epoch")
	return t
}

// maxMemberLen bounds node ids and addresses in opMember.
const maxMemberLen = 1024

// op decodes one operation. ids are appended to *pool, whose capacity the caller sized so that
// it never grows (len(input)/minIDSize): sub-slices handed out stay valid.
func (d *decoder) op(o *op, pool *[]ClaimID) {
	o.kind = opKind(d.byte1("op kind"))
	switch o.kind {
	case opMember:
		o.member = d.str("member id", maxMemberLen)
		o.addr = d.str("member address", maxMemberLen)
		return
	case opClaim, opConfirm, opAbort, opRenew, opRecover:
	default:
		d.fail("op kind")
		return
	}
	o.tok = d.token()
	switch o.kind {
	case opClaim:
		o.lease = d.nonneg("lease")
		n := d.count("id count", minIDSize)
		if d.err != nil {
			return
		}
		start := len(*pool)
		if cap(*pool)-start < n {
			d.fail("id count")
			return
		}
		ids := (*pool)[start : start+n]
		prev := int64(0)
		for i := range ids {
			if len(d.b) < 16 {
				d.fail("id")
				return
			}
			copy(ids[i].ID[:], d.b[:16])
			d.b = d.b[16:]
			prev += d.varint("event time")
			ids[i].EventTime = prev
		}
		*pool = (*pool)[:start+n]
		o.ids = ids[:n:n]
	case opRenew:
		o.lease = d.nonneg("lease")
	}
}

// ops decodes a count and that many operations, with their ids in *pool (reused when its
// capacity is enough: the caller owns it and keeps it until it is done with the ops).
func (d *decoder) ops(pool *[]ClaimID) []op {
	n := d.count("op count", minOpSize)
	if d.err != nil {
		return nil
	}
	ops := make([]op, n)
	if maxIDs := len(d.b) / minIDSize; cap(*pool) < maxIDs {
		*pool = make([]ClaimID, 0, maxIDs)
	}
	*pool = (*pool)[:0]
	for i := range ops {
		d.op(&ops[i], pool)
		if d.err != nil {
			return nil
		}
	}
	return ops
}

// decodeEntry decodes a log entry. It never panics and allocates in proportion to len(b).
func decodeEntry(b []byte) (entry, error) {
	var pool []ClaimID
	return decodeEntryInto(b, &pool)
}

// decodeEntryInto is decodeEntry with the entry's ids in *pool (see decoder.ops).
func decodeEntryInto(b []byte, pool *[]ClaimID) (entry, error) {
	d := decoder{b: b}
	var e entry
	if v := d.byte1("entry version"); d.err == nil && v != entryVersion {
		return e, fmt.Errorf("%w: entry version %d, want %d", ErrCorrupt, v, entryVersion)
	}
	e.clock = d.varint("clock")
	e.retention = d.nonneg("retention")
	e.ops = d.ops(pool)
	if d.err == nil && len(d.b) != 0 {
		d.fail("entry: trailing bytes")
	}
	return e, d.err
}
