package registry

import (
	"io"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm adapts State to raft.BatchingFSM. Raft calls ApplyBatch, Snapshot and Restore from one
// goroutine; the mutex is for Status readers on other goroutines. The address book is also
// published as an immutable copy, because every API call reads it (to name the leader) and
// must not wait for a batch of entries to apply.
type fsm struct {
	expected int       // claims to size tables for
	ids      []ClaimID // decoding scratch, reused entry after entry (raft's FSM goroutine only)
	members  atomic.Pointer[map[string]string]
	// applied is the index of the last log applied. (Raft's AppliedIndex runs ahead: it
	// counts logs queued for the FSM goroutine.)
	applied atomic.Uint64
	mu      struct {
		sync.Mutex
		st *State
	}
}

var _ raft.BatchingFSM = (*fsm)(nil)

// maxScratchIDs bounds the decoding scratch kept between entries (24 bytes per id).
const maxScratchIDs = 1 << 17

func newFSM(expected int) *fsm {
	f := &fsm{expected: expected}
	f.mu.st = newStateSized(expected)
	f.members.Store(&map[string]string{})
	return f
}

// ApplyBatch applies committed entries in order. An entry that does not decode (every node
// decodes the same bytes the same way) answers with its error and changes nothing.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(logs) > 0 {
		defer f.applied.Store(logs[len(logs)-1].Index)
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := decodeEntryInto(l.Data, &f.ids)
		if err != nil {
			out[i] = err
			continue
		}
		out[i] = f.mu.st.Apply(&e)
	}
	if cap(f.ids) > maxScratchIDs {
		f.ids = nil // an unusually large entry: do not keep its scratch
	}
	f.publishLocked()
	return out
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// Snapshot freezes the state in O(pages + tokens); Persist writes it while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fsmSnapshot{f.mu.st.freeze()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc, f.expected)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.mu.st = st
	st.membersChanged = true
	f.publishLocked()
	f.mu.Unlock()
	return nil
}

func (f *fsm) stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.st.stats()
}

// publishLocked publishes the address book if an entry changed it.
func (f *fsm) publishLocked() {
	if st := f.mu.st; st.membersChanged {
		st.membersChanged = false
		m := maps.Clone(st.members)
		f.members.Store(&m)
	}
}

// member returns a node's API address, without waiting for applies.
func (f *fsm) member(id string) string { return (*f.members.Load())[id] }

type fsmSnapshot struct{ f *frozen }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.f.writeTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release lets the state write its pages in place again. Raft calls it once, after Persist.
func (s fsmSnapshot) Release() { s.f.release() }
