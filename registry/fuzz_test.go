package registry

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/grpc/mem"
)

func seedEntries() []entry {
	tok := Token{Pipeline: "clicks", Task: 3, Epoch: 17}
	return []entry{
		{clock: 1_700_000_000_000, retention: 3_600_000, ops: []op{
			{kind: opClaim, tok: tok, lease: 30_000, ids: []ClaimID{
				{ID: IDOfString("a"), EventTime: 1_699_999_999_000},
				{ID: IDOfString("b"), EventTime: 1_699_999_998_500},
			}},
			{kind: opRenew, tok: tok, lease: 1000},
			{kind: opConfirm, tok: tok},
			{kind: opAbort, tok: Token{Pipeline: "x"}},
			{kind: opRecover, tok: Token{Pipeline: "clicks", Task: 3, Epoch: 15}},
			{kind: opMember, member: "n1", addr: "127.0.0.1:7101"},
		}},
		{clock: -5, ops: nil},
	}
}

// FuzzDecodeEntry: the log-entry decoder never panics, and what it accepts re-encodes to
// bytes that decode to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range seedEntries() {
		f.Add(encodeEntry(&e))
	}
	f.Add([]byte{entryVersion, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		e2, err := decodeEntry(encodeEntry(&e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !entriesEqual(&e, &e2) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, e2)
		}
		// Whatever decodes, the state machine applies without panicking.
		NewState().Apply(&e)
	})
}

func entriesEqual(a, b *entry) bool {
	if a.clock != b.clock || a.retention != b.retention || len(a.ops) != len(b.ops) {
		return false
	}
	for i := range a.ops {
		x, y := a.ops[i], b.ops[i]
		if !slices.Equal(x.ids, y.ids) {
			return false
		}
		x.ids, y.ids = nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range seedEntries() {
		got, err := decodeEntry(encodeEntry(&e))
		if err != nil {
			t.Fatal(err)
		}
		if !entriesEqual(&e, &got) {
			t.Fatalf("round trip: got %+v want %+v", got, e)
		}
	}
	// Every truncation of a valid entry is an error, never a panic or a shorter entry.
	b := encodeEntry(&seedEntries()[0])
	for i := range len(b) {
		if _, err := decodeEntry(b[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(b))
		}
	}
}

// seedSnapshot builds a state with every kind of token generation and claim.
func seedSnapshot(t testing.TB) []byte {
	s := NewState()
	for _, e := range seedEntries() {
		s.Apply(&e)
	}
	tok := func(p string, task uint32, ep uint64) Token { return Token{Pipeline: p, Task: task, Epoch: ep} }
	ids := func(names ...string) []ClaimID {
		var out []ClaimID
		for i, n := range names {
			out = append(out, ClaimID{ID: IDOfString(n), EventTime: 1_700_000_000_000 + int64(i)})
		}
		return out
	}
	s.Apply(&entry{clock: 1_700_000_001_000, retention: 3_600_000, ops: []op{
		{kind: opClaim, tok: tok("p", 1, 1), lease: 10, ids: ids("c", "d")},
		{kind: opClaim, tok: tok("p", 1, 2), lease: 5000, ids: ids("e", "f")},
		{kind: opClaim, tok: tok("p", 2, 1), lease: 5000, ids: ids("g")},
		{kind: opAbort, tok: tok("p", 2, 1)},
		{kind: opConfirm, tok: tok("p", 1, 2)},
		{kind: opClaim, tok: tok("p", 1, 3), lease: 5000, ids: ids("h")},
		{kind: opRecover, tok: tok("p", 1, 1)},
	}})
	s.Apply(&entry{clock: 1_700_000_002_000, retention: 3_600_000})
	var buf bytes.Buffer
	if err := s.freeze().writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadSnapshot: the snapshot decoder never panics, and a state it accepts snapshots to
// bytes that decode to the same state.
func FuzzReadSnapshot(f *testing.F) {
	f.Add(seedSnapshot(f))
	var empty bytes.Buffer
	if err := NewState().freeze().writeTo(&empty); err != nil {
		f.Fatal(err)
	}
	f.Add(empty.Bytes())
	f.Add([]byte("GLRSNAP1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readSnapshot(bytes.NewReader(b), 0)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := s.freeze().writeTo(&buf); err != nil {
			t.Fatal(err)
		}
		s2, err := readSnapshot(&buf, 0)
		if err != nil {
			t.Fatalf("re-written snapshot does not read: %v", err)
		}
		h1 := &harness{s: s, names: map[ID]string{}}
		h2 := &harness{s: s2, names: map[ID]string{}}
		if d1, d2 := h1.dump(), h2.dump(); !slices.Equal(d1, d2) {
			t.Fatalf("round trip changed the state:\n%v\n%v", d1, d2)
		}
		s.Apply(&entry{clock: s.clock + 1, retention: 1000, ops: []op{{kind: opClaim, tok: Token{Pipeline: "z"}, lease: 1, ids: []ClaimID{{}}}}})
	})
}

func TestSnapshotTruncated(t *testing.T) {
	b := seedSnapshot(t)
	if _, err := readSnapshot(bytes.NewReader(b), 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 7 {
		if _, err := readSnapshot(bytes.NewReader(b[:i]), 0); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(b))
		}
	}
	if _, err := readSnapshot(bytes.NewReader(append(b, 0)), 0); err == nil {
		t.Fatal("trailing byte: no error")
	}
}

