package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/glintstream/glint/connector/kafka"
)

// TestTwoWorkersCoPartitioned: two workers of a job with two inputs share its partitions so
// that one worker owns partition p of BOTH inputs (task p reads them together); the broker's
// view of the group is checked after each join and leave.
func TestTwoWorkersCoPartitioned(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 6)
	createTopic(t, addr, "reactions2", 6)
	second := strings.Replace(emojiJob[strings.Index(emojiJob, "  - topic: reactions"):strings.Index(emojiJob, "pipeline:")],
		"topic: reactions", "name: more\n    topic: reactions2", 1)
	src := strings.Replace(emojiJob, "pipeline:", second+"pipeline:", 1)
	src = strings.Replace(src, "name: e2e", "name: twoin\ngroup: {session_timeout: 2s, heartbeat_interval: 200ms}", 1)
	job, err := Parse("twoin.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// settled waits until the group is stable with n members and returns who owns what.
	settled := func(n int) map[string]map[int32][]string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			gs, err := adm.DescribeGroups(context.Background(), "twoin")
			if err != nil {
				continue
			}
			g := gs["twoin"]
			if g.State != "Stable" || len(g.Members) != n {
				continue
			}
			owners := map[string]map[int32][]string{} // member -> partition -> topics
			total := 0
			for _, m := range g.Members {
				as, ok := m.Assigned.AsConsumer()
				if !ok {
					t.Fatalf("member %s has no consumer assignment", m.MemberID)
				}
				owners[m.MemberID] = map[int32][]string{}
				for _, tp := range as.Topics {
					for _, p := range tp.Partitions {
						owners[m.MemberID][p] = append(owners[m.MemberID][p], tp.Topic)
						total++
					}
				}
			}
			if total != 12 {
				continue // a cooperative rebalance is still handing partitions over
			}
			if g.Protocol != kafka.CoPartitionProtocol {
				t.Fatalf("group protocol %q, want %q", g.Protocol, kafka.CoPartitionProtocol)
			}
			return owners
		}
		t.Fatalf("group did not settle with %d members", n)
		return nil
	}
	check := func(owners map[string]map[int32][]string) {
		t.Helper()
		for m, ps := range owners {
			for p, topics := range ps {
				if len(topics) != 2 {
					t.Fatalf("member %s owns partition %d of %v only: the inputs are split across workers", m, p, topics)
				}
			}
		}
		t.Logf("%v", owners)
	}

	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, MetricsListen: "off"}) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		}
	}
	stop1 := run()
	check(settled(1))
	stop2 := run()
	owners := settled(2)
	check(owners)
	for m, ps := range owners {
		if len(ps) != 3 {
			t.Fatalf("member %s owns %d partition numbers, want 3 of 6: %v", m, len(ps), fmt.Sprint(owners))
		}
	}
	stop1()
	check(settled(1))
	stop2()
}

// TestGroupSessionTimeoutRefused: a session timeout the broker does not allow stops the job
// with an error that names the setting, instead of retrying forever.
func TestGroupSessionTimeoutRefused(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 2)
	src := strings.Replace(emojiJob, "name: e2e", "name: longsession\ngroup: {session_timeout: 2h}", 1)
	job, err := Parse("longsession.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, MetricsListen: "off"})
	if err == nil || !strings.Contains(err.Error(), "group.session_timeout 2h0m0s is outside the range the broker allows") {
		t.Fatalf("want an error naming group.session_timeout, got %v", err)
	}
}

// TestOffsetsCommittedWhileIdle: once input stops, the group's committed offsets still reach
// the end of the input (the last checkpoint's offsets), so lag tooling shows no stale lag.
func TestOffsetsCommittedWhileIdle(t *testing.T) {
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 4)
	parts := produce(t, addr, "reactions", genEvents(66, 5_000))
	ends := map[int32]int64{}
	for _, p := range parts {
		ends[p]++
	}
	src := strings.Replace(emojiJob, "name: e2e", "name: idle", 1) + "checkpoint: {interval: 100ms, storage: " + t.TempDir() + "}\n"
	job, err := Parse("idle.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, MetricsListen: "off"}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	cl, err := kafka.NewClient([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last kadm.OffsetResponses
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		last, err = adm.FetchOffsets(context.Background(), "idle")
		if err != nil {
			continue
		}
		caught := true
		for p, end := range ends {
			o, ok := last.Lookup("reactions", p)
			caught = caught && ok && o.At == end
		}
		if caught {
			return
		}
	}
	t.Fatalf("committed offsets did not reach the end of input %v while the job idled: %v", ends, last)
}
