package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"google.golang.org/grpc"
)

// Config configures a registry node. Zero durations take the defaults below.
type Config struct {
	ID       string // raft server id, unique in the cluster
	RaftAddr string // raft transport address (bind and advertise); its own port
	APIAddr  string // gRPC API listen address; "" runs no API server (embedded mode)
	DataDir  string // raft log (raft-wal), stable store and snapshots

	// Bootstrap makes a new cluster of this node alone; Join names API addresses of members
	// to ask for admission. Both are ignored when DataDir already holds raft state.
	Bootstrap bool
	Join      []string

	// Retention is how much event time the registry keeps; older ids are refused. 0 = forever.
	Retention time.Duration

	// Raft timing. Defaults: heartbeat and election 1 s, leader lease 500 ms, commit 50 ms.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// Snapshots: once SnapshotThreshold entries (default 8192) have been applied since the
	// last, checked every SnapshotInterval (default 2 min, randomized up to twice that),
	// keeping TrailingLogs entries (default 10240). A restart restores the last snapshot and
	// replays the entries after it. Taking a snapshot freezes the state in O(pages) and
	// writes it while applies go on; each claim-table page written meanwhile is copied once,
	// and the process holds up to twice the tables' memory until the snapshot is written.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// ExpectedClaims sizes the claim tables up front (44 to 88 bytes per claim: 33-byte slots,
	// at most 3/4 full) and faults their memory in at start, so that claiming never waits for
	// fresh memory. 0 starts with one page; the table then grows a 16 KB page at a time
	// (never stalling applies), paying for the memory it touches first as it fills (about
	// 60 bytes per claim). A good value: ids claimed per second × retention.
	ExpectedClaims int

	// MaxEntryIDs caps the ids coalesced into one raft entry (default 16384); MaxInflight caps
	// entries handed to raft and not yet applied (default 16). Calls are coalesced Nagle-like:
	// an entry goes at once when none is in flight, or when it holds 4096 ids or more;
	// otherwise it gathers calls until one in flight returns. So light load makes one entry
	// per commit, and only heavy load has many in flight.
	MaxEntryIDs int
	MaxInflight int

	// API security: TLS serves the API over TLS (nil: plaintext). AuthToken, when set, is
	// required from every client as "authorization: Bearer <token>". PeerTLS is how this node
	// dials other nodes' APIs to forward calls (nil: plaintext).
	TLS       *tls.Config
	PeerTLS   *tls.Config
	AuthToken string

	// Clock stamps entries (leases and the horizon run on it); default time.Now. Tests inject.
	Clock func() time.Time
	// LogOutput receives raft's and the node's logs (default os.Stderr) at LogLevel
	// (default "warn").
	LogOutput io.Writer
	LogLevel  string

	// Transport overrides the raft transport (tests: raft.InmemTransport, or a TCP stream
	// layer that can be partitioned). RaftAddr is then only advertised.
	Transport raft.Transport
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, time.Second)
	def(&c.ElectionTimeout, time.Second)
	def(&c.LeaderLeaseTimeout, 500*time.Millisecond)
	def(&c.CommitTimeout, 50*time.Millisecond)
	def(&c.SnapshotInterval, 2*time.Minute)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.MaxEntryIDs == 0 {
		c.MaxEntryIDs = 16384
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 16
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.LogOutput == nil {
		c.LogOutput = os.Stderr
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("registry: config: ID is required"))
	}
	if c.RaftAddr == "" && c.Transport == nil {
		errs = append(errs, errors.New("registry: config: RaftAddr is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("registry: config: DataDir is required"))
	}
	if c.Bootstrap && len(c.Join) > 0 {
		errs = append(errs, errors.New("registry: config: Bootstrap and Join exclude each other"))
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("registry: config: Retention %v is negative", c.Retention))
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("registry: config: LeaderLeaseTimeout %v must not exceed HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout))
	}
	if c.ExpectedClaims < 0 {
		errs = append(errs, fmt.Errorf("registry: config: ExpectedClaims %d is negative", c.ExpectedClaims))
	}
	if c.MaxEntryIDs < 1 || c.MaxInflight < 1 {
		errs = append(errs, errors.New("registry: config: MaxEntryIDs and MaxInflight must be positive"))
	}
	if hclog.LevelFromString(c.LogLevel) == hclog.NoLevel {
		errs = append(errs, fmt.Errorf("registry: config: LogLevel %q is not trace, debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// logCacheEntries raft entries are kept in memory (entries hold up to MaxEntryIDs ids, about
// 18 bytes each: some 40 MB at most with the defaults).
const logCacheEntries = 128

// Node is one registry server: a raft member with the registry state machine, a proposer
// that coalesces calls into entries, and (with an APIAddr) the gRPC API.
type Node struct {
	cfg     Config
	log     hclog.Logger
	raft    *raft.Raft
	fsm     *fsm
	wal     *wal.WAL
	meta    *metadb.BoltMetaDB
	trans   raft.Transport
	prop    *proposer
	api     *grpc.Server
	apiLis  net.Listener
	peers   *peerPool
	done    chan struct{}
	stop    sync.Once
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
	// hasState: DataDir held raft state at start, so Bootstrap and Join were skipped.
	hasState bool
}

// StartNode opens the node's stores, starts raft and, with an APIAddr, the API server. It
// returns once the node runs; it does not wait for a leader (see WaitLeader).
func StartNode(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, done: make(chan struct{}), fsm: newFSM(cfg.ExpectedClaims)}
	n.log = hclog.New(&hclog.LoggerOptions{
		Name: "registry." + cfg.ID, Output: cfg.LogOutput, Level: hclog.LevelFromString(cfg.LogLevel),
	})
	if err := n.open(); err != nil {
		n.shutdown()
		return nil, err
	}
	n.prop = newProposer(n.raft, &n.cfg, n.done)
	n.peers = newPeerPool(peerDialOptions(cfg.PeerTLS, cfg.AuthToken))
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.prop.run() }()
	go func() { defer n.wg.Done(); n.watchLeadership() }()
	if cfg.APIAddr != "" {
		if err := n.serveAPI(); err != nil {
			n.shutdown()
			return nil, err
		}
	}
	if len(cfg.Join) > 0 && !n.hasState {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.joinLoop(ctx) }()
	}
	return n, nil
}

func (n *Node) open() error {
	cfg := &n.cfg
	walDir := filepath.Join(cfg.DataDir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return fmt.Errorf("registry: data dir: %w", err)
	}
	// raft-wal's Close leaves its meta database open (and locked): own it, to close it.
	n.meta = &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir, wal.WithMetaStore(n.meta))
	if err != nil {
		return fmt.Errorf("registry: open raft-wal: %w", err)
	}
	n.wal = w
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, n.log.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("registry: snapshot store: %w", err)
	}
	n.trans = cfg.Transport
	if n.trans == nil {
		layer, err := newTCPLayer(cfg.RaftAddr)
		if err != nil {
			return fmt.Errorf("registry: raft transport on %s: %w", cfg.RaftAddr, err)
		}
		n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: n.log.Named("transport"),
		})
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	// BatchApplyCh stays off: the proposer relies on an unbuffered apply channel (see
	// proposer). Its commit goroutines wait in raft.Apply together, and the leader takes all
	// the waiting entries into one write as a buffered channel would.
	rc.BatchApplyCh = false
	rc.MaxAppendEntries = 128
	rc.Logger = n.log.Named("raft")
	n.hasState, err = raft.HasExistingState(w, w, snaps)
	if err != nil {
		return fmt.Errorf("registry: reading raft state: %w", err)
	}
	// Recent entries stay in memory: replication and the followers' FSM read them back
	// otherwise (raft-wal preads each one).
	logs, err := raft.NewLogCache(logCacheEntries, w)
	if err != nil {
		return fmt.Errorf("registry: log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, w, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("registry: start raft: %w", err)
	}
	n.raft = r
	if cfg.Bootstrap && !n.hasState {
		boot := raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter,
		}}}
		if err := r.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("registry: bootstrap: %w", err)
		}
	}
	return nil
}

