package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcatPath finds kcat (Debian's `kcat`, librdkafka): a second Kafka client that shares no code
// with franz-go. CI sets GLINT_REQUIRE_KCAT=1 so a missing kcat fails instead of skipping.
func kcatPath(t *testing.T) string {
	p, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("GLINT_REQUIRE_KCAT") == "1" {
			t.Fatal("kcat is required (GLINT_REQUIRE_KCAT=1) but not installed: apt-get install kcat")
		}
		t.Skip("kcat not installed (apt-get install kcat); set GLINT_REQUIRE_KCAT=1 to require it")
	}
	return p
}

// TestKcatInAndOut: kcat writes the input, glint runs to the end, kcat reads the output back.
func TestKcatInAndOut(t *testing.T) {
	kcat := kcatPath(t)
	addr := testBroker(t)
	createTopic(t, addr, "reactions", 3)

	// Input through kcat: key<TAB>value lines.
	evs := genEvents(11, 3000)
	var in bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&in, "%s\t%s\n", e.key, e.value)
	}
	cmd := exec.Command(kcat, "-b", addr, "-P", "-t", "reactions", "-K", "\t", "-z", "snappy")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	job, err := Parse("kcat.yaml", []byte(strings.Replace(emojiJob, "name: e2e", "name: kcat", 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Run(ctx, testEnv(t), job, RunOptions{Brokers: []string{addr}, UntilEnd: true, MetricsListen: "off"}); err != nil {
		t.Fatal(err)
	}

	// Output through kcat, read_committed, to the end: one JSON row per line.
	cmd = exec.Command(kcat, "-b", addr, "-C", "-t", "counts", "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%k\t%s\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v", err)
	}
	// The same rows the reference computes for the partitions the records landed in. kcat and
	// franz-go may partition differently (librdkafka's default is consistent_random, crc32),
	// so read the partitions back rather than assume them.
	parts := partitionsOf(t, addr, "reactions", evs)
	wantRows, _, _ := reference(evs, parts, 2000, 5000, 2000)
	var got []outRow
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		key, val, _ := strings.Cut(line, "\t")
		var o outRow
		if err := json.Unmarshal([]byte(val), &o); err != nil {
			t.Fatalf("kcat read %q: %v", line, err)
		}
		if key != o.Match {
			t.Fatalf("key %q for match %q", key, o.Match)
		}
		got = append(got, o)
	}
	sortRows(got)
	sortRows(wantRows)
	if fmt.Sprint(got) != fmt.Sprint(wantRows) {
		t.Fatalf("kcat read %d rows, want %d; first got %v", len(got), len(wantRows), got[:min(3, len(got))])
	}
}

// partitionsOf finds the partition each event landed in by reading the topic back.
func partitionsOf(t *testing.T, addr, topic string, evs []event) []int32 {
	recs := consumeAll(t, addr, topic)
	at := map[string]int32{}
	for _, r := range recs {
		at[string(r.Value)] = r.Partition
	}
	parts := make([]int32, len(evs))
	// Records of one partition are in produce order: events are unique by value (event_id).
	for i, e := range evs {
		p, ok := at[string(e.value)]
		if !ok {
			t.Fatalf("event %d not found in %s", i, topic)
		}
		parts[i] = p
	}
	return parts
}
