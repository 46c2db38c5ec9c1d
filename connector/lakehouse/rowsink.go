package lakehouse

import (
	"context"
	"sync"

	"github.com/glintstream/glint/row"
)

// RowSink adapts a Sink to writers that hand over one row at a time from several goroutines
// and have no checkpoints yet (the shape of the pipeline's row sinks): Write serialises on a
// mutex, copies the row into the sink's batches, and commits when the size and time policy
// says so; Flush commits everything written so far. It commits under the sink's Identity with
// sequence numbers LastSeq()+1, … (at-least-once across crashes: rows written but not yet
// flushed are lost with the process and replayed by the source).
//
// Safe for concurrent use.
type RowSink struct {
	mu struct {
		sync.Mutex
		k     *Sink
		one   [1]row.Row
		since int // writes since the policy was last checked
	}
}

// policyEvery is how many writes pass between checks of the commit policy (a clock read).
const policyEvery = 256

// OpenRowSink opens the sink and recovers it (no checkpoint: staged files of an earlier run
// are deleted, started commits finished).
func OpenRowSink(ctx context.Context, cfg Config, schema row.Schema, id Identity, opts ...Option) (*RowSink, error) {
	k, err := Open(ctx, cfg, schema, id, opts...)
	if err != nil {
		return nil, err
	}
	if err := k.Recover(ctx); err != nil {
		k.Close()
		return nil, err
	}
	s := &RowSink{}
	s.mu.k = k
	return s, nil
}

// Write adds one row; it does not keep r.
func (s *RowSink) Write(ctx context.Context, r row.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.one[0] = r
	err := s.mu.k.Write(s.mu.one[:])
	s.mu.one[0] = nil
	if err != nil {
		return err
	}
	if s.mu.since++; s.mu.since >= policyEvery {
		s.mu.since = 0
		_, err = s.mu.k.FlushIfDue(ctx)
	}
	return err
}

// Flush commits every row written so far; it returns once they are in the table.
func (s *RowSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.k.Flush(ctx)
}

// Close flushes and closes the sink.
func (s *RowSink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.mu.k.Flush(ctx)
	if cerr := s.mu.k.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stats returns the sink's counters.
func (s *RowSink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.k.Stats()
}
