package kafka

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CoPartitionProtocol is the group protocol name CoPartitionBalancer joins with. Every member of
// a group must offer it: the coordinator only picks a protocol all members support.
const CoPartitionProtocol = "glint-copartition"

// CoPartitionBalancer returns a cooperative, sticky group balancer that assigns by partition
// NUMBER: partition p of every topic the group consumes goes to the same member, the owner of p.
// A Glint task owns partition p of every input of its job (a join reads impressions/3 and
// clicks/3 in task 3), which kgo's per-partition balancers do not guarantee.
//
//   - Co-partitioned: the unit of assignment is a partition number. Topics with fewer partitions
//     simply have no partition p; the owner of p gets p of every topic that has it.
//   - Balanced: members own partition-number counts that differ by at most one.
//   - Sticky: a member keeps the partition numbers it reported owning wherever balance allows; with
//     members subscribed to the same topics, the count of partition numbers that change hands
//     between remaining members is the minimum any balanced assignment allows.
//   - Cooperative (KIP-429): members report what they own in the join metadata (OwnedPartitions
//     and the generation, as cooperative-sticky does) and keep consuming during a rebalance. A
//     partition number that moves is first revoked by its old owner and handed to its new owner
//     only in the follow-up rebalance; while any member still holds some partition numbered p
//     that it is giving up, no other member is handed any partition numbered p, so partition p
//     of two topics is never split between members, not even for one round.
//
// A member may own partition number p only if it subscribes to every topic that has a partition
// p. Members of one job subscribe to the same topics, so this only bites while subscriptions
// differ (a rolling change of a job's inputs): members lacking a topic then get fewer numbers,
// and numbers no member can take whole are split per topic among the members subscribed to each
// topic, so nothing goes unconsumed.
//
// The balancer is stateless and safe for concurrent use.
func CoPartitionBalancer() kgo.GroupBalancer { return coPartitionBalancer{} }

type coPartitionBalancer struct{}

var (
	_ kgo.GroupBalancer           = coPartitionBalancer{}
	_ kgo.ConsumerBalancerBalance = coPartitionBalancer{}
)

func (coPartitionBalancer) ProtocolName() string { return CoPartitionProtocol }

func (coPartitionBalancer) IsCooperative() bool { return true }

