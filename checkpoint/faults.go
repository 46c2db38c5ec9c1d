package checkpoint

import (
	"fmt"
	"io"
	"sync"
)

// Target selects which writes of a Store a Fault counts.
type Target uint8

const (
	// TargetAny counts every write: a Save with state makes two (state, then manifest).
	TargetAny Target = iota
	// TargetState counts state-blob writes.
	TargetState
	// TargetManifest counts manifest writes.
	TargetManifest
)

func (t Target) String() string {
	switch t {
	case TargetState:
		return "state"
	case TargetManifest:
		return "manifest"
	default:
		return "any"
	}
}

// FaultMode is what happens to the write a Fault hits.
type FaultMode uint8

const (
	// FaultFail makes the write fail after Fault.Bytes bytes: it is aborted and nothing
	// reaches storage, as when the process dies before the object is durable. The Save
	// returns an error wrapping ErrInjected.
	FaultFail FaultMode = iota
	// FaultTear makes only the first Fault.Bytes bytes reach storage, committed under the
	// final key, as a store without atomic writes or a damaged disk would leave it. The Save
	// returns an error wrapping ErrInjected; the torn object stays for the next reader.
	// With Bytes at least the object's size the object lands whole and the Save still
	// fails: a commit whose acknowledgement was lost.
	FaultTear
)

// Fault is one injected failure.
type Fault struct {
	Target Target
	// Nth picks the Nth write matching Target after the Fault is added (1, or 0, is the next).
	Nth  int
	Mode FaultMode
	// Bytes is how many bytes get through before the fault; -1 means half of the object.
	Bytes int
}

// Faults injects write failures into a Store, for crash tests (see WithFaults). Add faults
// at any time; each fires once. Safe for concurrent use; with concurrent Saves "the Nth
// write" is the Nth to start.
type Faults struct {
	mu     sync.Mutex
	rules  []*faultRule
	writes [3]int // per Target: writes seen
	fired  int
}

type faultRule struct {
	Fault
	left int // matching writes still to pass before this one fires
}

// NewFaults returns an empty fault set.
func NewFaults() *Faults { return &Faults{} }

// Add arms a fault.
func (f *Faults) Add(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{Fault: ft, left: max(ft.Nth, 1)})
}

// Writes returns how many writes matching t the store has started.
func (f *Faults) Writes(t Target) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes[t]
}

// Fired returns how many faults have fired.
func (f *Faults) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// next counts a write of kind t and returns the fault that hits it, if any. Only the first
// armed rule that reaches its write fires; the others keep counting.
func (f *Faults) next(t Target) *Fault {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes[TargetAny]++
	f.writes[t]++
	var hit *Fault
	kept := f.rules[:0]
	for _, r := range f.rules {
		if r.Target != TargetAny && r.Target != t {
			kept = append(kept, r)
			continue
		}
		r.left--
		if r.left <= 0 && hit == nil {
			ft := r.Fault
			hit = &ft
			f.fired++
			continue
		}
		kept = append(kept, r)
	}
	clear(f.rules[len(kept):])
	f.rules = kept
	return hit
}

// faultWriter applies a Fault to the bytes of one write on their way to storage.
type faultWriter struct {
	w     io.Writer
	fault Fault
	n     int    // bytes seen
	held  []byte // Bytes == -1 with FaultTear: everything, until finish writes half
}

func (fw *faultWriter) Write(p []byte) (int, error) {
	switch {
	case fw.fault.Mode == FaultTear && fw.fault.Bytes < 0:
		fw.held = append(fw.held, p...)
	case fw.fault.Mode == FaultTear:
		if pass := max(min(len(p), fw.fault.Bytes-fw.n), 0); pass > 0 {
			if _, err := fw.w.Write(p[:pass]); err != nil {
				return 0, err
			}
		}
	default: // FaultFail
		limit := max(fw.fault.Bytes, 0)
		pass := max(min(len(p), limit-fw.n), 0)
		if pass > 0 {
			if _, err := fw.w.Write(p[:pass]); err != nil {
				return 0, err
			}
		}
		if pass < len(p) {
			fw.n += pass
			return pass, fmt.Errorf("%w: %s write failed after %d bytes", ErrInjected, fw.fault.Target, fw.n)
		}
	}
	fw.n += len(p)
	return len(p), nil
}

// finish is called when the caller's data is exhausted. For a tear it writes what is held
// and returns the error the write will report after its torn object is committed; a
// FaultFail that did not trigger yet (object shorter than Bytes) triggers here.
func (fw *faultWriter) finish() error {
	switch {
	case fw.fault.Mode == FaultTear:
		if fw.fault.Bytes < 0 {
			if _, err := fw.w.Write(fw.held[:len(fw.held)/2]); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: %s write failed at its end, after %d bytes", ErrInjected, fw.fault.Target, fw.n)
	}
}

func (fw *faultWriter) tornErr() error {
	kept := min(max(fw.fault.Bytes, 0), fw.n)
	if fw.fault.Bytes < 0 {
		kept = fw.n / 2
	}
	return fmt.Errorf("%w: %s write torn: %d of %d bytes reached storage", ErrInjected, fw.fault.Target, kept, fw.n)
}
