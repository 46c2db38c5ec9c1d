package registry

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goroutines returns the stacks of the running goroutines by id.
func goroutines() map[int][]byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[int][]byte{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// "goroutine 123 [state]:"
		f := bytes.Fields(g)
		if len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(string(f[1])); err == nil {
			out[id] = g
		}
	}
	return out
}

// leftGoroutines lists goroutines started since before (a goroutines result) that run code
// of the registry, raft or gRPC, other than the calling test's.
func leftGoroutines(before map[int][]byte) [][]byte {
	var left [][]byte
	for id, g := range goroutines() {
		if _, ok := before[id]; ok || bytes.Contains(g, []byte("registry.TestClose")) {
			continue
		}
		for _, pkg := range []string{"glint/registry.", "hashicorp/raft", "google.golang.org/grpc"} {
			if bytes.Contains(g, []byte(pkg)) {
				left = append(left, g)
				break
			}
		}
	}
	return left
}

// TestCloseLeavesNoGoroutines: closing nodes and clients, even while claims are in flight and
// after a leader was killed under load, ends every goroutine they started: raft's, the
// transport's (connections serving other nodes included), the proposer's and gRPC's.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := goroutines()
	tm := fastTiming
	if raceEnabled {
		tm = raceTiming
	}
	c := newCluster(t, 3, tm, func(cfg *Config) {
		// The node's own TCP transport, as in production (the test's closes first, freeing
		// the port).
		cfg.Transport.(io.Closer).Close()
		cfg.Transport = nil
	})
	cl, err := Dial(c.apiAddrs(), WithCallTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cl.Claim(context.Background(), Token{Pipeline: "leak", Task: uint32(w)}, freshIDs(50, time.Now().UnixMilli()))
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c.kill(c.leader()) // with entries in flight
	time.Sleep(500 * time.Millisecond)
	c.closeAll() // the others, while claims still arrive
	cl.Close()
	close(stop)
	wg.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		left := leftGoroutines(before)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n\n%s", len(left), bytes.Join(left, []byte("\n\n")))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseEmbeddedLeavesNoGoroutines: the same for an embedded registry closed with claims
// in flight.
func TestCloseEmbeddedLeavesNoGoroutines(t *testing.T) {
	before := goroutines()
	e, err := StartEmbedded(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := e.Claim(context.Background(), Token{Pipeline: "leak", Task: uint32(w)}, freshIDs(50, time.Now().UnixMilli())); err != nil {
					return // closed
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	e.Close()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := leftGoroutines(before)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n\n%s", len(left), bytes.Join(left, []byte("\n\n")))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
