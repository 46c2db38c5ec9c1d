package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Option configures a Client.
type Option func(*clientOptions)

type clientOptions struct {
	lease       time.Duration
	callTimeout time.Duration
	tls         *tls.Config
	token       string
	maxBatchIDs int
	maxInflight int

	// StartEmbedded only.
	retention time.Duration
	clock     func() time.Time
	logOutput io.Writer
}

// WithLease sets the lease each Claim and Renew asks for (default 30 s): how long the
// registry keeps a token's tentative claims without hearing from it.
func WithLease(d time.Duration) Option { return func(o *clientOptions) { o.lease = d } }

// WithCallTimeout bounds calls whose context has no deadline (default 10 s). Within it the
// client retries through leader changes; after it a call fails with ErrNoQuorum or
// ErrUnavailable wrapped around context.DeadlineExceeded.
func WithCallTimeout(d time.Duration) Option { return func(o *clientOptions) { o.callTimeout = d } }

// WithTLS makes the client dial the API over TLS.
func WithTLS(c *tls.Config) Option { return func(o *clientOptions) { o.tls = c } }

// WithAuthToken sends the registry's shared token with every call.
func WithAuthToken(token string) Option { return func(o *clientOptions) { o.token = token } }

// WithBatching bounds coalescing: at most maxIDs ids per RPC (default 65536) and at most
// inflight RPCs at once (default 8). Calls are coalesced Nagle-like: an RPC goes at once when
// none is in flight, or when it carries 4096 ids or more (or maxIDs, if smaller); otherwise
// the calls queued meanwhile wait for one in flight to return and share the next RPC.
func WithBatching(maxIDs, inflight int) Option {
	return func(o *clientOptions) { o.maxBatchIDs, o.maxInflight = maxIDs, inflight }
}

func (o *clientOptions) validate() error {
	var errs []error
	if o.lease <= 0 || o.lease.Milliseconds() > MaxLease {
		errs = append(errs, fmt.Errorf("registry: WithLease(%v): want 1ms to %v", o.lease, time.Duration(MaxLease)*time.Millisecond))
	}
	if o.callTimeout <= 0 {
		errs = append(errs, fmt.Errorf("registry: WithCallTimeout(%v): want > 0", o.callTimeout))
	}
	if o.maxBatchIDs < 1 || o.maxInflight < 1 {
		errs = append(errs, fmt.Errorf("registry: WithBatching(%d, %d): want both ≥ 1", o.maxBatchIDs, o.maxInflight))
	}
	if o.retention < 0 {
		errs = append(errs, fmt.Errorf("registry: WithRetention(%v): want ≥ 0", o.retention))
	}
	return errors.Join(errs...)
}

func defaultClientOptions() clientOptions {
	return clientOptions{lease: 30 * time.Second, callTimeout: 10 * time.Second, maxBatchIDs: 65536, maxInflight: 8}
}

// Client talks to a registry cluster over its gRPC API. Concurrent calls are coalesced into
// one RPC (and the leader coalesces RPCs into one raft entry). It finds the leader, follows
// leader changes, and retries until the call's deadline; retries are safe because every
// operation is idempotent for its token. Safe for concurrent use.
type Client struct {
	opts  clientOptions
	addrs []string
	peers *peerPool
	co    *coalescer[*call]
	done  chan struct{}
	base  context.Context // canceled by Close: RPCs in flight stop
	stop  context.CancelFunc
	once  sync.Once
	wg    sync.WaitGroup
	mu    struct {
		sync.Mutex
		leader  string // API address of the leader, "" when unknown
		next    int    // round robin over addrs while the leader is unknown
		round   int    // failed attempts since the last pause
		lastErr error  // why the last attempt failed; nil after a success
	}
}

var (
	_ Registry = (*Client)(nil)
	_ Registry = (*Embedded)(nil)
)

type call struct {
	ctx  context.Context
	enc  []byte // the encoded op
	nids int
	done chan callResult // buffered 1
}

type callResult struct {
	res opResult
	err error
}

// Dial returns a client of the registry nodes at addrs (API addresses; one is enough, the
// others are fallbacks). It does not wait for a connection.
func Dial(addrs []string, opts ...Option) (*Client, error) {
	o := defaultClientOptions()
	for _, f := range opts {
		f(&o)
	}
	err := o.validate()
	if len(addrs) == 0 {
		err = errors.Join(err, errors.New("registry: Dial: no addresses"))
	}
	if o.retention != 0 || o.clock != nil || o.logOutput != nil {
		err = errors.Join(err, errors.New("registry: Dial: WithRetention, WithClock and WithLogOutput are for StartEmbedded; a cluster's servers set them"))
	}
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts: o, addrs: append([]string(nil), addrs...), peers: newPeerPool(peerDialOptions(o.tls, o.token)),
		co:   newCoalescer(1024, o.maxBatchIDs, o.maxInflight, func(cl *call) int { return cl.nids }),
		done: make(chan struct{}),
	}
	c.base, c.stop = context.WithCancel(context.Background())
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.run() }()
	return c, nil
}

