package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// faultyLayer is a raft stream layer over real TCP on loopback that can be cut off: while
// isolated it refuses to dial, drops what it accepts and has closed every connection it had,
// so the node neither sends nor receives raft traffic (its API stays up: a partial partition).
type faultyLayer struct {
	net.Listener
	isolated atomic.Bool
	mu       sync.Mutex
	conns    []net.Conn
}

func (l *faultyLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.isolated.Load() {
		return nil, errors.New("isolated")
	}
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	l.track(c)
	return c, nil
}

func (l *faultyLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.isolated.Load() {
			c.Close()
			continue
		}
		l.track(c)
		return c, nil
	}
}

func (l *faultyLayer) track(c net.Conn) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	if l.isolated.Load() {
		c.Close()
	}
}

func (l *faultyLayer) isolate() {
	l.isolated.Store(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *faultyLayer) heal() { l.isolated.Store(false) }

// Close closes the listener and every connection, as the node's own TCP layer does.
func (l *faultyLayer) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
	return err
}

type testNode struct {
	id       string
	raftAddr string
	apiAddr  string
	dir      string
	layer    *faultyLayer
	node     *Node
}

type testCluster struct {
	t     testing.TB
	nodes []*testNode
	timing
	tweak func(*Config) // adjusts every node's config
}

// timing is the raft timing of a test cluster.
type timing struct{ heartbeat, election, lease time.Duration }

var (
	fastTiming = timing{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}
	// raceTiming tolerates the race detector's slowdown on two shared cores.
	raceTiming = timing{500 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond}
)

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newCluster starts n nodes on loopback: the first bootstraps, the others join through its API.
func newCluster(t testing.TB, n int, tm timing, tweak ...func(*Config)) *testCluster {
	c := &testCluster{t: t, timing: tm, tweak: func(*Config) {}}
	if len(tweak) > 0 {
		c.tweak = tweak[0]
	}
	for i := range n {
		c.nodes = append(c.nodes, &testNode{
			id: fmt.Sprintf("n%d", i+1), raftAddr: freeAddr(t), apiAddr: freeAddr(t), dir: t.TempDir(),
		})
	}
	t.Cleanup(c.closeAll)
	for i := range c.nodes {
		c.start(i)
		if i == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if _, err := c.nodes[0].node.WaitLeader(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}
	c.waitMembers(n)
	return c
}

func (c *testCluster) start(i int) {
	// Ports are picked free up front, but another socket (an outgoing connection, or the
	// port of a node just stopped) may hold one for a moment: retry.
	var err error
	for try := 0; try < 50; try++ {
		if err = c.tryStart(i); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *testCluster) tryStart(i int) error {
	tn := c.nodes[i]
	lis, err := net.Listen("tcp", tn.raftAddr)
	if err != nil {
		return err
	}
	tn.layer = &faultyLayer{Listener: lis}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: tn.layer, MaxPool: 3, Timeout: 2 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: testLog(), Level: hclog.Error}),
	})
	cfg := Config{
		ID: tn.id, RaftAddr: tn.raftAddr, APIAddr: tn.apiAddr, DataDir: tn.dir, Transport: trans,
		HeartbeatTimeout: c.heartbeat, ElectionTimeout: c.election, LeaderLeaseTimeout: c.lease,
		LogOutput: testLog(), LogLevel: testLogLevel(),
	}
	c.tweak(&cfg)
	if i == 0 {
		cfg.Bootstrap = true
	} else {
		cfg.Join = []string{c.nodes[0].apiAddr}
	}
	n, err := StartNode(context.Background(), cfg)
	if err != nil {
		trans.Close() // StartNode closes it on most failures; closing twice is harmless
		return err
	}
	tn.node = n
	return nil
}

