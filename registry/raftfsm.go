package registry

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// fsm adapts State to raft.BatchingFSM. Raft calls ApplyBatch, Snapshot and Restore from one
// goroutine; the mutex is for Status readers on other goroutines.
type fsm struct {
	expected int // claims to size tables for
	mu       struct {
		sync.Mutex
		st *State
	}
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(expected int) *fsm {
	f := &fsm{expected: expected}
	f.mu.st = newStateSized(expected)
	return f
}

// ApplyBatch applies committed entries in order. An entry that does not decode (every node
// decodes the same bytes the same way) answers with its error and changes nothing.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := decodeEntry(l.Data)
		if err != nil {
			out[i] = err
			continue
		}
		out[i] = f.mu.st.Apply(&e)
	}
	return out
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// Snapshot freezes the state in O(shards + tokens); Persist writes it while Apply goes on.
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
	f.mu.Unlock()
	return nil
}

func (f *fsm) stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.st.stats()
}

func (f *fsm) member(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.st.members[id]
}

type fsmSnapshot struct{ f *frozen }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.f.writeTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}
