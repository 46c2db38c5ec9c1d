package kafka

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ---- helpers over plans ----

// sameSubs returns n members subscribed to the same topics, owning nothing.
func sameSubs(n int, topics ...string) []coMember {
	ms := make([]coMember, n)
	for i := range ms {
		ms[i] = coMember{topics: topics, generation: -1}
	}
	return ms
}

// unitsOf returns, per member, the sorted partition numbers it holds any partition of.
func unitsOf(plan coPlan) [][]int32 {
	out := make([][]int32, len(plan))
	for m, assigned := range plan {
		set := map[int32]bool{}
		for _, ps := range assigned {
			for _, p := range ps {
				set[p] = true
			}
		}
		out[m] = slices.Sorted(maps.Keys(set))
	}
	return out
}

// checkTarget asserts that plan assigns every partition of every topic in counts exactly once,
// that all partitions numbered p sit on one member, and that members hold partition-number
// counts within one of each other. All members must subscribe to every topic in counts.
func checkTarget(t *testing.T, plan coPlan, counts map[string]int32) {
	t.Helper()
	seen := map[coTP]int{}
	unitOwner := map[int32]int{}
	for m, assigned := range plan {
		for topic, ps := range assigned {
			if !slices.IsSorted(ps) {
				t.Errorf("member %d %s partitions not sorted: %v", m, topic, ps)
			}
			for _, p := range ps {
				if p < 0 || p >= counts[topic] {
					t.Errorf("member %d got %s/%d, out of range (count %d)", m, topic, p, counts[topic])
				}
				x := coTP{topic, p}
				if o, dup := seen[x]; dup {
					t.Errorf("%s/%d assigned to members %d and %d", topic, p, o, m)
				}
				seen[x] = m
				if o, ok := unitOwner[p]; ok && o != m {
					t.Errorf("partition number %d split between members %d and %d", p, o, m)
				}
				unitOwner[p] = m
			}
		}
	}
	for topic, n := range counts {
		for p := range n {
			if _, ok := seen[coTP{topic, p}]; !ok {
				t.Errorf("%s/%d assigned to nobody", topic, p)
			}
		}
	}
	lo, hi := -1, -1
	for _, us := range unitsOf(plan) {
		if lo < 0 || len(us) < lo {
			lo = len(us)
		}
		hi = max(hi, len(us))
	}
	if hi-lo > 1 {
		t.Errorf("unbalanced: members hold %v partition numbers", unitsOf(plan))
	}
}

// ownedFrom turns a plan into the owned maps the members report at the next join.
func ownedFrom(plan coPlan, gen int32, members []coMember) []coMember {
	out := slices.Clone(members)
	for m := range out {
		out[m].owned = plan[m]
		out[m].generation = gen
	}
	return out
}

// unitMoves counts partition numbers that a member of before (indexes mapped by keep: index in
// before → index in after, or -1 when it left) held and that another member holds after.
func unitMoves(before, after coPlan, keep []int) int {
	owner := map[int32]int{}
	for m, us := range unitsOf(after) {
		for _, p := range us {
			owner[p] = m
		}
	}
	moves := 0
	for m, us := range unitsOf(before) {
		if keep[m] < 0 {
			continue
		}
		for _, p := range us {
			if owner[p] != keep[m] {
				moves++
			}
		}
	}
	return moves
}

// ---- pure tests of the plan ----

func TestCoPartitionPlanCoversAndBalances(t *testing.T) {
	cases := []struct {
		members int
		counts  map[string]int32
	}{
		{1, map[string]int32{"a": 6, "b": 6}},
		{2, map[string]int32{"a": 6, "b": 6}},
		{3, map[string]int32{"a": 6, "b": 6}},
		{4, map[string]int32{"a": 6, "b": 6}},
		{5, map[string]int32{"a": 12, "b": 12, "c": 12}},
		{3, map[string]int32{"a": 8, "b": 3, "c": 5}},
		{4, map[string]int32{"a": 1, "b": 7}},
		{7, map[string]int32{"a": 5, "b": 4}}, // more members than partition numbers
		{2, map[string]int32{"only": 9}},
		{6, map[string]int32{"a": 64, "b": 16, "c": 1}},
	}
	for _, c := range cases {
		topics := slices.Sorted(maps.Keys(c.counts))
		t.Run(fmt.Sprintf("%dmembers/%v", c.members, c.counts), func(t *testing.T) {
			plan := planCoPartition(sameSubs(c.members, topics...), c.counts)
			checkTarget(t, plan, c.counts)
			// Partition number p of every topic that has it is on the owner of p.
			units := unitsOf(plan)
			for m, us := range units {
				for _, p := range us {
					for _, topic := range topics {
						if p < c.counts[topic] && !slices.Contains(plan[m][topic], p) {
							t.Errorf("member %d owns number %d but not %s/%d", m, p, topic, p)
						}
					}
				}
			}
		})
	}
}

func TestCoPartitionPlanDeterministic(t *testing.T) {
	counts := map[string]int32{"a": 9, "b": 6}
	ms := sameSubs(4, "a", "b")
	first := planCoPartition(ms, counts)
	for range 20 {
		if got := planCoPartition(ms, counts); !plansEqual(got, first) {
			t.Fatalf("plan changed between identical calls: %v then %v", first, got)
		}
	}
}

func plansEqual(a, b coPlan) bool {
	return slices.EqualFunc(a, b, func(x, y map[string][]int32) bool {
		return maps.EqualFunc(x, y, slices.Equal[[]int32])
	})
}

