package registry

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// The API's messages are plain Go structs with a hand-written binary encoding (the ops inside
// an apply request are byte-for-byte what the log stores). codecName selects the codec as the
// gRPC content-subtype ("application/grpc+glint-registry").
const codecName = "glint-registry"

// wireMsg is implemented by every API message.
type wireMsg interface {
	appendTo(b []byte) []byte
	decodeFrom(b []byte) error
}

type wireCodec struct{}

func (wireCodec) Name() string { return codecName }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(interface{ buffers() mem.BufferSlice }); ok {
		return m.buffers(), nil // large messages: their parts as they are, not copied
	}
	m, ok := v.(wireMsg)
	if !ok {
		return nil, fmt.Errorf("registry: codec cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.appendTo(nil))}, nil
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(interface{ decodeSlice(mem.BufferSlice) error }); ok {
		return m.decodeSlice(data) // large messages: copied once, into memory they keep
	}
	m, ok := v.(wireMsg)
	if !ok {
		return fmt.Errorf("registry: codec cannot unmarshal %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return m.decodeFrom(buf.ReadOnlyData()) // decoders copy what they keep
}

// gRPC finds codecs by content-subtype in its own registry, filled at init; this is the one
// package-level registration the library needs.
func init() { encoding.RegisterCodecV2(wireCodec{}) }

// applyRequest carries encoded ops: the client concatenates ops encoded in its callers'
// goroutines, the server checks them without decoding ids and proposes the bytes as they are.
//
// On the wire: the op count, then the ops. A request is built from parts (the callers'
// encoded ops, sent without joining them); a decoded request has one part, copied once from
// gRPC's buffers into memory with entryHeadroom free bytes before it (room), so that the
// leader can write a raft entry's header there and propose the request's bytes in place.
type applyRequest struct {
	nops  int
	nids  int
	parts [][]byte
	room  []byte // decoded (or encodeOps) requests: room[entryHeadroom:] is parts[0]
}

// entryHeadroom is room for an entry header (appendEntryHeader: at most 31 bytes).
const entryHeadroom = 32

func (m *applyRequest) size() int {
	n := 0
	for _, p := range m.parts {
		n += len(p)
	}
	return n
}

func (m *applyRequest) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(m.nops))
	for _, p := range m.parts {
		b = append(b, p...)
	}
	return b
}

func (m *applyRequest) buffers() mem.BufferSlice {
	out := make(mem.BufferSlice, 0, 1+len(m.parts))
	out = append(out, mem.SliceBuffer(binary.AppendUvarint(nil, uint64(m.nops))))
	for _, p := range m.parts {
		out = append(out, mem.SliceBuffer(p))
	}
	return out
}

func (m *applyRequest) decodeSlice(data mem.BufferSlice) error {
	// Copy the message so that the ops, after the op count, start at entryHeadroom.
	var head [binary.MaxVarintLen64]byte
	off := entryHeadroom
	if _, k := binary.Uvarint(head[:data.CopyTo(head[:])]); k > 0 {
		off -= k
	}
	room := make([]byte, off+data.Len())
	data.CopyTo(room[off:])
	if err := m.decodeFrom(room[off:]); err != nil {
		return err
	}
	if off < entryHeadroom {
		m.room = room
	}
	return nil
}

// decodeFrom checks b and keeps the ops as one part, a sub-slice of b (callers that do not
// own b copy it first).
func (m *applyRequest) decodeFrom(b []byte) error {
	d := decoder{b: b}
	m.nops = d.count("op count", minOpSize)
	if d.err != nil {
		return d.err
	}
	rest := d.b
	m.nids = 0
	for range m.nops {
		m.nids += d.skipOp()
		if d.err != nil {
			return d.err
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: apply request: trailing bytes", ErrCorrupt)
	}
	m.parts, m.room = [][]byte{rest}, nil
	return nil
}

// skipOp checks one encoded op without allocating and returns its id count.
func (d *decoder) skipOp() int {
	kind := opKind(d.byte1("op kind"))
	skipStr := func(what string, max int) {
		n := d.uvarint(what)
		if n > uint64(max) || n > uint64(len(d.b)) {
			d.fail(what)
			return
		}
		d.b = d.b[n:]
	}
	switch kind {
	case opMember:
		skipStr("member id", maxMemberLen)
		skipStr("member address", maxMemberLen)
		return 0
	case opClaim, opConfirm, opAbort, opRenew, opRecover:
	default:
		d.fail("op kind")
		return 0
	}
	skipStr("token pipeline", MaxPipelineLen)
	if d.uvarint("token task") > math.MaxUint32 {
		d.fail("token task")
	}
	d.uvarint("token epoch")
	switch kind {
	case opClaim:
		d.nonneg("lease")
		n := d.count("id count", minIDSize)
		for i := 0; i < n && d.err == nil; i++ {
			if len(d.b) < 16 {
				d.fail("id")
				break
			}
			d.b = d.b[16:]
			d.varint("event time")
		}
		return n
	case opRenew:
		d.nonneg("lease")
	}
	return 0
}

// applyResponse answers each op of an apply request, in order.
type applyResponse struct {
	leader  string // API address of the leader that applied the ops
	results []opResult
}

func (m *applyResponse) appendTo(b []byte) []byte {
	b = appendString(b, m.leader)
	b = binary.AppendUvarint(b, uint64(len(m.results)))
	for i := range m.results {
		r := &m.results[i]
		b = append(b, byte(r.code))
		b = binary.AppendUvarint(b, uint64(len(r.outcomes)))
		for _, o := range r.outcomes {
			b = append(b, byte(o))
		}
		b = binary.AppendUvarint(b, uint64(len(r.holders)))
		for j := range r.holders {
			if j > 0 && r.holders[j] == r.holders[j-1] {
				b = append(b, 1) // same holder as the previous one
				continue
			}
			b = appendToken(append(b, 0), r.holders[j])
		}
	}
	return b
}

func (m *applyResponse) decodeFrom(b []byte) error {
	d := decoder{b: b}
	m.leader = d.str("leader", maxMemberLen)
	n := d.count("result count", 3)
	if d.err != nil {
		return d.err
	}
	m.results = make([]opResult, n)
	for i := range m.results {
		r := &m.results[i]
		r.code = opCode(d.byte1("code"))
		if r.code >= codeCount {
			d.fail("code")
		}
		no := d.count("outcome count", 1)
		if d.err != nil {
			return d.err
		}
		lost := 0
		if no > 0 {
			r.outcomes = make([]Outcome, no)
			for j := range r.outcomes {
				o := Outcome(d.byte1("outcome"))
				if o < Won || o > Refused {
					d.fail("outcome")
				}
				if o == Lost {
					lost++
				}
				r.outcomes[j] = o
			}
		}
		nh := d.count("holder count", 1)
		if d.err == nil && nh != lost {
			d.fail("holder count")
		}
		if d.err != nil {
			return d.err
		}
		if nh > 0 {
			r.holders = make([]Token, nh)
			for j := range r.holders {
				if same := d.byte1("holder"); same == 1 && j > 0 {
					r.holders[j] = r.holders[j-1]
				} else if same == 0 {
					r.holders[j] = d.token()
				} else {
					d.fail("holder")
				}
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("apply response: trailing bytes")
	}
	return d.err
}

type statusRequest struct{}

func (*statusRequest) appendTo(b []byte) []byte { return b }
func (*statusRequest) decodeFrom(b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: status request: trailing bytes", ErrCorrupt)
	}
	return nil
}

type statusResponse struct{ s Status }

func (m *statusResponse) appendTo(b []byte) []byte {
	s := &m.s
	for _, str := range []string{s.Node, s.RaftAddr, s.APIAddr, s.State, s.Leader, s.LeaderAPI} {
		b = appendString(b, str)
	}
	for _, v := range []uint64{s.Term, s.CommitIndex, s.AppliedIndex, s.LastSnapshotIndex, s.LastSnapshotTerm,
		uint64(s.Claims), uint64(s.Open), uint64(s.Expired), uint64(s.Confirmed), uint64(s.Orphaned)} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendVarint(b, s.Clock)
	b = binary.AppendVarint(b, s.Horizon)
	b = binary.AppendUvarint(b, uint64(len(s.Servers)))
	for _, sv := range s.Servers {
		b = appendString(appendString(appendString(b, sv.ID), sv.RaftAddr), sv.APIAddr)
		b = append(b, boolByte(sv.Voter))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Members)))
	for id, addr := range s.Members {
		b = appendString(appendString(b, id), addr)
	}
	return b
}

func (m *statusResponse) decodeFrom(b []byte) error {
	d := decoder{b: b}
	s := &m.s
	for _, p := range []*string{&s.Node, &s.RaftAddr, &s.APIAddr, &s.State, &s.Leader, &s.LeaderAPI} {
		*p = d.str("status", maxMemberLen)
	}
	for _, p := range []*uint64{&s.Term, &s.CommitIndex, &s.AppliedIndex, &s.LastSnapshotIndex, &s.LastSnapshotTerm} {
		*p = d.uvarint("status")
	}
	for _, p := range []*int{&s.Claims, &s.Open, &s.Expired, &s.Confirmed, &s.Orphaned} {
		*p = int(d.nonneg("status"))
	}
	s.Clock = d.varint("clock")
	s.Horizon = d.varint("horizon")
	n := d.count("servers", 4)
	s.Servers = make([]Server, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var sv Server
		sv.ID = d.str("server id", maxMemberLen)
		sv.RaftAddr = d.str("server raft address", maxMemberLen)
		sv.APIAddr = d.str("server api address", maxMemberLen)
		sv.Voter = d.byte1("voter") == 1
		s.Servers = append(s.Servers, sv)
	}
	nm := d.count("members", 2)
	s.Members = make(map[string]string, nm)
	for i := 0; i < nm && d.err == nil; i++ {
		id := d.str("member id", maxMemberLen)
		s.Members[id] = d.str("member address", maxMemberLen)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("status: trailing bytes")
	}
	return d.err
}

// memberRequest adds (join) or removes a voter.
type memberRequest struct {
	add      bool
	id       string
	raftAddr string
	apiAddr  string
}

func (m *memberRequest) appendTo(b []byte) []byte {
	b = append(b, boolByte(m.add))
	return appendString(appendString(appendString(b, m.id), m.raftAddr), m.apiAddr)
}

func (m *memberRequest) decodeFrom(b []byte) error {
	d := decoder{b: b}
	m.add = d.byte1("add") == 1
	m.id = d.str("id", maxMemberLen)
	m.raftAddr = d.str("raft address", maxMemberLen)
	m.apiAddr = d.str("api address", maxMemberLen)
	if d.err == nil && len(d.b) != 0 {
		d.fail("member request: trailing bytes")
	}
	return d.err
}

type memberResponse struct{}

func (*memberResponse) appendTo(b []byte) []byte { return b }
func (*memberResponse) decodeFrom(b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: member response: trailing bytes", ErrCorrupt)
	}
	return nil
}