// Claim claims ids for token. See Registry.
func (c *Client) Claim(ctx context.Context, token Token, ids []ClaimID) ([]Result, error) {
	r, err := c.do(ctx, op{kind: opClaim, tok: token, lease: c.opts.lease.Milliseconds(), ids: ids})
	if err != nil {
		return nil, err
	}
	if len(r.outcomes) != len(ids) {
		return nil, fmt.Errorf("%w: %d results for %d ids", ErrCorrupt, len(r.outcomes), len(ids))
	}
	return r.results(), nil
}

// Confirm makes token's claims final. See Registry.
func (c *Client) Confirm(ctx context.Context, token Token) error {
	_, err := c.do(ctx, op{kind: opConfirm, tok: token})
	return err
}

// Abort releases token's tentative claims. See Registry.
func (c *Client) Abort(ctx context.Context, token Token) error {
	_, err := c.do(ctx, op{kind: opAbort, tok: token})
	return err
}

// Renew extends token's lease. See Registry.
func (c *Client) Renew(ctx context.Context, token Token) error {
	_, err := c.do(ctx, op{kind: opRenew, tok: token, lease: c.opts.lease.Milliseconds()})
	return err
}

// Recover marks the claims of task's epochs after checkpoint as its own to win again. See
// Registry.
func (c *Client) Recover(ctx context.Context, pipeline string, task uint32, checkpoint uint64) error {
	_, err := c.do(ctx, op{kind: opRecover, tok: Token{Pipeline: pipeline, Task: task, Epoch: checkpoint}})
	return err
}

// Status asks the leader (or, failing that, any node) for its status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var resp statusResponse
	err := c.unary(ctx, methodStatus, &statusRequest{}, &resp, false)
	return resp.s, err
}

// AddVoter asks the cluster to add a voter (raft id, raft address, API address).
func (c *Client) AddVoter(ctx context.Context, id, raftAddr, apiAddr string) error {
	return c.unary(ctx, methodMember, &memberRequest{add: true, id: id, raftAddr: raftAddr, apiAddr: apiAddr}, &memberResponse{}, true)
}

// RemoveServer asks the cluster to remove server id.
func (c *Client) RemoveServer(ctx context.Context, id string) error {
	return c.unary(ctx, methodMember, &memberRequest{id: id}, &memberResponse{}, true)
}

// Close fails calls in progress with ErrClosed and closes the connections.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.done); c.stop() })
	c.wg.Wait()
	c.peers.close()
	return nil
}

func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.callTimeout)
}

func (c *Client) do(ctx context.Context, o op) (opResult, error) {
	if err := o.tok.validate(); err != nil {
		return opResult{}, err
	}
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	// Encoded here, so the caller may reuse ids once we return, even if the RPC goes on.
	cl := &call{ctx: ctx, enc: appendOp(make([]byte, 0, opSize(&o)), &o), nids: len(o.ids), done: make(chan callResult, 1)}
	select {
	case c.co.queue <- cl:
	case <-ctx.Done():
		return opResult{}, c.deadlineErr(ctx.Err())
	case <-c.done:
		return opResult{}, ErrClosed
	}
	select {
	case r := <-cl.done:
		if r.err == nil && r.res.code != codeOK {
			r.err = r.res.code.err(o.tok)
		}
		return r.res, r.err
	case <-ctx.Done():
		return opResult{}, c.deadlineErr(ctx.Err())
	case <-c.done:
		return opResult{}, ErrClosed
	}
}

// deadlineErr explains a call that ran out of time by what the last attempt ran into.
func (c *Client) deadlineErr(ctxErr error) error {
	c.mu.Lock()
	last := c.mu.lastErr
	c.mu.Unlock()
	return explain(last, ctxErr)
}

func explain(last, ctxErr error) error {
	switch {
	case last == nil:
		return ctxErr
	case errors.Is(last, ErrNoQuorum), errors.Is(last, ErrNotLeader):
		return &deadlineError{ErrNoQuorum, "no leader committed the call before its deadline", last, ctxErr}
	case errors.Is(last, ErrUnavailable):
		return &deadlineError{ErrUnavailable, "no node answered before the call's deadline", last, ctxErr}
	}
	return fmt.Errorf("registry: %v: %w", last, ctxErr)
}

// deadlineError: a call ran out of time, and why it could not complete sooner.
type deadlineError struct {
	kind   error // ErrNoQuorum or ErrUnavailable
	what   string
	last   error // the last attempt's failure
	ctxErr error
}

func (e *deadlineError) Error() string {
	return e.kind.Error() + ": " + e.what + " (last answer: " + e.last.Error() + ")"
}

func (e *deadlineError) Unwrap() []error { return []error{e.kind, e.ctxErr} }