func TestCoPartitionPlanStickyGrowAndShrink(t *testing.T) {
	// Grow a group from 1 to 6 members and back, feeding each plan back in as what the members
	// own. Adding a member to a balanced group must move exactly floor(units/(n+1)) numbers (the
	// newcomer's share, which can only come from the others); removing one must move none of the
	// remaining members' numbers (only the leaver's numbers find new homes).
	for _, counts := range []map[string]int32{
		{"a": 6, "b": 6},
		{"a": 12, "b": 5, "c": 8},
		{"a": 7},
	} {
		units := int32(0)
		for _, n := range counts {
			units = max(units, n)
		}
		topics := slices.Sorted(maps.Keys(counts))
		t.Run(fmt.Sprint(counts), func(t *testing.T) {
			members := sameSubs(1, topics...)
			plan := planCoPartition(members, counts)
			gen := int32(1)
			for n := 1; n < 6; n++ {
				members = append(ownedFrom(plan, gen, members), coMember{topics: topics, generation: -1})
				gen++
				next := planCoPartition(members, counts)
				checkTarget(t, next, counts)
				keep := make([]int, n)
				for i := range keep {
					keep[i] = i
				}
				if got, want := unitMoves(plan, next, keep), int(units)/(n+1); got != want {
					t.Errorf("adding member %d moved %d numbers, want %d: %v -> %v", n+1, got, want, unitsOf(plan), unitsOf(next))
				}
				plan = next
			}
			for len(members) > 1 {
				// Remove a middle member (index 1) so indexes shift.
				n := len(members)
				members = ownedFrom(plan, gen, members)
				gen++
				left := slices.Delete(slices.Clone(members), 1, 2)
				next := planCoPartition(left, counts)
				checkTarget(t, next, counts)
				keep := make([]int, n)
				for i := range keep {
					keep[i] = i
					if i == 1 {
						keep[i] = -1
					} else if i > 1 {
						keep[i] = i - 1
					}
				}
				if got := unitMoves(plan, next, keep); got != 0 {
					t.Errorf("removing a member of %d moved %d numbers between the others: %v -> %v", n, got, unitsOf(plan), unitsOf(next))
				}
				members, plan = left, next
			}
		})
	}
}

func TestCoPartitionPlanHonoursOwned(t *testing.T) {
	counts := map[string]int32{"a": 6, "b": 6}
	// A balanced, interleaved ownership is kept exactly.
	owned := []map[string][]int32{
		{"a": {0, 3}, "b": {0, 3}},
		{"a": {1, 4}, "b": {1, 4}},
		{"a": {2, 5}, "b": {2, 5}},
	}
	members := sameSubs(3, "a", "b")
	for m := range members {
		members[m].owned, members[m].generation = owned[m], 4
	}
	plan := planCoPartition(members, counts)
	checkTarget(t, plan, counts)
	for m := range plan {
		if !maps.EqualFunc(plan[m], owned[m], slices.Equal[[]int32]) {
			t.Errorf("member %d: got %v, owned %v", m, plan[m], owned[m])
		}
	}

	// A member that owned only one topic of a number (say, a topic added to the job) still
	// counts as its owner and gets the whole number.
	members = sameSubs(2, "a", "b")
	members[0].owned, members[0].generation = map[string][]int32{"a": {1, 2, 4}}, 2
	members[1].owned, members[1].generation = map[string][]int32{"a": {0, 3, 5}}, 2
	plan = planCoPartition(members, counts)
	checkTarget(t, plan, counts)
	if got := unitsOf(plan); !slices.Equal(got[0], []int32{1, 2, 4}) || !slices.Equal(got[1], []int32{0, 3, 5}) {
		t.Errorf("numbers %v, want [[1 2 4] [0 3 5]]", got)
	}

	// A stale claim (lower generation, KIP-792) loses to the current owner: member 1 rejoins
	// claiming everything from generation 3 while member 0 owns 0..2 at generation 5.
	members = sameSubs(2, "a", "b")
	members[0].owned, members[0].generation = map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, 5
	members[1].owned, members[1].generation = map[string][]int32{"a": {0, 1, 2, 3, 4, 5}, "b": {0, 1, 2, 3, 4, 5}}, 3
	plan = planCoPartition(members, counts)
	checkTarget(t, plan, counts)
	if got := unitsOf(plan); !slices.Equal(got[0], []int32{0, 1, 2}) || !slices.Equal(got[1], []int32{3, 4, 5}) {
		t.Errorf("numbers %v, want [[0 1 2] [3 4 5]]", got)
	}

	// Claims outside the group's topics or range, or negative, are ignored.
	members = sameSubs(2, "a", "b")
	members[0].owned, members[0].generation = map[string][]int32{"a": {-1, 6, 99}, "zz": {0, 1, 2, 3}}, 2
	members[1].owned, members[1].generation = map[string][]int32{"b": {0, 1, 2, 3, 4}}, 2
	plan = planCoPartition(members, counts)
	checkTarget(t, plan, counts)
	if got := unitsOf(plan); !slices.Equal(got[1], []int32{0, 1, 2}) {
		t.Errorf("member 1 numbers %v, want it to keep the first three it held: [0 1 2]", got[1])
	}
}

// bruteMinMoves is the naive reference: the fewest numbers that change hands between present
// members over every balanced assignment of units numbers to n members.
func bruteMinMoves(units, n int, prev []int) int {
	owner := make([]int, units)
	best := units + 1
	var rec func(p int)
	rec = func(p int) {
		if p == units {
			cnt := make([]int, n)
			moves := 0
			for q, m := range owner {
				cnt[m]++
				if prev[q] >= 0 && prev[q] != m {
					moves++
				}
			}
			if slices.Max(cnt)-slices.Min(cnt) <= 1 {
				best = min(best, moves)
			}
			return
		}
		for m := range n {
			owner[p] = m
			rec(p + 1)
		}
	}
	rec(0)
	return best
}

func TestCoPartitionPlanMinimalMovesAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 400 {
		n := 1 + rng.IntN(4)
		units := 1 + rng.IntN(7)
		counts := map[string]int32{"a": int32(units), "b": int32(1 + rng.IntN(units))}
		members := sameSubs(n, "a", "b")
		prev := make([]int, units)
		for p := range prev {
			prev[p] = -1
			r := rng.IntN(n + 2) // n+1: nobody; n: a member that left (absent from the input)
			if r >= n {
				continue
			}
			prev[p] = r
			if members[r].owned == nil {
				members[r].owned, members[r].generation = map[string][]int32{}, 3
			}
			members[r].owned["a"] = append(members[r].owned["a"], int32(p))
			if int32(p) < counts["b"] && rng.IntN(3) > 0 {
				members[r].owned["b"] = append(members[r].owned["b"], int32(p))
			}
		}
		plan := planCoPartition(members, counts)
		checkTarget(t, plan, counts)
		moves := 0
		for m, us := range unitsOf(plan) {
			for _, p := range us {
				if prev[p] >= 0 && prev[p] != m {
					moves++
				}
			}
		}
		if want := bruteMinMoves(units, n, prev); moves != want {
			t.Fatalf("case %d: %d members, %d numbers, previous owners %v: plan %v moves %d, brute force minimum %d",
				i, n, units, prev, unitsOf(plan), moves, want)
		}
	}
}

func TestCoPartitionPlanDifferingSubscriptions(t *testing.T) {
	// Member 2 does not read b, which has partitions 0 and 1: it can own numbers 2 and 3 only.
	counts := map[string]int32{"a": 4, "b": 2}
	members := []coMember{
		{topics: []string{"a", "b"}, generation: -1},
		{topics: []string{"a", "b"}, generation: -1},
		{topics: []string{"a"}, generation: -1},
	}
	plan := planCoPartition(members, counts)
	checkTarget(t, plan, counts)
	for _, p := range unitsOf(plan)[2] {
		if p < 2 {
			t.Errorf("member 2 (no b) got number %d, which has a b partition: %v", p, plan)
		}
	}

	// Nobody reads both topics: numbers cannot stay whole, but every partition is still owned
	// once, by a member that reads its topic.
	counts = map[string]int32{"a": 3, "b": 3}
	members = []coMember{
		{topics: []string{"a"}, generation: -1},
		{topics: []string{"b"}, generation: -1},
	}
	plan = planCoPartition(members, counts)
	want := coPlan{{"a": {0, 1, 2}}, {"b": {0, 1, 2}}}
	if !plansEqual(plan, want) {
		t.Errorf("split plan %v, want %v", plan, want)
	}

	// A topic nobody subscribes to, or without partitions, is not balanced.
	plan = planCoPartition(sameSubs(2, "a"), map[string]int32{"a": 2, "other": 5})
	checkTarget(t, plan, map[string]int32{"a": 2})
	plan = planCoPartition(sameSubs(2, "a", "empty"), map[string]int32{"a": 2, "empty": 0})
	checkTarget(t, plan, map[string]int32{"a": 2})
}

// ---- the balancer through kgo's encoding, and simulated cooperative rounds ----

type simMember struct {
	id     string
	topics []string
	owned  map[string][]int32
	gen    int32
}

// balanceVia runs one leader balance exactly as kgo does: every member's JoinGroupMetadata is
// decoded by MemberBalancer, BalanceOrError plans, and each SyncGroup assignment is parsed back
// by ParseSyncAssignment.
func balanceVia(t testing.TB, members []simMember, counts map[string]int32) (map[string]map[string][]int32, error) {
	t.Helper()
	b := CoPartitionBalancer()
	join := make([]kmsg.JoinGroupResponseMember, 0, len(members))
	for _, m := range members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.ProtocolMetadata = b.JoinGroupMetadata(slices.Clone(m.topics), maps.Clone(m.owned), m.gen)
		join = append(join, jm)
	}
	return balanceJoin(b, join, counts)
}

func balanceJoin(b kgo.GroupBalancer, join []kmsg.JoinGroupResponseMember, counts map[string]int32) (map[string]map[string][]int32, error) {
	slices.SortFunc(join, func(x, y kmsg.JoinGroupResponseMember) int { return cmp.Compare(x.MemberID, y.MemberID) })
	mb, _, err := b.MemberBalancer(join)
	if err != nil {
		return nil, err
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(counts)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string][]int32{}
	for _, a := range into.IntoSyncAssignment() {
		got, err := b.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			return nil, err
		}
		out[a.MemberID] = got
	}
	return out, nil
}

func simToCo(members []simMember) []coMember {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(x, y simMember) int { return cmp.Compare(x.id, y.id) })
	out := make([]coMember, len(sorted))
	for i, m := range sorted {
		out[i] = coMember{topics: m.topics, owned: m.owned, generation: m.gen}
	}
	return out
}

// simValidClaim reports whether members[i] owns x: it claims x and nobody claims x at a higher
// generation.
func simValidClaim(members []simMember, i int, x coTP) bool {
	if !slices.Contains(members[i].owned[x.topic], x.partition) {
		return false
	}
	for _, o := range members {
		if o.gen > members[i].gen && slices.Contains(o.owned[x.topic], x.partition) {
			return false
		}
	}
	return true
}

func numbersHeld(assigned map[string][]int32) map[int32]bool {
	out := map[int32]bool{}
	for _, ps := range assigned {
		for _, p := range ps {
			out[p] = true
		}
	}
	return out
}

