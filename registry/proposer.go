package registry

import (
	"context"
	"errors"
	"fmt"
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

// inflight is one entry handed to raft, with the proposals it carries.
type inflight struct {
	f     raft.ApplyFuture
	props []*proposal
}

// proposer coalesces concurrent proposals into raft entries: it takes whatever is queued when
// a slot frees up (no waiting to fill a batch), so entries grow with load and a lone call
// goes out at once. Entries in flight are bounded; while they are all out, new proposals
// queue and go together into the next entry.
type proposer struct {
	raft      *raft.Raft
	queue     chan *proposal
	slots     chan struct{}
	flights   chan inflight
	now       func() time.Time
	retention int64
	maxIDs    int
	done      <-chan struct{}
}

// applyTimeout bounds how long raft.Apply may block enqueueing an entry.
const applyTimeout = 10 * time.Second

func (p *proposer) submit(pr *proposal) error {
	select {
	case p.queue <- pr:
		return nil
	case <-p.done:
		return ErrClosed
	case <-pr.ctx.Done():
		return pr.ctx.Err()
	}
}

// run is the proposing goroutine: one entry at a time, in log order.
func (p *proposer) run() {
	defer close(p.flights)
	var batch []*proposal
	for {
		var first *proposal
		select {
		case first = <-p.queue:
		case <-p.done:
			return
		}
		select {
		case p.slots <- struct{}{}:
		case <-p.done:
			first.done <- proposalResult{err: ErrClosed}
			return
		}
		batch = append(batch[:0], first)
		nids := first.req.nids
	drain:
		for nids < p.maxIDs {
			select {
			case pr := <-p.queue:
				batch = append(batch, pr)
				nids += pr.req.nids
			default:
				break drain
			}
		}
		p.propose(batch)
	}
}

func (p *proposer) propose(batch []*proposal) {
	live := make([]*proposal, 0, len(batch))
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
		<-p.slots
		return
	}
	var hdr [entryHeadroom]byte
	h := appendEntryHeader(hdr[:0], p.now().UnixMilli(), p.retention, nops)
	var data []byte
	if req := live[0].req; len(live) == 1 && req.room != nil {
		// One request with room before its ops: the entry is its bytes, not a copy of them.
		data = req.room[entryHeadroom-len(h):]
		copy(data, h)
	} else {
		data = append(make([]byte, 0, len(h)+size), h...)
		for _, pr := range live {
			for _, part := range pr.req.parts {
				data = append(data, part...)
			}
		}
	}
	f := p.raft.Apply(data, applyTimeout)
	p.flights <- inflight{f: f, props: live}
}

// complete hands results back in log order; raft commits entries in the order applied.
func (p *proposer) complete() {
	for fl := range p.flights {
		err := p.wait(fl.f)
		<-p.slots
		var res []opResult
		if err == nil {
			switch r := fl.f.Response().(type) {
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
			for _, pr := range fl.props {
				pr.done <- proposalResult{err: err}
			}
			continue
		}
		for _, pr := range fl.props {
			n := pr.req.nops
			pr.done <- proposalResult{res: res[:n:n]}
			res = res[n:]
		}
	}
}

// wait waits for an entry's future. A future raft had queued but not yet taken when it shut
// down is never answered, so waiting also ends at shutdown (the waiting goroutine is then
// left behind, blocked: at most MaxInflight of them, once per node shutdown).
func (p *proposer) wait(f raft.ApplyFuture) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-p.done:
		return ErrClosed
	}
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