// run coalesces queued calls into RPCs (see coalescer), at most maxInflight at once. Calls
// it holds when the client closes fail by themselves (their callers watch c.done).
func (c *Client) run() {
	c.co.run(c.done, func(batch []*call) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.co.done()
			c.send(batch)
		}()
	})
}

// send delivers one batch, retrying through leader changes until the latest deadline among
// its calls; calls whose own deadline passes drop out of later attempts.
func (c *Client) send(batch []*call) {
	var deadline time.Time
	for _, cl := range batch {
		if d, _ := cl.ctx.Deadline(); d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(c.base, deadline)
	defer cancel()

	var req applyRequest
	build := func() {
		req = applyRequest{nops: len(batch), parts: make([][]byte, len(batch))}
		for i, cl := range batch {
			req.parts[i] = cl.enc // sent as they are: the codec does not join them
			req.nids += cl.nids
		}
	}
	build()
	wait := 5 * time.Millisecond
	var last error
	for attempt := 0; ; attempt++ {
		if live := dropDone(batch, last); len(live) != len(batch) {
			if batch = live; len(batch) == 0 {
				return
			}
			build()
		}
		target := c.target()
		var resp applyResponse
		err := c.peers.call(ctx, target, methodApply, &req, &resp)
		if err == nil {
			c.succeeded(target, resp.leader)
			deliver(batch, &resp)
			return
		}
		if ctx.Err() != nil {
			err = explain(last, ctx.Err())
			if c.isClosed() {
				err = ErrClosed
			}
			fail(batch, err)
			return
		}
		if !rpcRetryable(err) {
			fail(batch, err)
			return
		}
		last = telling(last, err)
		if c.failed(target, err) {
			continue // a fresh leader hint, or addresses not yet tried this round: no waiting
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// maxRetryWait caps the pause between rounds of attempts while no leader answers: short,
// because an election takes a few hundred milliseconds and callers wait on it.
const maxRetryWait = 25 * time.Millisecond

func (c *Client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// rpcRetryable: failures after which another attempt, maybe on another node, may succeed.
func rpcRetryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrUnavailable)
}

func dropDone(batch []*call, last error) []*call {
	live := batch[:0:0]
	for _, cl := range batch {
		if err := cl.ctx.Err(); err != nil {
			cl.done <- callResult{err: explain(last, err)}
			continue
		}
		live = append(live, cl)
	}
	return live
}

func deliver(batch []*call, resp *applyResponse) {
	if len(resp.results) != len(batch) {
		fail(batch, fmt.Errorf("%w: %d results for %d operations", ErrCorrupt, len(resp.results), len(batch)))
		return
	}
	for i, cl := range batch {
		cl.done <- callResult{res: resp.results[i]}
	}
}

func fail(batch []*call, err error) {
	for _, cl := range batch {
		cl.done <- callResult{err: err}
	}
}

// target is where the next attempt goes: the leader if known, else the next address.
func (c *Client) target() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.leader != "" {
		return c.mu.leader
	}
	a := c.addrs[c.mu.next%len(c.addrs)]
	c.mu.next++
	return a
}

func (c *Client) succeeded(target, leader string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.lastErr = nil
	c.mu.round = 0
	if leader == "" {
		leader = target
	}
	c.mu.leader = leader
}

// telling keeps the more telling of two failures: a node that answered "no leader" says more
// about the cluster than a node that did not answer, so a dead node tried last does not hide
// a lost quorum.
func telling(old, err error) error {
	if old != nil && errors.Is(err, ErrUnavailable) && !errors.Is(old, ErrUnavailable) {
		return old
	}
	return err
}

// failed records a failed attempt on target and reports whether the next attempt should go
// at once: to a leader the failure named, or to an address not yet tried in this round.
func (c *Client) failed(target string, err error) (retryNow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.lastErr = telling(c.mu.lastErr, err)
	var nl *notLeaderError
	if errors.As(err, &nl) && nl.leaderAPI != "" && nl.leaderAPI != target {
		c.mu.leader = nl.leaderAPI
		return true
	}
	if c.mu.leader == target {
		c.mu.leader = ""
		c.mu.round = 0
	}
	c.mu.round++
	if c.mu.round < len(c.addrs) {
		return true
	}
	c.mu.round = 0
	return false
}

// unary makes one non-batched call (status, membership) with the same retry rules.
func (c *Client) unary(ctx context.Context, method string, req, resp wireMsg, needLeader bool) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	wait := 5 * time.Millisecond
	var last error
	for {
		target := c.target()
		err := c.peers.call(ctx, target, method, req, resp)
		if err == nil {
			if !needLeader {
				c.mu.Lock()
				c.mu.lastErr = nil
				c.mu.Unlock()
			}
			return nil
		}
		if ctx.Err() != nil {
			return explain(last, ctx.Err())
		}
		if !rpcRetryable(err) {
			return err
		}
		last = telling(last, err)
		if c.failed(target, err) {
			continue
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return explain(last, ctx.Err())
		case <-c.done:
			return ErrClosed
		}
		wait = min(2*wait, maxRetryWait)
	}
}