// simulate drives cooperative rounds the way kgo members do: each round every member receives
// its assignment, revokes what it lost, and rejoins reporting what it kept; a round in which
// nobody revoked anything ends the rebalance (nobody rejoins). It checks that no member is ever
// handed a partition whose number another member still holds, that everything revoked is
// revoked in the first round and is exactly what the first round's target takes away, plus
// stale claims (so the
// rebalance takes two rounds at most: revoke, then assign), and that the group settles on a
// complete, co-partitioned, balanced assignment. It returns the number of rounds, the settled
// assignment and, per member, every partition it revoked.
//
// Partition numbers that nobody holds in a round may be placed differently from the first
// round's target (quotas and tie-breaks see the new holdings); that moves nothing anyone owns.
func simulate(t *testing.T, members []simMember, counts map[string]int32, gen int32) (rounds int, final map[string]map[string][]int32, revoked map[string]map[coTP]bool) {
	t.Helper()
	co := simToCo(members)
	target := planCoPartition(co, counts)
	// The first round takes away what the target does not leave with its holder, and stale
	// claims (a higher generation claims the partition too): those holders must give way first.
	wantRevoked := map[string]map[coTP]bool{}
	sortedMembers := slices.SortedFunc(slices.Values(members), func(x, y simMember) int { return cmp.Compare(x.id, y.id) })
	for i, m := range sortedMembers {
		for topic, ps := range m.owned {
			for _, p := range ps {
				kept := slices.Contains(target[i][topic], p) && simValidClaim(sortedMembers, i, coTP{topic, p})
				if p >= 0 && p < counts[topic] && !kept {
					if wantRevoked[m.id] == nil {
						wantRevoked[m.id] = map[coTP]bool{}
					}
					wantRevoked[m.id][coTP{topic, p}] = true
				}
			}
		}
	}
	revoked = map[string]map[coTP]bool{}
	for rounds = 1; rounds <= 4; rounds++ {
		got, err := balanceVia(t, members, counts)
		if err != nil {
			t.Fatal(err)
		}
		anyLost := false
		handed := map[coTP]string{}
		for i, m := range members {
			next := got[m.id]
			for topic, ps := range next {
				for _, p := range ps {
					x := coTP{topic, p}
					if o, dup := handed[x]; dup {
						t.Errorf("round %d: %s/%d handed to %s and %s", rounds, topic, p, o, m.id)
					}
					handed[x] = m.id
					if simValidClaim(members, i, x) {
						continue // it already owned it: nothing changes hands
					}
					for j, o := range members {
						if j != i && numbersHeld(o.owned)[p] {
							t.Errorf("round %d: %s handed %s/%d while %s still holds number %d (%v)", rounds, m.id, topic, p, o.id, p, o.owned)
						}
					}
				}
			}
			for topic, ps := range m.owned {
				for _, p := range ps {
					if p < 0 || p >= counts[topic] || slices.Contains(next[topic], p) {
						continue
					}
					anyLost = true
					if rounds > 1 {
						t.Errorf("round %d: %s revoked %s/%d; only the first round may revoke", rounds, m.id, topic, p)
					}
					if revoked[m.id] == nil {
						revoked[m.id] = map[coTP]bool{}
					}
					revoked[m.id][coTP{topic, p}] = true
				}
			}
		}
		for i := range members {
			members[i].owned, members[i].gen = got[members[i].id], gen
		}
		gen++
		if !anyLost {
			final = got
			break
		}
	}
	if final == nil {
		t.Fatalf("no stable assignment after %d rounds", rounds-1)
	}
	if !maps.EqualFunc(revoked, wantRevoked, maps.Equal[map[coTP]bool]) {
		t.Errorf("revoked %v, but the first round's target takes away %v", revoked, wantRevoked)
	}
	// Liveness: once nobody revokes, nothing may be left held back.
	sorted := simToCo(members)
	plan := make(coPlan, len(sorted))
	for i := range sorted {
		plan[i] = sorted[i].owned
	}
	checkTarget(t, plan, counts)
	return rounds, final, revoked
}