func testLog() io.Writer {
	if os.Getenv("REGISTRY_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// kill stops node i at once (no leadership hand-over), keeping its data directory.
func (c *testCluster) kill(i int) {
	if n := c.nodes[i].node; n != nil {
		n.Close()
		c.nodes[i].node = nil
	}
}

func (c *testCluster) closeAll() {
	for i := range c.nodes {
		c.kill(i)
	}
}

func (c *testCluster) apiAddrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.apiAddr)
	}
	return out
}

// leader waits for a node that leads and is running, and returns its index.
func (c *testCluster) leader() int {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n.node != nil && n.node.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 30s")
	return -1
}

// waitMembers waits until the leader's configuration has n servers, all with API addresses.
func (c *testCluster) waitMembers(n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := c.nodes[c.leader()].node.Status()
		ok := len(s.Servers) == n
		for _, sv := range s.Servers {
			ok = ok && sv.APIAddr != ""
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("cluster did not reach %d members", n)
}

// waitApplied waits until every running node's state machine applied the leader's last
// index, so their states can be compared. (Raft's AppliedIndex counts entries queued for the
// state machine: a node replaying its log after a restart is behind it.)
// A barrier makes the leader's state machine apply everything before it; the others must
// reach the last entry it applied (barriers and no-ops do not reach state machines).
func (c *testCluster) waitApplied() {
	deadline := time.Now().Add(30 * time.Second)
	applied := func(n *Node) uint64 {
		snap, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		return max(n.fsm.applied.Load(), snap)
	}
	var want uint64
	for want == 0 && time.Now().Before(deadline) {
		l := c.nodes[c.leader()].node
		if err := l.raft.Barrier(10 * time.Second).Error(); err == nil {
			want = applied(l)
		}
	}
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.nodes {
			if n.node != nil && applied(n.node) < want {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("nodes did not catch up")
}

func TestClusterBasics(t *testing.T) {
	c := newCluster(t, 3, raceTiming)
	cl, err := Dial(c.apiAddrs()[2:], WithLease(time.Minute)) // one follower address: forwarding
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	a, b := Token{Pipeline: "p", Task: 1, Epoch: 1}, Token{Pipeline: "q", Task: 1, Epoch: 1}
	ids := []ClaimID{{ID: IDOfString("x"), EventTime: 1}, {ID: IDOfString("y"), EventTime: 2}}
	res, err := cl.Claim(ctx, a, ids)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != Won || res[1].Outcome != Won {
		t.Fatalf("first claim: %+v", res)
	}
	res, err = cl.Claim(ctx, b, ids[1:])
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != Lost || res[0].Holder != a {
		t.Fatalf("second claim: %+v", res)
	}
	if err := cl.Confirm(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := cl.Abort(ctx, a); !errors.Is(err, ErrConfirmed) {
		t.Fatalf("abort after confirm: %v", err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "Leader" || st.Claims != 2 || st.Confirmed != 1 || len(st.Servers) != 3 || st.CommitIndex == 0 {
		t.Fatalf("status: %+v", st)
	}

	// Kill the leader: the client finds the new one, and the claims survived.
	c.kill(c.leader())
	res, err = cl.Claim(ctx, b, ids)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != Lost || res[0].Holder != a || res[1].Outcome != Lost {
		t.Fatalf("after failover: %+v", res)
	}
	c.waitApplied()
	var dumps [][]string
	for _, n := range c.nodes {
		if n.node != nil {
			dumps = append(dumps, stateDump(n.node))
		}
	}
	if fmt.Sprint(dumps[0]) != fmt.Sprint(dumps[1]) {
		t.Fatalf("nodes differ:\n%v\n%v", dumps[0], dumps[1])
	}
}

func stateDump(n *Node) []string {
	n.fsm.mu.Lock()
	defer n.fsm.mu.Unlock()
	h := &harness{s: n.fsm.mu.st, names: map[ID]string{}}
	return h.dump()
}

func testLogLevel() string {
	if l := os.Getenv("REGISTRY_TEST_LOG"); l != "" && l != "1" {
		return l
	}
	return "error"
}
