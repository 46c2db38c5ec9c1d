package registry

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the embedded registry's entry stamps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func claimOne(t *testing.T, r Registry, tok Token, name string, ev int64) Result {
	t.Helper()
	res, err := r.Claim(context.Background(), tok, []ClaimID{{ID: IDOfString(name), EventTime: ev}})
	if err != nil {
		t.Fatalf("claim %s by %s: %v", name, tok, err)
	}
	return res[0]
}

// TestEmbeddedLeases: a token that stops renewing loses its tentative claims to another
// token, and its late Confirm fails; the registry state survives a restart.
func TestEmbeddedLeases(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_800_000_000_000)}
	dir := t.TempDir()
	ctx := context.Background()
	r, err := StartEmbedded(ctx, dir, WithClock(clock.Now), WithLease(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// b's tokens each claim once, so their own (equal) leases never get in the way.
	a, b1, b2, b := Token{Pipeline: "p", Task: 1, Epoch: 1}, Token{Pipeline: "p", Task: 2, Epoch: 1},
		Token{Pipeline: "p", Task: 2, Epoch: 2}, Token{Pipeline: "p", Task: 2, Epoch: 3}
	ev := clock.Now().UnixMilli()
	if got := claimOne(t, r, a, "x", ev); got.Outcome != Won {
		t.Fatalf("a claims x: %+v", got)
	}
	if got := claimOne(t, r, a, "y", ev); got.Outcome != Won {
		t.Fatalf("a claims y: %+v", got)
	}
	if got := claimOne(t, r, b1, "x", ev); got.Outcome != Lost || got.Holder != a {
		t.Fatalf("b claims x while a's lease runs: %+v", got)
	}
	// a renews at 0.6 s; at 1.2 s (past the first lease, within the renewed one) it still holds.
	clock.Advance(600 * time.Millisecond)
	if err := r.Renew(ctx, a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(600 * time.Millisecond)
	if got := claimOne(t, r, b2, "x", ev); got.Outcome != Lost {
		t.Fatalf("b claims x after a renewed: %+v", got)
	}
	// a stops renewing: b wins x, and a's late confirm, claim and renew fail.
	clock.Advance(time.Second)
	if got := claimOne(t, r, b, "x", ev); got.Outcome != Won {
		t.Fatalf("b claims x after a's lease ran out: %+v", got)
	}
	if err := r.Confirm(ctx, a); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's late confirm: %v, want ErrLeaseLost", err)
	}
	if _, err := r.Claim(ctx, a, []ClaimID{{ID: IDOfString("z"), EventTime: ev}}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's late claim: %v, want ErrLeaseLost", err)
	}
	if err := r.Renew(ctx, a); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's late renew: %v, want ErrLeaseLost", err)
	}
	if IsRetryable(r.Confirm(ctx, a)) {
		t.Fatal("lease lost must not be retryable")
	}
	if err := r.Confirm(ctx, b); err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status(ctx)
	if st.Expired != 2 || st.Open != 1 || st.Confirmed != 1 {
		t.Fatalf("status: %d expired, %d open, %d confirmed; want 2 (a, b1), 1 (b2), 1 (b)", st.Expired, st.Open, st.Confirmed)
	}

	// Restart: state comes back from the log (and snapshot).
	if err := r.Node().Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = StartEmbedded(ctx, dir, WithClock(clock.Now), WithLease(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Confirm(ctx, a); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's confirm after restart: %v, want ErrLeaseLost", err)
	}
	// a aborts and replays: it loses x to b and wins y again (its old claim was released).
	if err := r.Abort(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := claimOne(t, r, a, "x", ev); got.Outcome != Lost || got.Holder != b {
		t.Fatalf("a replays x: %+v", got)
	}
	if got := claimOne(t, r, a, "y", ev); got.Outcome != Won {
		t.Fatalf("a replays y: %+v", got)
	}
	if err := r.Confirm(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedRetention: GC never lets a second claim of a retained id win. An id older than
// the horizon is refused, never won twice, while the registry forgets it.
func TestEmbeddedRetention(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_800_000_000_000)}
	ctx := context.Background()
	r, err := StartEmbedded(ctx, t.TempDir(), WithClock(clock.Now), WithLease(time.Hour), WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, b := Token{Pipeline: "p", Task: 1, Epoch: 1}, Token{Pipeline: "q", Task: 1, Epoch: 1}
	t0 := clock.Now().UnixMilli()
	for i := range 100 {
		if got := claimOne(t, r, a, "old", t0); got.Outcome != Won && i == 0 {
			t.Fatalf("first claim: %+v", got)
		}
	}
	if err := r.Confirm(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Time and events move on past the horizon, one step at a time; at every step the old id
	// is either still held (lost) or refused: never won.
	var refusedAt time.Duration
	for step := time.Duration(0); step <= 3*time.Hour; step += 10 * time.Minute {
		clock.Advance(10 * time.Minute)
		newer := Token{Pipeline: "q", Task: 2, Epoch: uint64(step / time.Minute)}
		claimOne(t, r, newer, "new"+step.String(), clock.Now().UnixMilli())
		got := claimOne(t, r, b, "old", t0)
		switch got.Outcome {
		case Won:
			t.Fatalf("at +%v the retained id was won twice", step)
		case Refused:
			if refusedAt == 0 {
				refusedAt = step + 10*time.Minute
			}
		case Lost:
			if refusedAt != 0 {
				t.Fatalf("at +%v the id was held again after being refused", step)
			}
		}
	}
	if refusedAt == 0 || refusedAt > time.Hour+20*time.Minute {
		t.Fatalf("old id refused from +%v, want about one hour of retention", refusedAt)
	}
	// Released claims are swept a little with every entry: a few more entries clear them.
	for i := 0; ; i++ {
		st, _ := r.Status(ctx)
		if st.Claims <= 8 {
			break
		}
		if i == 1000 {
			t.Fatalf("%d claims stored, want only those within the last hour", st.Claims)
		}
		if err := r.Renew(ctx, Token{Pipeline: "tick"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterLeases: the same on a 3-node cluster with real time and the clients' own leases.
func TestClusterLeases(t *testing.T) {
	c := newCluster(t, 3, raceTiming)
	// The lease must outlast the gap between slow's claim and fast's first one: both are
	// stamped with the leader's clock when proposed, and on a loaded machine a disk stall
	// between them has reached 290 ms. (A 300 ms lease made this test fail now and then.)
	slow, err := Dial(c.apiAddrs(), WithLease(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := Dial(c.apiAddrs(), WithLease(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	a, b := Token{Pipeline: "slow", Task: 1, Epoch: 1}, Token{Pipeline: "fast", Task: 1, Epoch: 1}
	if got := claimOne(t, slow, a, "x", 1); got.Outcome != Won {
		t.Fatalf("slow claims: %+v", got)
	}
	if got := claimOne(t, fast, b, "x", 1); got.Outcome != Lost {
		t.Fatalf("fast claims during slow's lease: %+v", got)
	}
	// Wait out the lease on the registry's clock (the leader's time stamps).
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := claimOne(t, fast, b, "x", 1)
		if got.Outcome == Won {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow's lease never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := slow.Confirm(context.Background(), a); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("slow's late confirm: %v", err)
	}
	if err := fast.Confirm(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestNoQuorum: with two of three nodes down, calls fail with ErrNoQuorum at their deadline.
func TestNoQuorum(t *testing.T) {
	c := newCluster(t, 3, fastTiming)
	cl, err := Dial(c.apiAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	l := c.leader()
	c.kill((l + 1) % 3)
	c.kill((l + 2) % 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = cl.Claim(ctx, Token{Pipeline: "p"}, []ClaimID{{ID: IDOfString("x")}})
	if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("claim without quorum: %v, want ErrNoQuorum and DeadlineExceeded", err)
	}
	if !IsRetryable(err) {
		t.Fatal("no quorum should be retryable")
	}
	t.Logf("error without quorum: %v", err)
}

// TestRetrySameAnswer: a retried call (same token) gets the first call's answer, also after
// another token tried the same ids in between.
func TestRetrySameAnswer(t *testing.T) {
	r, err := StartEmbedded(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	a, b := Token{Pipeline: "p", Task: 1, Epoch: 1}, Token{Pipeline: "p", Task: 2, Epoch: 1}
	ids := []ClaimID{{ID: IDOfString("x"), EventTime: 1}, {ID: IDOfString("y"), EventTime: 1}}
	first, err := r.Claim(ctx, a, ids)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Claim(ctx, b, ids); err != nil {
		t.Fatal(err)
	}
	again, err := r.Claim(ctx, a, ids)
	if err != nil {
		t.Fatal(err)
	}
	if first[0] != again[0] || first[1] != again[1] {
		t.Fatalf("retry answered %+v, first call %+v", again, first)
	}
	for range 2 {
		if err := r.Confirm(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEmbeddedRecover: after Recover to checkpoint 5, the task re-wins the claims of its
// epochs 6 and 7 (confirmed or not) in whatever epoch its replay claims them; others lose.
func TestEmbeddedRecover(t *testing.T) {
	r, err := StartEmbedded(context.Background(), t.TempDir(), WithLease(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	e := func(n uint64) Token { return Token{Pipeline: "join", Task: 3, Epoch: n} }
	other := Token{Pipeline: "join-b", Task: 3, Epoch: 9}
	claimOne(t, r, e(5), "a", 1)
	if err := r.Confirm(ctx, e(5)); err != nil {
		t.Fatal(err)
	}
	claimOne(t, r, e(6), "b", 1)
	if err := r.Confirm(ctx, e(6)); err != nil { // confirmed, but manifest 6 never written
		t.Fatal(err)
	}
	claimOne(t, r, e(7), "c", 1)
	if err := r.Recover(ctx, "join", 3, 5); err != nil {
		t.Fatal(err)
	}
	if got := claimOne(t, r, other, "b", 1); got.Outcome != Lost || got.Holder != e(6) {
		t.Fatalf("another pipeline claims b: %+v", got)
	}
	for _, name := range []string{"c", "b"} { // the replay puts both in epoch 6
		if got := claimOne(t, r, e(6), name, 1); got.Outcome != Won {
			t.Fatalf("replay claims %s: %+v", name, got)
		}
	}
	if got := claimOne(t, r, e(6), "a", 1); got.Outcome != Lost || got.Holder != e(5) {
		t.Fatalf("replay claims a (committed in epoch 5): %+v", got)
	}
	if err := r.Confirm(ctx, e(6)); err != nil {
		t.Fatal(err)
	}
}