func TestCoPartitionCooperativeRounds(t *testing.T) {
	ab := []string{"a", "b"}
	counts := map[string]int32{"a": 6, "b": 6}
	all := map[string][]int32{"a": {0, 1, 2, 3, 4, 5}, "b": {0, 1, 2, 3, 4, 5}}

	t.Run("second member joins", func(t *testing.T) {
		members := []simMember{{id: "m1", topics: ab, owned: all, gen: 1}, {id: "m2", topics: ab, gen: -1}}
		rounds, final, revoked := simulate(t, members, counts, 2)
		if rounds != 2 {
			t.Errorf("took %d rounds, want 2 (revoke, then assign)", rounds)
		}
		if len(revoked["m1"]) != 6 { // 3 numbers × 2 topics
			t.Errorf("m1 revoked %v, want the 6 partitions of 3 numbers", revoked["m1"])
		}
		if len(numbersHeld(final["m1"])) != 3 || len(numbersHeld(final["m2"])) != 3 {
			t.Errorf("final %v", final)
		}
	})
	t.Run("third member joins", func(t *testing.T) {
		members := []simMember{
			{id: "m1", topics: ab, owned: map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, gen: 4},
			{id: "m2", topics: ab, owned: map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, gen: 4},
			{id: "m3", topics: ab, gen: -1},
		}
		rounds, _, revoked := simulate(t, members, counts, 5)
		if rounds != 2 || len(revoked["m1"]) != 2 || len(revoked["m2"]) != 2 {
			t.Errorf("rounds %d, revoked %v: want 2 rounds, one number (2 partitions) from each", rounds, revoked)
		}
	})
	t.Run("member leaves", func(t *testing.T) {
		members := []simMember{
			{id: "m1", topics: ab, owned: map[string][]int32{"a": {0, 1}, "b": {0, 1}}, gen: 6},
			{id: "m2", topics: ab, owned: map[string][]int32{"a": {3, 4}, "b": {3, 4}}, gen: 6},
		}
		rounds, final, revoked := simulate(t, members, counts, 7)
		if rounds != 1 || len(revoked) != 0 {
			t.Errorf("rounds %d, revoked %v: a leave needs one round and no revocation", rounds, revoked)
		}
		if len(final["m1"]["a"]) != 3 || len(final["m2"]["a"]) != 3 {
			t.Errorf("final %v", final)
		}
	})
	t.Run("topic grows", func(t *testing.T) {
		members := []simMember{
			{id: "m1", topics: ab, owned: map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, gen: 4},
			{id: "m2", topics: ab, owned: map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, gen: 4},
		}
		rounds, _, revoked := simulate(t, members, map[string]int32{"a": 8, "b": 6}, 5)
		if rounds != 1 || len(revoked) != 0 {
			t.Errorf("rounds %d, revoked %v: new numbers 6 and 7 need no revocation", rounds, revoked)
		}
	})
	t.Run("stale claimant rejoins", func(t *testing.T) {
		// m2 missed generations 4..5 and still claims 3..5 at generation 3; m3 owns them now. The
		// plan may hand numbers back to m2, but never while m3 still holds them.
		members := []simMember{
			{id: "m1", topics: ab, owned: map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, gen: 6},
			{id: "m2", topics: ab, owned: map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, gen: 3},
			{id: "m3", topics: ab, owned: map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, gen: 6},
		}
		simulate(t, members, counts, 7)
	})
	t.Run("free numbers and a member over quota", func(t *testing.T) {
		// Number 0's owner left, w holds four numbers (quota 3) and gives up 4. The first round
		// hands free 0 to y and holds back 4 (still with w); the second places 4 with whoever
		// is then below quota. Either way only w revokes, once, and only number 4.
		eight := map[string]int32{"a": 8, "b": 8}
		members := []simMember{
			{id: "m0y", topics: ab, owned: map[string][]int32{"a": {7}, "b": {7}}, gen: 4},
			{id: "m1x", topics: ab, owned: map[string][]int32{"a": {5, 6}, "b": {5, 6}}, gen: 4},
			{id: "m2w", topics: ab, owned: map[string][]int32{"a": {1, 2, 3, 4}, "b": {1, 2, 3, 4}}, gen: 4},
		}
		rounds, _, revoked := simulate(t, members, eight, 5)
		want := map[string]map[coTP]bool{"m2w": {{"a", 4}: true, {"b", 4}: true}}
		if rounds != 2 || !maps.EqualFunc(revoked, want, maps.Equal[map[coTP]bool]) {
			t.Errorf("rounds %d, revoked %v; want 2 rounds and only %v", rounds, revoked, want)
		}
	})
	t.Run("new topic joins the job", func(t *testing.T) {
		// The job gains input c: its partitions go with the numbers' owners straight away.
		abc := []string{"a", "b", "c"}
		members := []simMember{
			{id: "m1", topics: abc, owned: map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, gen: 4},
			{id: "m2", topics: abc, owned: map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, gen: 4},
		}
		rounds, final, _ := simulate(t, members, map[string]int32{"a": 6, "b": 6, "c": 6}, 5)
		if rounds != 1 || !slices.Equal(final["m1"]["c"], []int32{0, 1, 2}) {
			t.Errorf("rounds %d, final %v", rounds, final)
		}
	})
}

// TestCoPartitionHoldBackWholeNumber shows where holding back per number differs from kgo's
// per-partition AdjustCooperative: number 2's b partition is unowned (b was just added), but
// its a partition is still with m1, so m2 must wait for both.
func TestCoPartitionHoldBackWholeNumber(t *testing.T) {
	counts := map[string]int32{"a": 4, "b": 4}
	members := []simMember{
		{id: "m1", topics: []string{"a", "b"}, owned: map[string][]int32{"a": {0, 1, 2, 3}}, gen: 2},
		{id: "m2", topics: []string{"a", "b"}, gen: -1},
	}
	got, err := balanceVia(t, members, counts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got["m2"]) != 0 {
		t.Errorf("m2 handed %v while m1 still holds a/2 and a/3", got["m2"])
	}
	if want := map[string][]int32{"a": {0, 1}, "b": {0, 1}}; !maps.EqualFunc(got["m1"], want, slices.Equal[[]int32]) {
		t.Errorf("m1 got %v, want %v", got["m1"], want)
	}
}

// TestCoPartitionHoldBackStaleClaim checks holding back on its own (without kgo's
// AdjustCooperative behind it): member 1 missed rebalances and still claims numbers 3..5 from
// generation 3, which member 2 owns at generation 6. The target hands number 5 back to member 1,
// but its stale claim must not count as owning it while member 2 still holds it.
func TestCoPartitionHoldBackStaleClaim(t *testing.T) {
	counts := map[string]int32{"a": 6, "b": 6}
	members := sameSubs(3, "a", "b")
	members[0].owned, members[0].generation = map[string][]int32{"a": {0, 1, 2}, "b": {0, 1, 2}}, 6
	members[1].owned, members[1].generation = map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, 3
	members[2].owned, members[2].generation = map[string][]int32{"a": {3, 4, 5}, "b": {3, 4, 5}}, 6
	target := planCoPartition(members, counts)
	checkTarget(t, target, counts)
	if got := unitsOf(target); !slices.Equal(got[1], []int32{2, 5}) {
		t.Fatalf("target numbers %v: want member 1 to get 2 and 5 (the scenario needs it)", got)
	}
	next := holdBackMoving(target, members, counts)
	want := coPlan{
		{"a": {0, 1}, "b": {0, 1}},
		{},
		{"a": {3, 4}, "b": {3, 4}},
	}
	if !plansEqual(next, want) {
		t.Errorf("first round %v, want %v", next, want)
	}
}

