package pipeline

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// A task that falls behind has fetching paused once; it resumes once the queue is drained, and
// a pause can never come after the resume that should follow it.
func TestInboxBackpressure(t *testing.T) {
	var mu sync.Mutex
	var events []string
	b := &inbox{}
	b.init()
	b.pause = func() { mu.Lock(); events = append(events, "pause"); mu.Unlock() }
	b.resume = func() { mu.Lock(); events = append(events, "resume"); mu.Unlock() }
	paused := 0
	for range inboxHighWater + 3 {
		if b.push(batch{}) {
			paused++
		}
	}
	if paused != 1 {
		t.Fatalf("paused %d times, want once", paused)
	}
	if q := b.take(); len(q) != inboxHighWater+3 {
		t.Fatalf("took %d batches", len(q))
	}
	if q := b.take(); len(q) != 0 {
		t.Fatal("queue not empty")
	}
	if strings.Join(events, ",") != "pause,resume" {
		t.Fatalf("events %v, want pause then resume", events)
	}
	// Concurrent pushes and takes: pauses and resumes alternate, starting with a pause.
	events = nil
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20000 {
			b.push(batch{})
		}
	}()
	for range 20000 {
		b.take()
	}
	wg.Wait()
	for len(b.take()) > 0 {
	}
	mu.Lock()
	defer mu.Unlock()
	for i, e := range events {
		if want := []string{"pause", "resume"}[i%2]; e != want {
			t.Fatalf("event %d is %s, want %s: %v", i, e, want, events[:i+1])
		}
	}
	if len(events)%2 != 0 {
		t.Fatalf("left paused: %v", events[len(events)-3:])
	}
}

// The Prometheus endpoint serves the job's metrics, and a busy port falls back to a free one.
func TestMetricsEndpoint(t *testing.T) {
	m := NewMetrics("mjob")
	m.RecordsIn.WithLabelValues("3").Add(42)
	env := testEnv(t)
	stop, addr := serveMetricsAddr(env, m, "127.0.0.1:0")
	defer stop()
	// The same address again is busy: the second server must fall back to a free port.
	stop2, addr2 := serveMetricsAddr(env, m, addr)
	if stop2 == nil || addr2 == addr {
		t.Fatalf("a busy metrics port gave %q instead of falling back", addr2)
	}
	defer stop2()
	resp, err := http.Get("http://" + addr2 + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `glint_records_in_total{job="mjob",task="3"} 42`) {
		t.Fatalf("metrics output lacks the counter:\n%s", body)
	}
}
