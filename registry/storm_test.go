package registry

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability model is per id: the history of a claim of several ids is split into
// one operation per id (same call and return times), and Confirm/Abort of a token into one per
// id the token tried to claim. Per-id linearizability is what "no id is ever won by two
// tokens" needs; porcupine checks each id's history independently.

type modelState struct {
	holder    Token
	held      bool
	confirmed bool
}

type modelIn struct {
	id   int
	kind opKind
	tok  Token
}

// modelOut is an operation's answer; unknown when the call failed (it may or may not have
// been applied), which the model accepts with any state change.
type modelOut struct {
	unknown bool
	res     Result // claims
}

var registryModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byID := map[int][]porcupine.Operation{}
		var keys []int
		for _, o := range h {
			id := o.Input.(modelIn).id
			if _, ok := byID[id]; !ok {
				keys = append(keys, id)
			}
			byID[id] = append(byID[id], o)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byID[k])
		}
		return out
	},
	Init: func() any { return modelState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(modelState), input.(modelIn), output.(modelOut)
		switch in.kind {
		case opClaim:
			want := Result{Outcome: Won}
			next := s
			if !s.held {
				next = modelState{holder: in.tok, held: true}
			} else if s.holder != in.tok {
				want = Result{Outcome: Lost, Holder: s.holder}
			}
			return out.unknown || out.res == want, next
		case opConfirm:
			if s.held && s.holder == in.tok {
				s.confirmed = true
			}
			return true, s // outputs of confirm carry no per-id information
		case opAbort:
			if s.held && s.holder == in.tok && !s.confirmed {
				s = modelState{}
			}
			return true, s
		}
		return false, s
	},
	Equal: func(a, b any) bool { return a.(modelState) == b.(modelState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(modelIn), output.(modelOut)
		if out.unknown {
			return fmt.Sprintf("%s %s id%d → ?", in.kind, in.tok, in.id)
		}
		return fmt.Sprintf("%s %s id%d → %s %s", in.kind, in.tok, in.id, out.res.Outcome, out.res.Holder)
	},
}