func TestCoPartitionJoinMetadata(t *testing.T) {
	b := CoPartitionBalancer()
	if b.ProtocolName() != CoPartitionProtocol || !b.IsCooperative() {
		t.Fatalf("protocol %q cooperative %v", b.ProtocolName(), b.IsCooperative())
	}
	owned := map[string][]int32{"b": {4, 1}, "a": {2}, "empty": nil}
	raw := b.JoinGroupMetadata([]string{"a", "b"}, owned, 9)
	for range 10 {
		again := b.JoinGroupMetadata([]string{"a", "b"}, map[string][]int32{"a": {2}, "b": {4, 1}}, 9)
		if string(again) != string(raw) {
			t.Fatal("join metadata is not deterministic")
		}
	}
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if meta.Version != 3 || meta.Generation != 9 || !slices.Equal(meta.Topics, []string{"a", "b"}) {
		t.Errorf("metadata %+v", meta)
	}
	if len(meta.OwnedPartitions) != 2 || meta.OwnedPartitions[0].Topic != "a" ||
		!slices.Equal(meta.OwnedPartitions[1].Partitions, []int32{1, 4}) {
		t.Errorf("owned %+v", meta.OwnedPartitions)
	}
	var sticky kmsg.StickyMemberMetadata
	if err := sticky.ReadFrom(meta.UserData); err != nil {
		t.Fatal(err)
	}
	if sticky.Generation != 9 || len(sticky.CurrentAssignment) != 2 {
		t.Errorf("sticky userdata %+v", sticky)
	}

	// What MemberBalancer reports as the group's topics is the union of interests.
	var join []kmsg.JoinGroupResponseMember
	for i, topics := range [][]string{{"a", "b"}, {"c"}} {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = fmt.Sprint("m", i)
		jm.ProtocolMetadata = b.JoinGroupMetadata(topics, nil, -1)
		join = append(join, jm)
	}
	_, topics, err := b.MemberBalancer(join)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("group topics %v", got)
	}
	bad := kmsg.NewJoinGroupResponseMember()
	bad.MemberID, bad.ProtocolMetadata = "x", []byte{0, 9, 1}
	if _, _, err := b.MemberBalancer([]kmsg.JoinGroupResponseMember{bad}); err == nil {
		t.Error("garbage member metadata decoded without error")
	}
}

// FuzzCoPartitionBalance builds a group from the input: up to four members with arbitrary
// subscriptions, generations and claims (out of range, negative, duplicated, stale), partition
// counts from 0 to 9, and optionally raw bytes as one member's metadata. Whatever the input, the
// balancer must not fail on well-formed metadata, must hand out each partition at most once and
// only to a subscriber, and its target must assign everything once; when subscriptions agree,
// the target must be co-partitioned and balanced and simulated cooperative rounds must keep
// numbers whole and settle on it.
func FuzzCoPartitionBalance(f *testing.F) {
	f.Add([]byte{2, 6, 6, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte(nil))
	f.Add([]byte{3, 8, 3, 5, 7, 1, 200, 7, 7, 9, 1, 0, 255, 4, 4}, []byte(nil))
	f.Add([]byte{4, 1, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, []byte{0, 3, 0, 0})
	f.Add([]byte{1, 0, 0, 0}, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data, raw []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		topicNames := []string{"a", "b", "c"}
		n := 1 + int(next()%4)
		counts := map[string]int32{}
		for _, topic := range topicNames {
			counts[topic] = int32(next() % 10)
		}
		members := make([]simMember, n)
		uniform := true
		for i := range members {
			subs := next()%7 + 1 // non-empty subset of a, b, c
			var topics []string
			for j, topic := range topicNames {
				if subs&(1<<j) != 0 {
					topics = append(topics, topic)
				}
			}
			if i > 0 && !slices.Equal(topics, members[0].topics) {
				uniform = false
			}
			owned := map[string][]int32{}
			for range int(next() % 8) {
				topic := topicNames[int(next())%3]
				owned[topic] = append(owned[topic], int32(int8(next()))%12)
			}
			members[i] = simMember{id: fmt.Sprint("m", i), topics: topics, owned: owned, gen: int32(int8(next())) % 8}
		}
		b := CoPartitionBalancer()
		var join []kmsg.JoinGroupResponseMember
		for _, m := range members {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = m.id
			jm.ProtocolMetadata = b.JoinGroupMetadata(m.topics, m.owned, m.gen)
			join = append(join, jm)
		}
		if raw != nil {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = "raw"
			jm.ProtocolMetadata = slices.Clone(raw)
			join = append(join, jm)
		}
		got, err := balanceJoin(b, join, counts)
		if err != nil {
			if raw != nil {
				return // the raw member's bytes did not decode: that is the error
			}
			t.Fatalf("balance failed on well-formed metadata: %v", err)
		}
		subscribed := func(id, topic string) bool {
			if id == "raw" {
				return true // kgo decodes it leniently (see NewConsumerBalancer); range is checked below
			}
			for _, m := range members {
				if m.id == id {
					return slices.Contains(m.topics, topic)
				}
			}
			return false
		}
		seen := map[coTP]string{}
		for id, assigned := range got {
			for topic, ps := range assigned {
				if !subscribed(id, topic) {
					t.Fatalf("%s got %s, which it does not subscribe to", id, topic)
				}
				for _, p := range ps {
					if p < 0 || p >= counts[topic] {
						t.Fatalf("%s got %s/%d out of range", id, topic, p)
					}
					if o, dup := seen[coTP{topic, p}]; dup {
						t.Fatalf("%s/%d handed to %s and %s", topic, p, o, id)
					}
					seen[coTP{topic, p}] = id
				}
			}
		}
		if raw != nil {
			return
		}
		co := simToCo(members)
		target := planCoPartition(co, counts)
		groupCounts := map[string]int32{}
		for _, m := range co {
			for _, topic := range m.topics {
				if counts[topic] > 0 {
					groupCounts[topic] = counts[topic]
				}
			}
		}
		if uniform {
			checkTarget(t, target, groupCounts)
			// From whatever the members claimed, cooperative rounds never hand out a number
			// still held elsewhere and settle on the first round's target.
			simulate(t, members, groupCounts, 100)
			return
		}
		assigned := map[coTP]bool{}
		for m, plan := range target {
			for topic, ps := range plan {
				if !slices.Contains(co[m].topics, topic) {
					t.Fatalf("target gives member %d topic %s it does not subscribe to", m, topic)
				}
				for _, p := range ps {
					if assigned[coTP{topic, p}] {
						t.Fatalf("target assigns %s/%d twice", topic, p)
					}
					assigned[coTP{topic, p}] = true
				}
			}
		}
		for topic, c := range groupCounts {
			for p := range c {
				if !assigned[coTP{topic, p}] {
					t.Fatalf("target leaves %s/%d unassigned", topic, p)
				}
			}
		}
	})
}

// ---- live: real kgo consumers in one group against kfake over TCP ----

// ownership records what one consumer owns through its group callbacks.
type ownership struct {
	mu struct {
		sync.Mutex
		owned   map[coTP]bool
		revokes []map[coTP]bool // each non-empty revocation, in order
		lostAll bool            // a revocation took everything the member owned
		lost    int             // OnPartitionsLost calls with partitions
	}
}

func newOwnership() *ownership {
	o := &ownership{}
	o.mu.owned = map[coTP]bool{}
	return o
}

func (o *ownership) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for topic, ps := range m {
		for _, p := range ps {
			o.mu.owned[coTP{topic, p}] = true
		}
	}
}

