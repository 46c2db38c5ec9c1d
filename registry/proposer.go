package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// proposal is one caller's ops, already encoded (appendOp), waiting to go into an entry.
type proposal struct {
	ctx  context.Context
	req  *applyRequest       // owned by the proposal from submit on
	done chan proposalResult // buffered 1
}

type proposalResult struct {
	res []opResult
	err error
}

// proposer coalesces concurrent proposals into raft entries (see coalescer: Nagle-like, a
// lone call goes at once) with at most MaxInflight entries handed to raft at once. Each entry
// is committed by its own goroutine, which hands the results back to the entry's callers.
//
// Raft's apply channel is unbuffered (Config.BatchApplyCh off): raft.Apply returns once raft
// has taken the entry, or failed because raft shut down. Raft answers every entry it has
// taken, at the latest when it shuts down, so every commit goroutine ends by then. (With a
// buffered channel, entries still queued in it at shutdown are never answered, and their
// waiters would block forever.) Raft still writes and replicates together the entries it
// finds waiting, so the entries in flight share its fsyncs.
type proposer struct {
	raft      *raft.Raft
	co        *coalescer[*proposal]
	now       func() time.Time
	retention int64
	done      <-chan struct{}
	entries   sync.WaitGroup // commit goroutines
}

func newProposer(r *raft.Raft, cfg *Config, done <-chan struct{}) *proposer {
	return &proposer{
		raft: r, now: cfg.Clock, retention: cfg.Retention.Milliseconds(), done: done,
		co: newCoalescer(4*cfg.MaxInflight, cfg.MaxEntryIDs, cfg.MaxInflight, func(pr *proposal) int { return pr.req.nids }),
	}
}

// applyTimeout bounds how long raft.Apply may wait for raft to take an entry.
const applyTimeout = 10 * time.Second

func (p *proposer) submit(pr *proposal) error {
	select {
	case p.co.queue <- pr:
		return nil
	case <-p.done:
		return ErrClosed
	case <-pr.ctx.Done():
		return pr.ctx.Err()
	}
}

// run is the proposing goroutine. It returns once the node is closing and every entry it
// handed to raft has been answered, which needs raft to be shut down (Node.shutdown does that
// first).
func (p *proposer) run() {
	unsent := p.co.run(p.done, func(batch []*proposal) {
		p.entries.Add(1)
		go func() {
			defer p.entries.Done()
			defer p.co.done()
			p.commit(batch)
		}()
	})
	for _, pr := range unsent {
		pr.done <- proposalResult{err: ErrClosed}
	}
	p.entries.Wait()
}

// commit proposes one entry of the batch's live proposals, waits for raft to commit and apply
// it, and hands each proposal its results.
func (p *proposer) commit(batch []*proposal) {
	data, live := p.entry(batch)
	if len(live) == 0 {
		return
	}
	f := p.raft.Apply(data, applyTimeout)
	err := f.Error()
	var res []opResult
	if err == nil {
		switch r := f.Response().(type) {
		case []opResult:
			res = r
		case error:
			err = r
		default:
			err = fmt.Errorf("registry: unexpected apply response %T", r)
		}
	}
	if err != nil {
		err = raftErr(err)
		for _, pr := range live {
			pr.done <- proposalResult{err: err}
		}
		return
	}
	for _, pr := range live {
		n := pr.req.nops
		pr.done <- proposalResult{res: res[:n:n]}
		res = res[n:]
	}
}

// entry encodes the batch's live proposals (those whose caller still waits) as one entry.
func (p *proposer) entry(batch []*proposal) (data []byte, live []*proposal) {
	live = batch[:0]
	nops, size := 0, 0
	for _, pr := range batch {
		if err := pr.ctx.Err(); err != nil {
			pr.done <- proposalResult{err: err} // the caller gave up: do not commit its ops
			continue
		}
		live = append(live, pr)
		nops += pr.req.nops
		size += pr.req.size()
	}
	if len(live) == 0 {
		return nil, nil
	}
	var hdr [entryHeadroom]byte
	h := appendEntryHeader(hdr[:0], p.now().UnixMilli(), p.retention, nops)
	if req := live[0].req; len(live) == 1 && req.room != nil {
		// One request with room before its ops: the entry is its bytes, not a copy of them.
		data = req.room[entryHeadroom-len(h):]
		copy(data, h)
		return data, live
	}
	data = append(make([]byte, 0, len(h)+size), h...)
	for _, pr := range live {
		for _, part := range pr.req.parts {
			data = append(data, part...)
		}
	}
	return data, live
}

// raftErr maps raft's errors to ours. Losing leadership with an entry in flight leaves its
// outcome unknown: the caller retries on the new leader, which is safe by token.
func raftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return err
}

// encodeOps encodes ops for a proposal, in the caller's goroutine, so the caller may reuse
// its slices as soon as the call returns even if the proposal is still queued. The request
// has room for an entry header before its ops.
func encodeOps(ops []op) *applyRequest {
	n, nids := 0, 0
	for i := range ops {
		n += opSize(&ops[i])
		nids += len(ops[i].ids)
	}
	b := make([]byte, entryHeadroom, entryHeadroom+n)
	for i := range ops {
		b = appendOp(b, &ops[i])
	}
	return &applyRequest{nops: len(ops), nids: nids, parts: [][]byte{b[entryHeadroom:]}, room: b}
}