// RaftAddr is the address the raft transport advertises.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// APIAddr is the address the API listens on ("" without an API).
func (n *Node) APIAddr() string {
	if n.apiLis == nil {
		return ""
	}
	return n.apiLis.Addr().String()
}

// ID is the node's raft server id.
func (n *Node) ID() string { return n.cfg.ID }

// IsLeader reports whether the node is the raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// WaitLeader waits until some node is known as leader and returns its server id.
func (n *Node) WaitLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if _, id := n.raft.LeaderWithID(); id != "" {
			return string(id), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no leader elected: %w", ErrNoQuorum, ctx.Err())
		case <-n.done:
			return "", ErrClosed
		case <-t.C:
		}
	}
}

// Snapshot takes a raft snapshot now (it also happens on its own, see Config).
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// watchLeadership records this node's API address in the replicated address book each time
// it becomes leader, so followers can forward to it and clients find it.
func (n *Node) watchLeadership() {
	for {
		select {
		case <-n.done:
			return
		case isLeader := <-n.raft.LeaderCh():
			if !isLeader || n.APIAddr() == "" || n.fsm.member(n.cfg.ID) == n.APIAddr() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := n.do(ctx, []op{{kind: opMember, member: n.cfg.ID, addr: n.APIAddr()}}, false)
			cancel()
			if err != nil {
				n.log.Warn("recording own API address", "error", err)
			}
		}
	}
}