// FuzzApplyRequest: the API's apply-request decoder (outside bytes) never panics; what it
// accepts, given whole or in pieces as gRPC hands it over, has the same ops, right after
// entryHeadroom bytes of room, and re-encodes to a request of the same ops. A proposer may
// then write an entry header into the room and get a well-formed entry of the same ops.
func FuzzApplyRequest(f *testing.F) {
	ops := seedEntries()[0].ops
	f.Add(encodeOps(ops).appendTo(nil), uint8(3))
	f.Add((&applyRequest{nops: 1, parts: [][]byte{appendOp(nil, &ops[0])}}).appendTo(nil), uint8(0))
	f.Add([]byte{0}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		var whole applyRequest
		errWhole := whole.decodeFrom(slices.Clone(b))
		// The same bytes in up to three pieces.
		var data mem.BufferSlice
		for rest, i := b, 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < 2 && cut > 0 {
				n = min(n, int(cut))
			}
			data = append(data, mem.SliceBuffer(rest[:n]))
			rest = rest[n:]
		}
		var pieces applyRequest
		errPieces := pieces.decodeSlice(data)
		if (errWhole == nil) != (errPieces == nil) {
			t.Fatalf("whole: %v, in pieces: %v", errWhole, errPieces)
		}
		if errWhole != nil {
			return
		}
		var again applyRequest
		if err := again.decodeFrom(whole.appendTo(nil)); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if !bytes.Equal(pieces.parts[0], whole.parts[0]) || !bytes.Equal(again.parts[0], whole.parts[0]) {
			t.Fatal("the ops differ between decodings")
		}
		if pieces.nops != whole.nops || pieces.nids != whole.nids {
			t.Fatalf("counts differ: %d/%d ops, %d/%d ids", pieces.nops, whole.nops, pieces.nids, whole.nids)
		}
		if pieces.room != nil {
			p := pieces.parts[0]
			if len(pieces.parts) != 1 || len(pieces.room) != entryHeadroom+len(p) ||
				len(p) > 0 && &pieces.room[entryHeadroom] != &p[0] {
				t.Fatal("ops do not follow the header room")
			}
			h := appendEntryHeader(nil, 1_700_000_000_000, 5000, pieces.nops)
			data := pieces.room[entryHeadroom-len(h):]
			copy(data, h)
			e, err := decodeEntry(data)
			if err != nil {
				t.Fatalf("entry built in the room does not decode: %v", err)
			}
			if len(e.ops) != whole.nops {
				t.Fatalf("entry has %d ops, request %d", len(e.ops), whole.nops)
			}
		}
	})
}

// FuzzApplyResponse: the client's decoder of apply responses never panics, and what it
// accepts re-encodes to a response that decodes to the same results.
func FuzzApplyResponse(f *testing.F) {
	a, b := Token{Pipeline: "p", Task: 1, Epoch: 2}, Token{Pipeline: "q"}
	seed := &applyResponse{leader: "127.0.0.1:7000", results: []opResult{
		{outcomes: []Outcome{Won, Lost, Lost, Refused, Lost}, holders: []Token{a, a, b}},
		{code: codeLeaseLost},
		{},
	}}
	f.Add(seed.appendTo(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r applyResponse
		if r.decodeFrom(data) != nil {
			return
		}
		var r2 applyResponse
		if err := r2.decodeFrom(r.appendTo(nil)); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the response:\n%+v\n%+v", r, r2)
		}
	})
}
