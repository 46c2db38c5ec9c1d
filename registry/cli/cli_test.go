package registrycli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glintstream/glint/registry"
)

// TestMain doubles as the registry process for TestProcessesKillLeader: with
// GLINT_REGISTRY_HELPER set, the test binary runs `glint registry` with the given arguments.
func TestMain(m *testing.M) {
	if args := os.Getenv("GLINT_REGISTRY_HELPER"); args != "" {
		cmd := NewCommand()
		cmd.SetArgs(strings.Split(args, "\x1f"))
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("glint registry %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

type node struct{ id, raft, api, dir string }

func newNode(t *testing.T, id string) node {
	return node{id: id, raft: freeAddr(t), api: freeAddr(t), dir: t.TempDir()}
}

func (n node) args(extra ...string) []string {
	return append([]string{"--id", n.id, "--raft", n.raft, "--api", n.api, "--data", n.dir,
		"--heartbeat-timeout", "300ms", "--election-timeout", "300ms", "--leader-lease-timeout", "150ms",
		"--log-level", "error"}, extra...)
}

// startInProcess runs `glint registry` in this process until the test ends.
func startInProcess(t *testing.T, args []string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := NewCommand()
	cmd.SetArgs(args)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry %v: %v\n%s", args, err, out.String())
		}
	})
}

func waitStatus(t *testing.T, addrs []string, ok func(registry.Status) bool) registry.Status {
	t.Helper()
	cl, err := registry.Dial(addrs, registry.WithCallTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var st registry.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err = cl.Status(context.Background()); err == nil && ok(st) {
			return st
		}
	}
	t.Fatalf("status never as wanted; last: %+v (%v)", st, err)
	return st
}

func TestCommandAddRemoveStatus(t *testing.T) {
	help := run(t, "--help")
	for _, want := range []string{"--bootstrap", "--join", "--raft", "--api", "Examples:", "add", "remove", "status"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	n1, n2 := newNode(t, "n1"), newNode(t, "n2")
	startInProcess(t, n1.args("--bootstrap"))
	startInProcess(t, n2.args()) // neither bootstrap nor join: waits to be added
	waitStatus(t, []string{n1.api}, func(s registry.Status) bool { return s.State == "Leader" })

	out := run(t, "add", "--addrs", n2.api+","+n1.api, "--id", n2.id, "--raft", n2.raft, "--api", n2.api)
	if !strings.Contains(out, "added n2") {
		t.Fatalf("add: %s", out)
	}
	waitStatus(t, []string{n1.api}, func(s registry.Status) bool { return len(s.Servers) == 2 && s.Servers[1].APIAddr != "" })
	out = run(t, "status", "--addrs", n1.api)
	for _, want := range []string{"leader:        n1", "term:", "commit index:", "last snapshot:", "ids held:", "leases:", "server:        n2"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out = run(t, "status", "--json", "--addrs", n2.api)
	if !strings.Contains(out, `"Leader": "n1"`) {
		t.Errorf("json status: %s", out)
	}
	run(t, "remove", "--addrs", n1.api, "--id", "n2")
	waitStatus(t, []string{n1.api}, func(s registry.Status) bool { return len(s.Servers) == 1 })
}

// proc is a registry node running as its own process (this test binary, see TestMain).
type proc struct {
	node
	args []string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

func (p *proc) start(t *testing.T) {
	p.out = &bytes.Buffer{}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), "GLINT_REGISTRY_HELPER="+strings.Join(p.args, "\x1f"))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// TestProcessesKillLeader: three registry processes; clients claim overlapping ids while the
// leader process is killed with SIGKILL and later restarted on its data directory. No id is
// won by two tokens that both confirmed, every call eventually succeeds, and the killed node
// catches up.
func TestProcessesKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	var procs []*proc
	for i := range 3 {
		n := newNode(t, fmt.Sprintf("n%d", i+1))
		p := &proc{node: n}
		if i == 0 {
			p.args = n.args("--bootstrap")
		} else {
			p.args = n.args("--join", procs[0].api)
		}
		procs = append(procs, p)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
	})
	procs[0].start(t)
	waitStatus(t, []string{procs[0].api}, func(s registry.Status) bool { return s.State == "Leader" })
	procs[1].start(t)
	procs[2].start(t)
	var addrs []string
	for _, p := range procs {
		addrs = append(addrs, p.api)
	}
	waitStatus(t, addrs, func(s registry.Status) bool {
		return len(s.Servers) == 3 && !slices.ContainsFunc(s.Servers, func(sv registry.Server) bool { return sv.APIAddr == "" })
	})

	cl, err := registry.Dial(addrs, registry.WithLease(time.Minute), registry.WithCallTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	winners := map[int][]registry.Token{} // id → confirmed tokens that won it
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failures int
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for epoch := uint64(1); ; epoch++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := registry.Token{Pipeline: "proc", Task: uint32(w), Epoch: epoch}
				var ids []registry.ClaimID
				var names []int
				for k := range 20 {
					id := int(epoch)*5 + k // overlaps with other workers' ids
					names = append(names, id)
					ids = append(ids, registry.ClaimID{ID: registry.IDOfString(strconv.Itoa(id)), EventTime: time.Now().UnixMilli()})
				}
				res, err := cl.Claim(context.Background(), tok, ids)
				if err == nil {
					err = cl.Confirm(context.Background(), tok)
				}
				mu.Lock()
				calls++
				if err != nil {
					failures++
					t.Logf("call failed: %v", err)
				} else {
					for i, r := range res {
						if r.Outcome == registry.Won {
							winners[names[i]] = append(winners[names[i]], tok)
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	st, err := cl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	leader := slices.IndexFunc(procs, func(p *proc) bool { return p.id == st.Leader })
	if leader < 0 {
		t.Fatalf("leader %q not among the processes", st.Leader)
	}
	t.Logf("SIGKILL leader %s (pid %d)", procs[leader].id, procs[leader].cmd.Process.Pid)
	procs[leader].kill()
	time.Sleep(2 * time.Second)
	procs[leader].start(t) // restarts on its data directory: snapshot and log
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if failures > 0 || calls < 10 {
		t.Fatalf("%d of %d calls failed", failures, calls)
	}
	for id, toks := range winners {
		if len(toks) > 1 {
			t.Errorf("id %d won and confirmed by %v", id, toks)
		}
	}
	// The restarted node catches up with the leader's commit index.
	final := waitStatus(t, addrs, func(s registry.Status) bool { return s.State == "Leader" })
	waitStatus(t, []string{procs[leader].api}, func(s registry.Status) bool {
		return s.AppliedIndex >= final.CommitIndex && s.Leader != ""
	})
	t.Logf("%d claim+confirm calls, %d ids won; leader now %s", calls, len(winners), final.Leader)
}