// do runs ops: proposes them if this node leads, else forwards them to the leader's API.
func (n *Node) do(ctx context.Context, ops []op, forwarded bool) ([]opResult, error) {
	return n.doRaw(ctx, encodeOps(ops), forwarded)
}

func (n *Node) doRaw(ctx context.Context, req *applyRequest, forwarded bool) ([]opResult, error) {
	if n.raft.State() != raft.Leader {
		return n.forward(ctx, req, forwarded)
	}
	pr := &proposal{ctx: ctx, req: req, done: make(chan proposalResult, 1)}
	if err := n.prop.submit(pr); err != nil {
		return nil, err
	}
	select {
	case r := <-pr.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.done:
		return nil, ErrClosed
	}
}

// leaderAPI returns the leader's id and API address ("" if unknown).
func (n *Node) leaderAPI() (id, api string) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	return string(lid), n.fsm.member(string(lid))
}

func (n *Node) forward(ctx context.Context, req *applyRequest, forwarded bool) ([]opResult, error) {
	id, api := n.leaderAPI()
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: node %s knows no leader", ErrNoQuorum, n.cfg.ID)
	case forwarded || api == "" || id == n.cfg.ID:
		return nil, &notLeaderError{leaderAPI: api}
	}
	var resp applyResponse
	if err := n.peers.invoke(ctx, api, methodApply, req, &resp); err != nil {
		return nil, fmt.Errorf("forwarding to leader %s at %s: %w", id, api, err)
	}
	return resp.results, nil
}

// notLeaderError says where the leader is, when known.
type notLeaderError struct{ leaderAPI string }

func (e *notLeaderError) Error() string {
	if e.leaderAPI == "" {
		return ErrNotLeader.Error()
	}
	return ErrNotLeader.Error() + ": leader is at " + e.leaderAPI
}

func (e *notLeaderError) Unwrap() error { return ErrNotLeader }

// addMember adds a voter (or updates its address) and records its API address.
func (n *Node) addMember(ctx context.Context, id, raftAddr, apiAddr string, forwarded bool) error {
	if n.raft.State() != raft.Leader {
		return n.forwardMember(ctx, &memberRequest{add: true, id: id, raftAddr: raftAddr, apiAddr: apiAddr}, forwarded)
	}
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("registry: adding %s: %w", id, raftErr(err))
	}
	if apiAddr == "" {
		return nil
	}
	_, err := n.do(ctx, []op{{kind: opMember, member: id, addr: apiAddr}}, false)
	return err
}

