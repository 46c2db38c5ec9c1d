package crashtest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
)

// cluster is the embedded broker of one test, on a free loopback port, and an admin client.
type cluster struct {
	addr string
	adm  *kadm.Client
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kafka.NewClient([]string{b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := &cluster{addr: b.Addr(), adm: kadm.NewClient(cl)}
	// GLINT_CRASH_TXN_VERSION sets the broker's transaction.version feature: 2 (the default,
	// KIP-890: every transaction ends with a new producer epoch) or 0 (Kafka before 4.0: one
	// epoch for all the transactions of a producer session).
	if v := os.Getenv("GLINT_CRASH_TXN_VERSION"); v != "" {
		level, err := strconv.Atoi(v)
		if err != nil || level < 0 || level > 2 {
			t.Fatalf("GLINT_CRASH_TXN_VERSION=%q: want 0, 1 or 2", v)
		}
		r, err := c.adm.UpdateFeatures(context.Background(), false,
			kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: int16(level), UpgradeType: 3})
		if err == nil {
			err = r["transaction.version"].Err
		}
		if err != nil {
			t.Fatalf("setting the broker's transaction.version to %d: %v", level, err)
		}
		t.Logf("broker transaction.version set to %d", level)
	}
	return c
}

func (c *cluster) createTopic(t *testing.T, topic string, parts int32) {
	t.Helper()
	if err := kafka.EnsureTopics(context.Background(), c.adm, parts, topic); err != nil {
		t.Fatal(err)
	}
}

// ends returns the last stable offsets (what a read_committed reader can read up to) of
// topic's partitions; empty while the topic does not exist.
func (c *cluster) ends(topic string) map[int32]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := kafka.EndOffsets(ctx, c.adm, topic)
	if err != nil {
		return map[int32]int64{}
	}
	return e[topic]
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// assignment describes group: its state and each member's partitions of topic, by member id.
func (c *cluster) assignment(group, topic string) (state string, members map[string][]int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", nil
	}
	d := ds[group]
	if d.Err != nil {
		return "", nil
	}
	members = map[string][]int32{}
	for _, m := range d.Members {
		var ps []int32
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, at := range a.Topics {
				if at.Topic == topic {
					ps = append(ps, at.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		members[m.MemberID] = ps
	}
	return d.State, members
}

// waitAssigned waits until group is stable with n members that each own at least one
// partition and together own all parts partitions of topic, and returns the assignment.
func (c *cluster) waitAssigned(t *testing.T, group, topic string, n int, parts int32, alive func() error) map[string][]int32 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		state, members := c.assignment(group, topic)
		if state == "Stable" && len(members) == n {
			owned := map[int32]bool{}
			ok := true
			for _, ps := range members {
				ok = ok && len(ps) > 0
				for _, p := range ps {
					owned[p] = true
				}
			}
			if ok && len(owned) == int(parts) {
				return members
			}
		}
		if err := alive(); err != nil {
			t.Fatalf("waiting for %d members of %s to own every partition: %v", n, group, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: not %d members owning all %d partitions after 2 minutes (state %q, %v)", group, n, parts, state, members)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeAll reads every record of topic with a read_committed consumer, from the start up to
// the current last stable offsets. Offsets are followed, not counted: transaction markers and
// aborted records occupy offsets too.
func (c *cluster) consumeAll(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kafka.NewClient([]string{c.addr}, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	left := map[int32]int64{}
	for p, e := range c.ends(topic) {
		if e > 0 {
			left[p] = e
		}
	}
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions %v not read to their end", topic, slices.Sorted(maps.Keys(left)))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if e, ok := left[r.Partition]; ok && r.Offset+1 >= e {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// txnHistory lists the transactions in partition p of a dead-letter topic as written, aborted
// ones included (read_uncommitted): each run of records of one producer and epoch, the input
// offsets its records came from (the glint.offset header), and the marker that ended it. It
// shows which input a committed transaction covered when output is duplicated.
func (c *cluster) txnHistory(t *testing.T, topic string, p int32) string {
	t.Helper()
	cl, err := kafka.NewClient([]string{c.addr}, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lo, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err.Error()
	}
	end, _ := lo.Lookup(topic, p)
	var b strings.Builder
	type run struct {
		pid         int64
		epoch       int16
		first, last int64
		n           int
		inLo, inHi  string
	}
	var cur *run
	flush := func(marker string) {
		if cur != nil {
			fmt.Fprintf(&b, "\n  producer %d epoch %d: offsets %d..%d, %d records from input offsets %s..%s: %s",
				cur.pid, cur.epoch, cur.first, cur.last, cur.n, cur.inLo, cur.inHi, marker)
		}
		cur = nil
	}
	for next := int64(0); next < end.Offset; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			fmt.Fprintf(&b, "\n  (read stopped at offset %d of %d)", next, end.Offset)
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				marker := "ABORT"
				if len(r.Key) >= 4 && r.Key[3] == 1 {
					marker = "COMMIT"
				}
				flush(fmt.Sprintf("%s at %d", marker, r.Offset))
				return
			}
			if cur == nil || cur.pid != r.ProducerID || cur.epoch != r.ProducerEpoch {
				flush("(no marker)")
				in := kafka.Header(r, kafka.HeaderOffset)
				cur = &run{pid: r.ProducerID, epoch: r.ProducerEpoch, first: r.Offset, inLo: in}
			}
			cur.last, cur.inHi = r.Offset, kafka.Header(r, kafka.HeaderOffset)
			cur.n++
		})
	}
	flush("(open)")
	return b.String()
}

// openTransactions lists the partitions of topic whose last stable offset is below the high
// watermark: a transaction is still open there, and a read_committed reader cannot see past it.
func (c *cluster) openTransactions(t *testing.T, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hw, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for p, lso := range c.ends(topic) {
		if h, ok := hw.Lookup(topic, p); ok && h.Offset > lso {
			open = append(open, fmt.Sprintf("%s[%d]: last stable offset %d, high watermark %d", topic, p, lso, h.Offset))
		}
	}
	slices.Sort(open)
	return open
}
