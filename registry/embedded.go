package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Embedded is a single-node registry inside the calling process: raft with one voter, its
// log and snapshots in a directory, no network listener. A job that names no registry
// addresses uses it, so the join works on a fresh machine. It satisfies Registry like
// *Client; calls go straight to the node's proposer, coalesced into raft entries the same way.
type Embedded struct {
	node *Node
	opts clientOptions
}

// WithRetention sets the embedded registry's retention of event time (default 0: forever).
// Only for StartEmbedded: a cluster's retention is its servers' setting.
func WithRetention(d time.Duration) Option { return func(o *clientOptions) { o.retention = d } }

// WithClock sets the embedded registry's clock (default time.Now). Only for StartEmbedded.
func WithClock(now func() time.Time) Option { return func(o *clientOptions) { o.clock = now } }

// WithLogOutput sends the embedded registry's raft logs to w (default io.Discard). Only for
// StartEmbedded.
func WithLogOutput(w io.Writer) Option { return func(o *clientOptions) { o.logOutput = w } }

// StartEmbedded opens (or creates) the single-node registry in dir and returns once it leads.
// A second process must not open the same dir.
func StartEmbedded(ctx context.Context, dir string, opts ...Option) (*Embedded, error) {
	o := defaultClientOptions()
	for _, f := range opts {
		f(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.logOutput == nil {
		o.logOutput = io.Discard
	}
	const addr = "embedded"
	_, trans := raft.NewInmemTransport(addr)
	n, err := StartNode(ctx, Config{
		ID: addr, RaftAddr: addr, DataDir: dir, Bootstrap: true, Retention: o.retention, Clock: o.clock,
		Transport: trans, LogOutput: o.logOutput,
		// One voter: nothing to wait for but its own election.
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !n.IsLeader() {
		select {
		case <-ctx.Done():
			n.Close()
			return nil, fmt.Errorf("registry: embedded node did not start: %w", ctx.Err())
		case <-t.C:
		}
	}
	return &Embedded{node: n, opts: o}, nil
}

// Node returns the embedded raft node (for status and snapshots).
func (e *Embedded) Node() *Node { return e.node }

func (e *Embedded) do(ctx context.Context, o op) (opResult, error) {
	if err := o.tok.validate(); err != nil {
		return opResult{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.opts.callTimeout)
		defer cancel()
	}
	res, err := e.node.do(ctx, []op{o}, false)
	if err != nil {
		return opResult{}, err
	}
	if len(res) != 1 {
		return opResult{}, fmt.Errorf("%w: %d results for one operation", ErrCorrupt, len(res))
	}
	return res[0], res[0].code.err(o.tok)
}

// Claim claims ids for token. See Registry.
func (e *Embedded) Claim(ctx context.Context, token Token, ids []ClaimID) ([]Result, error) {
	r, err := e.do(ctx, op{kind: opClaim, tok: token, lease: e.opts.lease.Milliseconds(), ids: ids})
	if err != nil {
		return nil, err
	}
	if len(r.outcomes) != len(ids) {
		return nil, fmt.Errorf("%w: %d results for %d ids", ErrCorrupt, len(r.outcomes), len(ids))
	}
	return r.results(), nil
}

// Confirm makes token's claims final. See Registry.
func (e *Embedded) Confirm(ctx context.Context, token Token) error {
	_, err := e.do(ctx, op{kind: opConfirm, tok: token})
	return err
}

// Abort releases token's tentative claims. See Registry.
func (e *Embedded) Abort(ctx context.Context, token Token) error {
	_, err := e.do(ctx, op{kind: opAbort, tok: token})
	return err
}

// Renew extends token's lease. See Registry.
func (e *Embedded) Renew(ctx context.Context, token Token) error {
	_, err := e.do(ctx, op{kind: opRenew, tok: token, lease: e.opts.lease.Milliseconds()})
	return err
}

// Recover marks the claims of task's epochs after checkpoint as its own to win again. See
// Registry.
func (e *Embedded) Recover(ctx context.Context, pipeline string, task uint32, checkpoint uint64) error {
	_, err := e.do(ctx, op{kind: opRecover, tok: Token{Pipeline: pipeline, Task: task, Epoch: checkpoint}})
	return err
}

// Status reports the embedded node's status.
func (e *Embedded) Status(context.Context) (Status, error) { return e.node.Status(), nil }

// Close stops the node; its state stays in the directory for the next StartEmbedded.
func (e *Embedded) Close() error {
	err := e.node.Close()
	if errors.Is(err, raft.ErrRaftShutdown) {
		return nil
	}
	return err
}