// removeMember removes a server from the cluster and forgets its API address.
func (n *Node) removeMember(ctx context.Context, id string, forwarded bool) error {
	if n.raft.State() != raft.Leader {
		return n.forwardMember(ctx, &memberRequest{id: id}, forwarded)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("registry: removing %s: %w", id, raftErr(err))
	}
	_, err := n.do(ctx, []op{{kind: opMember, member: id}}, false)
	return err
}

func (n *Node) forwardMember(ctx context.Context, req *memberRequest, forwarded bool) error {
	id, api := n.leaderAPI()
	if id == "" {
		return fmt.Errorf("%w: node %s knows no leader", ErrNoQuorum, n.cfg.ID)
	}
	if forwarded || api == "" || id == n.cfg.ID {
		return &notLeaderError{leaderAPI: api}
	}
	return n.peers.invoke(ctx, api, methodMember, req, &memberResponse{})
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// joinLoop asks the join addresses, in turn, to admit this node, until one does.
func (n *Node) joinLoop(ctx context.Context) {
	req := &memberRequest{add: true, id: n.cfg.ID, raftAddr: n.RaftAddr(), apiAddr: n.APIAddr()}
	backoff := 50 * time.Millisecond
	for i := 0; ; i++ {
		addr := n.cfg.Join[i%len(n.cfg.Join)]
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.peers.call(cctx, addr, methodMember, req, &memberResponse{})
		cancel()
		if err == nil {
			n.log.Info("joined cluster", "via", addr)
			return
		}
		n.log.Warn("join attempt failed", "via", addr, "error", err)
		select {
		case <-n.done:
			return
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Status reports this node's view.
func (n *Node) Status() Status {
	s := Status{Node: n.cfg.ID, RaftAddr: n.RaftAddr(), APIAddr: n.APIAddr(), State: n.raft.State().String()}
	s.Leader, s.LeaderAPI = n.leaderAPI()
	st := n.raft.Stats()
	num := func(k string) uint64 { v, _ := strconv.ParseUint(st[k], 10, 64); return v }
	s.Term = num("term")
	s.CommitIndex = num("commit_index")
	s.AppliedIndex = num("applied_index")
	s.LastSnapshotIndex = num("last_snapshot_index")
	s.LastSnapshotTerm = num("last_snapshot_term")
	s.Stats = n.fsm.stats()
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, sv := range f.Configuration().Servers {
			s.Servers = append(s.Servers, Server{
				ID: string(sv.ID), RaftAddr: string(sv.Address), APIAddr: s.Members[string(sv.ID)],
				Voter: sv.Suffrage == raft.Voter,
			})
		}
	}
	return s
}

// Close stops the node at once: no leadership hand-over, calls in flight fail with ErrClosed
// or ErrNotLeader. Everything acknowledged is on disk (raft-wal syncs every append).
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.shutdown()
}

func (n *Node) shutdown() error {
	var errs []error
	if n.api != nil {
		n.api.Stop()
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	n.stop.Do(func() { close(n.done) })
	if c, ok := n.trans.(io.Closer); ok && n.trans != nil {
		errs = append(errs, c.Close())
	}
	// Close the connections pooled to other nodes too (NetworkTransport.Close leaves them
	// open), so the goroutines serving them on the other side end. Our own tcpLayer closes
	// them all anyway; a transport given in Config may not.
	if c, ok := n.trans.(interface{ CloseStreams() }); ok {
		c.CloseStreams()
	}
	n.wg.Wait()
	if n.peers != nil {
		n.peers.close()
	}
	if n.wal != nil {
		errs = append(errs, n.wal.Close())
	}
	if n.meta != nil {
		errs = append(errs, n.meta.Close())
	}
	return errors.Join(errs...)
}