func (o *ownership) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rev := map[coTP]bool{}
	for topic, ps := range m {
		for _, p := range ps {
			rev[coTP{topic, p}] = true
		}
	}
	if len(rev) == 0 {
		return
	}
	if len(rev) >= len(o.mu.owned) {
		o.mu.lostAll = true
	}
	o.mu.revokes = append(o.mu.revokes, rev)
	for x := range rev {
		delete(o.mu.owned, x)
	}
}

func (o *ownership) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(m) > 0 {
		o.mu.lost++
	}
}

// snapshot returns what the consumer owns and how many revocations it has seen.
func (o *ownership) snapshot() (map[coTP]bool, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.mu.owned), len(o.mu.revokes)
}

// revokedSince returns every partition revoked after the first n revocations, and whether any
// revocation (ever) took all the member owned.
func (o *ownership) revokedSince(n int) (map[coTP]bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[coTP]bool{}
	for _, r := range o.mu.revokes[n:] {
		maps.Copy(out, r)
	}
	return out, o.mu.lostAll
}

type liveConsumer struct {
	cl  *kgo.Client
	own *ownership
}

func TestCoPartitionLiveGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("live group rebalances take seconds")
	}
	broker, err := StartBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	addr := broker.Addr()
	const group = "copartition-live"
	topics := []string{"clicks", "impressions"}
	counts := map[string]int32{"clicks": 6, "impressions": 6}

	admCl, err := NewClient([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, adm, 6, topics...); err != nil {
		t.Fatal(err)
	}

	join := func() *liveConsumer {
		own := newOwnership()
		cl, err := NewClient([]string{addr},
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topics...),
			kgo.Balancers(CoPartitionBalancer()),
			kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.OnPartitionsAssigned(own.assigned),
			kgo.OnPartitionsRevoked(own.revoked),
			kgo.OnPartitionsLost(own.lost),
		)
		if err != nil {
			t.Fatal(err)
		}
		c := &liveConsumer{cl: cl, own: own}
		t.Cleanup(cl.Close)
		return c
	}

	// settle waits until the broker reports a stable group of exactly these consumers on our
	// protocol, each consumer's callbacks agree with what the broker assigned it, and every
	// partition is owned exactly once; then it checks co-partitioning and balance.
	settle := func(step string, live []*liveConsumer) []map[coTP]bool {
		t.Helper()
		var why string
		for ctx.Err() == nil {
			owned, ok := func() ([]map[coTP]bool, bool) {
				described, err := adm.DescribeGroups(ctx, group)
				if err != nil {
					why = err.Error()
					return nil, false
				}
				g := described[group]
				if g.State != "Stable" || g.Protocol != CoPartitionProtocol || len(g.Members) != len(live) {
					why = fmt.Sprintf("group %s, protocol %q, %d members", g.State, g.Protocol, len(g.Members))
					return nil, false
				}
				byID := map[string]map[coTP]bool{}
				for _, m := range g.Members {
					a, ok := m.Assigned.AsConsumer()
					if !ok {
						why = "assignment not of the consumer protocol"
						return nil, false
					}
					set := map[coTP]bool{}
					for _, at := range a.Topics {
						for _, p := range at.Partitions {
							set[coTP{at.Topic, p}] = true
						}
					}
					byID[m.MemberID] = set
				}
				var out []map[coTP]bool
				total := 0
				for i, c := range live {
					id, _ := c.cl.GroupMetadata()
					mine, _ := c.own.snapshot()
					if broker, ok := byID[id]; !ok || !maps.Equal(broker, mine) {
						why = fmt.Sprintf("consumer %d's callbacks (%v) lag the broker's assignment (%v)", i, mine, broker)
						return nil, false
					}
					out = append(out, mine)
					total += len(mine)
				}
				if total != 12 {
					why = fmt.Sprintf("%d of 12 partitions owned (a cooperative round in flight)", total)
					return nil, false
				}
				return out, true
			}()
			if ok {
				plan := make(coPlan, len(owned))
				for i, set := range owned {
					plan[i] = map[string][]int32{}
					for _, x := range slices.SortedFunc(maps.Keys(set), func(a, b coTP) int { return int(a.partition - b.partition) }) {
						plan[i][x.topic] = append(plan[i][x.topic], x.partition)
					}
				}
				checkTarget(t, plan, counts)
				t.Logf("%s: %v", step, unitsOf(plan))
				return owned
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: group did not settle: %s", step, why)
		return nil
	}

	// incremental asserts that consumer c, since mark, revoked exactly before−after, never
	// gained or regained anything, never had everything revoked at once, and revoked wantMoved
	// partitions.
	incremental := func(step string, c *liveConsumer, mark int, before, after map[coTP]bool, wantMoved int) {
		t.Helper()
		rev, lostAll := c.own.revokedSince(mark)
		if lostAll {
			t.Errorf("%s: a revocation took everything the consumer owned (eager, not incremental)", step)
		}
		for x := range after {
			if !before[x] {
				t.Errorf("%s: a remaining member gained %v; it should only give up", step, x)
			}
			if rev[x] {
				t.Errorf("%s: %v was revoked and handed back; only moving partitions may be revoked", step, x)
			}
		}
		for x := range before {
			if !after[x] && !rev[x] {
				t.Errorf("%s: %v left the consumer without a revocation", step, x)
			}
		}
		if len(rev) != wantMoved {
			t.Errorf("%s: revoked %d partitions (%v), want %d", step, len(rev), rev, wantMoved)
		}
	}

	c1 := join()
	owned := settle("one member", []*liveConsumer{c1})
	if len(owned[0]) != 12 {
		t.Fatalf("a lone member owns %d partitions, want 12", len(owned[0]))
	}

	_, mark1 := c1.own.snapshot()
	before1 := owned[0]
	c2 := join()
	owned = settle("two members", []*liveConsumer{c1, c2})
	incremental("second join, member 1", c1, mark1, before1, owned[0], 6) // 3 numbers × 2 topics

	_, mark1 = c1.own.snapshot()
	_, mark2 := c2.own.snapshot()
	before1, before2 := owned[0], owned[1]
	c3 := join()
	owned = settle("three members", []*liveConsumer{c1, c2, c3})
	incremental("third join, member 1", c1, mark1, before1, owned[0], 2)
	incremental("third join, member 2", c2, mark2, before2, owned[1], 2)

	_, mark1 = c1.own.snapshot()
	_, mark3 := c3.own.snapshot()
	kept1, kept3 := owned[0], owned[2]
	c2.cl.Close()
	owned = settle("member 2 left", []*liveConsumer{c1, c3})
	for i, c := range []*liveConsumer{c1, c3} {
		mark, kept := mark1, kept1
		if i == 1 {
			mark, kept = mark3, kept3
		}
		rev, lostAll := c.own.revokedSince(mark)
		if len(rev) != 0 || lostAll {
			t.Errorf("leave: remaining member revoked %v; it should only gain", rev)
		}
		for x := range kept {
			if !owned[i][x] {
				t.Errorf("leave: remaining member lost %v", x)
			}
		}
	}
	for i, c := range []*liveConsumer{c1, c2, c3} {
		c.own.mu.Lock()
		lost := c.own.mu.lost
		c.own.mu.Unlock()
		if lost != 0 {
			t.Errorf("consumer %d lost partitions %d times (fenced or timed out)", i+1, lost)
		}
	}
}

// BenchmarkCoPartitionBalance times one leader balance through kgo's decoding: 32 members that
// each own their share of three 256-partition topics, plus one newcomer. kgo's
// cooperative-sticky balancer on the same group is the reference.
func BenchmarkCoPartitionBalance(b *testing.B) {
	counts := map[string]int32{"a": 256, "b": 256, "c": 256}
	topics := []string{"a", "b", "c"}
	members := make([]simMember, 33)
	for i := range members {
		members[i] = simMember{id: fmt.Sprintf("m%02d", i), topics: topics, owned: map[string][]int32{}, gen: 9}
	}
	for p := range int32(256) {
		m := &members[p%32]
		for _, topic := range topics {
			m.owned[topic] = append(m.owned[topic], p)
		}
	}
	members[32].owned, members[32].gen = nil, -1
	for _, bal := range []kgo.GroupBalancer{CoPartitionBalancer(), kgo.CooperativeStickyBalancer()} {
		b.Run(bal.ProtocolName(), func(b *testing.B) {
			var join []kmsg.JoinGroupResponseMember
			for _, m := range members {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID = m.id
				jm.ProtocolMetadata = bal.JoinGroupMetadata(topics, m.owned, m.gen)
				join = append(join, jm)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := balanceJoin(bal, join, counts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