// JoinGroupMetadata encodes the consumer protocol metadata exactly as kgo's cooperative-sticky
// balancer does: version 3 with OwnedPartitions and Generation, and the same data in sticky
// UserData. The output is deterministic (topics and partitions sorted) because the coordinator
// compares it to decide whether a rejoin changes anything.
func (coPartitionBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	sticky := kmsg.NewStickyMemberMetadata()
	sticky.Generation = generation

	topics := make([]string, 0, len(current))
	for t, ps := range current {
		if len(ps) > 0 {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	for _, t := range topics {
		ps := slices.Sorted(slices.Values(current[t]))
		owned := kmsg.NewConsumerMemberMetadataOwnedPartition()
		owned.Topic, owned.Partitions = t, ps
		meta.OwnedPartitions = append(meta.OwnedPartitions, owned)
		cur := kmsg.NewStickyMemberMetadataCurrentAssignment()
		cur.Topic, cur.Partitions = t, ps
		sticky.CurrentAssignment = append(sticky.CurrentAssignment, cur)
	}
	meta.UserData = sticky.AppendTo(nil)
	return meta.AppendTo(nil)
}

func (coPartitionBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b coPartitionBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// Balance computes the target assignment, holds back partitions whose number is still held by a
// member giving it up, and finally runs kgo's own AdjustCooperative over the result. Ours already
// removes everything AdjustCooperative would (it is a superset of its rule), so that last step is
// a safety net that cannot add anything.
func (coPartitionBalancer) Balance(cb *kgo.ConsumerBalancer, counts map[string]int32) kgo.IntoSyncAssignment {
	members := make([]coMember, 0, len(cb.Members()))
	cb.EachMember(func(_ *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		members = append(members, coMemberFromMeta(meta))
	})
	next := holdBackMoving(planCoPartition(members, counts), members, counts)

	plan := cb.NewPlan()
	for i, assigned := range next {
		member, _ := cb.MemberAt(i)
		for t, ps := range assigned {
			plan.AddPartitions(member, t, ps)
		}
	}
	plan.AdjustCooperative(cb)
	return plan
}

func coMemberFromMeta(meta *kmsg.ConsumerMemberMetadata) coMember {
	owned := make(map[string][]int32, len(meta.OwnedPartitions))
	for _, o := range meta.OwnedPartitions {
		owned[o.Topic] = append(owned[o.Topic], o.Partitions...)
	}
	return coMember{topics: meta.Topics, owned: owned, generation: meta.Generation}
}

// coMember is one group member as the planner sees it. Members are identified by their index
// in the slice handed to the planner (kgo sorts them by instance ID, then member ID).
type coMember struct {
	topics     []string           // subscribed topics
	owned      map[string][]int32 // what the member reports owning from its last session
	generation int32              // the generation it owned that in; -1 if none
}

// coPlan is an assignment: per member (same index as the input), topic → ascending partitions.
type coPlan []map[string][]int32

type coTP struct {
	topic     string
	partition int32
}

// coView is what planning and holding back derive from the members and partition counts.
type coView struct {
	topics []string         // group topics: subscribed by a member and having partitions; sorted
	counts map[string]int32 // partitions of each group topic
	units  int32            // partition numbers in play: the largest partition count
	subs   []map[string]bool
	// needFrom[m] is the lowest partition number m may own whole: a topic m does not subscribe to
	// has partitions 0..count-1, so m can own p only from that count up.
	needFrom []int32
	gens     []int32
	claims   []map[coTP]bool // in-range partitions of group topics each member claims to own
	maxGen   map[coTP]int32  // highest generation any member claims each partition at
}

func newCoView(members []coMember, counts map[string]int32) *coView {
	v := &coView{
		counts:   make(map[string]int32),
		subs:     make([]map[string]bool, len(members)),
		needFrom: make([]int32, len(members)),
		gens:     make([]int32, len(members)),
		claims:   make([]map[coTP]bool, len(members)),
		maxGen:   make(map[coTP]int32),
	}
	for m, mem := range members {
		v.subs[m] = make(map[string]bool, len(mem.topics))
		v.gens[m] = mem.generation
		for _, t := range mem.topics {
			v.subs[m][t] = true
			if n := counts[t]; n > 0 && v.counts[t] == 0 {
				v.counts[t] = n
				v.topics = append(v.topics, t)
				v.units = max(v.units, n)
			}
		}
	}
	slices.Sort(v.topics)
	for m, mem := range members {
		for _, t := range v.topics {
			if !v.subs[m][t] {
				v.needFrom[m] = max(v.needFrom[m], v.counts[t])
			}
		}
		v.claims[m] = make(map[coTP]bool)
		for t, ps := range mem.owned {
			n := v.counts[t] // zero for topics outside the group: claims on them are ignored
			for _, p := range ps {
				if p < 0 || p >= n {
					continue
				}
				x := coTP{t, p}
				v.claims[m][x] = true
				if g, ok := v.maxGen[x]; !ok || mem.generation > g {
					v.maxGen[x] = mem.generation
				}
			}
		}
	}
	return v
}

func (v *coView) eligible(m int, p int32) bool { return p >= v.needFrom[m] }

// validClaim reports whether m really owns x: it claims x and no member claims x at a strictly
// higher generation (KIP-792: a member that missed rebalances rejoins with a stale claim).
func (v *coView) validClaim(m int, x coTP) bool {
	return v.claims[m][x] && v.gens[m] >= v.maxGen[x]
}

// planCoPartition returns the target assignment: where every partition should end up once the
// cooperative rounds are done. Every partition of a group topic is assigned exactly once, to a
// member subscribed to its topic.
func planCoPartition(members []coMember, counts map[string]int32) coPlan {
	v := newCoView(members, counts)
	unit, split := v.assign()
	plan := make(coPlan, len(members))
	for m := range plan {
		plan[m] = make(map[string][]int32)
	}
	for p := range v.units {
		for _, t := range v.topics {
			if p >= v.counts[t] {
				continue
			}
			m := unit[p]
			if m < 0 {
				m = split[coTP{t, p}]
			}
			plan[m][t] = append(plan[m][t], p)
		}
	}
	return plan
}

// previousOwners returns, per partition number, the member that owned it (-1: nobody): among
// members with valid claims on some partition numbered p and allowed to own p, the highest
// generation wins, then the most partitions of p claimed, then the lowest index.
func (v *coView) previousOwners() []int {
	prev := make([]int, v.units)
	gen := make([]int32, v.units)
	held := make([]int, v.units)
	for p := range prev {
		prev[p] = -1
	}
	for m := range v.claims {
		perUnit := make(map[int32]int)
		for x := range v.claims[m] {
			if v.validClaim(m, x) {
				perUnit[x.partition]++
			}
		}
		for p, k := range perUnit {
			if !v.eligible(m, p) {
				continue
			}
			if prev[p] < 0 || v.gens[m] > gen[p] || (v.gens[m] == gen[p] && k > held[p]) {
				prev[p], gen[p], held[p] = m, v.gens[m], k
			}
		}
	}
	return prev
}

// assign gives every partition number an owner. unit[p] is the member owning p whole, or -1 when
// no member may own p whole; split then names an owner per partition numbered p.
//
// Quotas: the A numbers that have an eligible owner are spread over the n members that may own
// any: A/n each, and A%n of them one more. The extra ones go to the members that held the most,
// and each member keeps its lowest-numbered held numbers up to its quota; the rest go to the
// eligible member furthest below quota. Giving the larger quotas to the larger holders maximises
// the sum over members of min(held, quota), which is the number of numbers kept: so no balanced
// assignment moves fewer numbers (the tests check this against brute force).
func (v *coView) assign() (unit []int, split map[coTP]int) {
	n := len(v.subs)
	unit = make([]int, v.units)
	for p := range unit {
		unit[p] = -1
	}
	minNeed := v.units
	var able []int // members that may own some number, ascending
	for m := range n {
		minNeed = min(minNeed, v.needFrom[m])
		if v.needFrom[m] < v.units {
			able = append(able, m)
		}
	}
	count := make([]int32, n)
	if len(able) > 0 {
		prev := v.previousOwners()
		held := make([]int, n)
		for _, m := range prev {
			if m >= 0 {
				held[m]++
			}
		}
		order := slices.Clone(able)
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(held[b], held[a]) })
		total := v.units - minNeed
		base, extra := total/int32(len(able)), total%int32(len(able))
		quota := make([]int32, n)
		for i, m := range order {
			quota[m] = base
			if int32(i) < extra {
				quota[m]++
			}
		}
		for p, m := range prev {
			if m >= 0 && count[m] < quota[m] {
				unit[p] = m
				count[m]++
			}
		}
		for p := minNeed; p < v.units; p++ {
			if unit[p] >= 0 {
				continue
			}
			best := -1
			for _, m := range able {
				if v.eligible(m, p) && (best < 0 || coFitter(m, best, count, quota)) {
					best = m
				}
			}
			unit[p] = best
			count[best]++
		}
	}
	if minNeed > 0 {
		split = v.splitUnowned(minNeed, count)
	}
	return unit, split
}

// coFitter reports whether m is a better home than best for one more number: below quota first,
// then fewer numbers. Callers go through members in ascending order, so ties keep the lower.
func coFitter(m, best int, count, quota []int32) bool {
	if mu, bu := count[m] < quota[m], count[best] < quota[best]; mu != bu {
		return mu
	}
	return count[m] < count[best]
}

// splitUnowned assigns the partitions of numbers below minNeed, which no member may own whole,
// topic by topic: to the subscriber validly owning it, else to the least loaded subscriber.
func (v *coView) splitUnowned(minNeed int32, count []int32) map[coTP]int {
	split := make(map[coTP]int)
	lastP := make([]int32, len(count))
	for m := range lastP {
		lastP[m] = -1
	}
	for p := range minNeed {
		for _, t := range v.topics {
			if p >= v.counts[t] {
				continue
			}
			x, best, owner := coTP{t, p}, -1, -1
			for m := range v.subs {
				if !v.subs[m][t] {
					continue
				}
				if owner < 0 && v.validClaim(m, x) {
					owner = m
				}
				if best < 0 || count[m] < count[best] {
					best = m
				}
			}
			if owner >= 0 {
				best = owner
			}
			split[x] = best
			if lastP[best] != p {
				lastP[best] = p
				count[best]++
			}
		}
	}
	return split
}

// holdBackMoving returns what to hand out this round, a subset of target. A member that does not
// yet validly own a partition numbered p gets it only once no other member still holds any
// partition numbered p that target takes away from it; until then it waits for the follow-up
// rebalance that the revoking member triggers by rejoining. kgo's AdjustCooperative holds back
// only the very partition being revoked; holding back the whole number keeps p of all topics
// together while it moves.
func holdBackMoving(target coPlan, members []coMember, counts map[string]int32) coPlan {
	v := newCoView(members, counts)
	planned := make(map[coTP]int)
	for m, assigned := range target {
		for t, ps := range assigned {
			for _, p := range ps {
				planned[coTP{t, p}] = m
			}
		}
	}
	giving := make(map[int32][]int) // partition number → members giving up some partition of it
	for m := range v.claims {
		for x := range v.claims[m] {
			if to, ok := planned[x]; ok && to == m {
				continue
			}
			if g := giving[x.partition]; len(g) == 0 || g[len(g)-1] != m {
				giving[x.partition] = append(g, m)
			}
		}
	}
	next := make(coPlan, len(target))
	for m, assigned := range target {
		next[m] = make(map[string][]int32, len(assigned))
		for t, ps := range assigned {
			kept := make([]int32, 0, len(ps))
			for _, p := range ps {
				if !v.validClaim(m, coTP{t, p}) && slices.ContainsFunc(giving[p], func(o int) bool { return o != m }) {
					continue
				}
				kept = append(kept, p)
			}
			if len(kept) > 0 {
				next[m][t] = kept
			}
		}
	}
	return next
}