type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
	// wins: for each id, tokens that won it, and whether each one's confirm succeeded.
	won       map[int][]Token
	confirmed map[Token]bool
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(client int, in modelIn, call, ret int64, out modelOut) {
	if out.unknown {
		ret = math.MaxInt64 // may take effect any time after the call
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

type stormStats struct {
	mu                        sync.Mutex
	claims, unknown, faults   int
	won, lost, confirm, abort int
}

// TestStorm: a 3-node cluster on loopback (real TCP, fsync) under a claim storm from several
// clients, while the leader is isolated, the leader is killed and restarted from its
// snapshot, and a follower is killed and isolated. Every operation is recorded and the
// history checked with porcupine; no id is ever won by two tokens that both confirmed; and the
// replicas end identical.
func TestStorm(t *testing.T) {
	tm, dur := fastTiming, 8*time.Second
	if raceEnabled {
		tm, dur = raceTiming, 10*time.Second
	}
	if testing.Short() {
		dur = 4 * time.Second
	}
	if v := os.Getenv("REGISTRY_STORM_SECONDS"); v != "" {
		s, _ := strconv.Atoi(v)
		dur = time.Duration(s) * time.Second
	}
	c := newCluster(t, 3, tm, func(cfg *Config) {
		// Snapshot often and keep few logs, so restarts restore snapshots and lagging
		// followers get InstallSnapshot.
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 64, 100*time.Millisecond, 64
	})
	const (
		nClients = 3
		nWorkers = 2 // per client
		nIDs     = 64
	)
	h := &history{start: time.Now(), won: map[int][]Token{}, confirmed: map[Token]bool{}}
	var st stormStats
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for ci := range nClients {
		cl, err := Dial(c.apiAddrs(), WithLease(10*time.Minute), WithCallTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for w := range nWorkers {
			wg.Add(1)
			worker := ci*nWorkers + w
			go func() {
				defer wg.Done()
				stormWorker(cl, worker, nIDs, h, &st, stop)
			}()
		}
	}

	faults := []struct {
		name string
		do   func()
	}{
		{"isolate leader", func() {
			l := c.leader()
			c.nodes[l].layer.isolate()
			time.Sleep(4 * tm.election)
			c.nodes[l].layer.heal()
		}},
		{"kill leader, restart from its snapshot", func() {
			l := c.leader()
			if err := c.nodes[l].node.Snapshot(); err != nil {
				t.Logf("snapshot before kill: %v", err)
			}
			c.kill(l)
			time.Sleep(4 * tm.election)
			c.start(l)
			if st := c.nodes[l].node.Status(); st.LastSnapshotIndex == 0 {
				t.Errorf("restarted node has no snapshot to restore from: %+v", st)
			}
		}},
		{"kill follower, restart", func() {
			f := (c.leader() + 1) % 3
			c.kill(f)
			time.Sleep(3 * tm.election)
			c.start(f)
		}},
		{"isolate follower", func() {
			f := (c.leader() + 2) % 3
			c.nodes[f].layer.isolate()
			time.Sleep(3 * tm.election)
			c.nodes[f].layer.heal()
		}},
	}
	gap := dur / time.Duration(len(faults)+1)
	for _, f := range faults {
		time.Sleep(gap)
		t.Logf("%v: %s", time.Since(h.start).Round(time.Millisecond), f.name)
		f.do()
		st.faults++
	}
	time.Sleep(gap)
	close(stop)
	wg.Wait()

	t.Logf("%d claim calls (%d unknown outcome), %d ids won, %d lost, %d confirms, %d aborts, %d faults, %d history ops",
		st.claims, st.unknown, st.won, st.lost, st.confirm, st.abort, st.faults, len(h.ops))
	if st.claims < 20 || st.won == 0 || st.lost == 0 {
		t.Fatalf("storm too small to mean anything: %d claims, %d won, %d lost", st.claims, st.won, st.lost)
	}

	// No id is ever won by two tokens that both confirmed.
	for id, toks := range h.won {
		var final []Token
		for _, tok := range toks {
			if h.confirmed[tok] && !slices.Contains(final, tok) {
				final = append(final, tok)
			}
		}
		if len(final) > 1 {
			t.Errorf("id %d won and confirmed by %v", id, final)
		}
	}
	res, info := porcupine.CheckOperationsVerbose(registryModel, h.ops, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		if err := porcupine.VisualizePath(registryModel, info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		t.Fatalf("history is not linearizable: %s", res)
	}

	// Replicas converge to the same state.
	c.waitApplied()
	var first []string
	for _, n := range c.nodes {
		d := stateDump(n.node)
		if first == nil {
			first = d
		} else if fmt.Sprint(d) != fmt.Sprint(first) {
			t.Fatalf("replicas differ:\n%v\n%v", first, d)
		}
	}
}

// stormWorker runs epochs: claim a few batches of random ids, then confirm (mostly) or abort.
func stormWorker(cl *Client, worker, nIDs int, h *history, st *stormStats, stop chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(worker), 7))
	ctx := context.Background()
	for epoch := uint64(1); ; epoch++ {
		select {
		case <-stop:
			return
		default:
		}
		tok := Token{Pipeline: "storm", Task: uint32(worker), Epoch: epoch}
		tried := map[int]bool{}
		for range 1 + rng.IntN(3) {
			// Ids come from a window that slides with the epoch: workers contend for the
			// same ids, and fresh ids keep coming.
			n := 1 + rng.IntN(4)
			pick := rng.Perm(nIDs)[:n]
			for i := range pick {
				pick[i] += int(epoch) * 2
			}
			ids := make([]ClaimID, n)
			for i, id := range pick {
				ids[i] = ClaimID{ID: IDOfString(strconv.Itoa(id)), EventTime: int64(id)}
				tried[id] = true
			}
			call := h.now()
			res, err := cl.Claim(ctx, tok, ids)
			ret := h.now()
			st.mu.Lock()
			st.claims++
			if err != nil {
				st.unknown++
			}
			st.mu.Unlock()
			for i, id := range pick {
				out := modelOut{unknown: err != nil}
				if err == nil {
					out.res = res[i]
					st.mu.Lock()
					if res[i].Outcome == Won {
						st.won++
						h.mu.Lock()
						h.won[id] = append(h.won[id], tok)
						h.mu.Unlock()
					} else {
						st.lost++
					}
					st.mu.Unlock()
				}
				h.add(worker, modelIn{id: id, kind: opClaim, tok: tok}, call, ret, out)
			}
		}
		kind := opConfirm
		if rng.IntN(4) == 0 {
			kind = opAbort
		}
		call := h.now()
		var err error
		if kind == opConfirm {
			err = cl.Confirm(ctx, tok)
		} else {
			err = cl.Abort(ctx, tok)
		}
		ret := h.now()
		st.mu.Lock()
		if kind == opConfirm {
			st.confirm++
		} else {
			st.abort++
		}
		st.mu.Unlock()
		if kind == opConfirm && err == nil {
			h.mu.Lock()
			h.confirmed[tok] = true
			h.mu.Unlock()
		}
		for id := range tried {
			h.add(worker, modelIn{id: id, kind: kind, tok: tok}, call, ret, modelOut{unknown: err != nil})
		}
	}
}
