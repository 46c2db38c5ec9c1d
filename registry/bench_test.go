package registry

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// BenchmarkRegistry measures, in one run, on 3-node clusters on loopback with fsync
// (raft-wal), 200 ms raft timeouts:
//
//   - raw-raft: the ceiling: bare hashicorp/raft, BatchApplyCh, entries of 1000 16-byte ids,
//     16 applies in flight, an FSM that only counts.
//   - claims/batch=N: the registry through its gRPC client, many goroutines each claiming N
//     fresh ids per call; ids/s, its ratio to raw-raft, p50/p99 call latency, the process's
//     CPU time per id, and elections during the run (each one stalls claims).
//   - raw-raft-paced/100k: the latency ceiling: bare raft, as raw-raft, applying one entry of
//     100 ids at a time at 100 k ids/s, open loop: p50/p99 latency.
//   - paced/100k: 100-id claims at 100 k ids/s, open loop: p50/p99 latency, and the p99's
//     ratio to raw-raft-paced's (measured just before, under the same load).
//   - failover: a client claiming in a loop while the leader is killed: time from the kill
//     to the first claim served by a new leader.
//   - growing/batch=10000: claims/batch=10000 on a fresh cluster whose tables start empty
//     (no ExpectedClaims): what filling a registry costs (page splits, fresh memory).
//
// The main cluster keeps 5 s of event time and is sized for it as Config.ExpectedClaims
// advises (ids/s × retention): a registry in its steady state. ns/op is per id (per failover
// for failover). The machine is shared: compare ratios and CPU per id across runs, e.g.
//
//	go test -run XXX -bench BenchmarkRegistry -benchtime 2s ./registry/
func BenchmarkRegistry(b *testing.B) {
	var raw float64
	b.Run("raw-raft", func(b *testing.B) { raw = benchRawRaft(b) })
	// Event times are the wall clock and retention is short, so the registry stays at a
	// steady size (old ids are swept) instead of growing for the whole run.
	c := newCluster(b, 3, fastTiming, func(cfg *Config) {
		cfg.Retention, cfg.ExpectedClaims = benchRetention, benchExpectedClaims
	})
	claims := func(c *testCluster, batch int) func(b *testing.B) {
		return func(b *testing.B) {
			c.waitApplied() // start from a settled cluster: followers may still apply the last run
			idsPerSec := benchClaims(b, c, batch)
			if raw > 0 {
				b.ReportMetric(idsPerSec/raw, "ratio-to-raw")
			}
		}
	}
	for _, batch := range []int{1, 10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("claims/batch=%d", batch), claims(c, batch))
	}
	// The latency ceiling is measured right before the registry's, so both see the same load.
	var rawP99 time.Duration
	b.Run("raw-raft-paced/100k-ids-per-s/batch=100", func(b *testing.B) { rawP99 = benchRawRaftPaced(b, 100, 100_000) })
	b.Run("paced/100k-ids-per-s/batch=100", func(b *testing.B) {
		c.waitApplied()
		if p99 := benchPaced(b, c, 100, 100_000); rawP99 > 0 {
			b.ReportMetric(float64(p99)/float64(rawP99), "p99-ratio-to-raw")
		}
	})
	b.Run("failover", func(b *testing.B) { benchFailover(b, c) })
	c.closeAll()
	g := newCluster(b, 3, fastTiming, func(cfg *Config) { cfg.Retention = benchRetention })
	b.Run("growing/batch=10000", claims(g, 10000))
}

const (
	benchRetention = 5 * time.Second
	// benchExpectedClaims: up to ~1.2 M ids/s × 5 s of retention.
	benchExpectedClaims = 6 << 20
)

var benchSeq atomic.Uint64 // makes every benchmark id fresh

func freshIDs(n int, ev int64) []ClaimID {
	base := benchSeq.Add(uint64(n)) - uint64(n)
	ids := make([]ClaimID, n)
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i].ID[:8], base+uint64(i))
		binary.LittleEndian.PutUint64(ids[i].ID[8:], 0x9e3779b97f4a7c15*(base+uint64(i)))
		ids[i].ID[0] = byte((base + uint64(i)) * 0x9d) // spread over shards
		ids[i].EventTime = ev
	}
	return ids
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func benchClaims(b *testing.B, c *testCluster, batch int) float64 {
	cl, err := Dial(c.apiAddrs(), WithLease(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	workers := min(max(65536/batch, 16), 256)
	calls := (b.N + batch - 1) / batch
	// Prepare ids outside the timed part.
	work := make(chan []ClaimID, calls)
	ev := time.Now().UnixMilli()
	for range calls {
		work <- freshIDs(batch, ev)
	}
	close(work)
	lat := make([][]time.Duration, workers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	term0 := c.term()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := Token{Pipeline: "bench", Task: uint32(w), Epoch: uint64(batch)}
			for ids := range work {
				t0 := time.Now()
				res, err := cl.Claim(context.Background(), tok, ids)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || res[0].Outcome != Won {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d claims failed or lost", f)
	}
	all := slices.Concat(lat...)
	idsPerSec := float64(calls*batch) / el.Seconds()
	b.ReportMetric(idsPerSec, "ids/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(calls*batch), "cpu-ns/id")
	b.ReportMetric(float64(c.term()-term0), "elections")
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
	return idsPerSec
}

// benchPaced sends batch-id claims at rate ids/s, open loop (a call is started on schedule
// whether or not earlier ones returned), reports latency percentiles and returns the p99.
func benchPaced(b *testing.B, c *testCluster, batch, rate int) time.Duration {
	cl, err := Dial(c.apiAddrs(), WithLease(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	calls := max(b.N/batch, 1)
	ev := time.Now().UnixMilli()
	batches := make([][]ClaimID, calls)
	for i := range batches {
		batches[i] = freshIDs(batch, ev)
	}
	var failed atomic.Int64
	p99, el := pace(b, calls, batch, rate, func(i int) {
		if _, err := cl.Claim(context.Background(), Token{Pipeline: "paced", Task: uint32(i % 64)}, batches[i]); err != nil {
			failed.Add(1)
		}
	})
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d claims failed", f)
	}
	b.ReportMetric(float64(calls*batch)/el.Seconds(), "ids/s")
	return p99
}

// pace starts call(i) for i in [0, calls) on schedule, one every batch/rate seconds, each on
// its own goroutine (open loop), and measures each from when it was DUE, so that a late start
// counts (no coordinated omission). It reports p50 and p99 and returns the p99 and the time
// all calls took. The registry and its raw-raft ceiling are paced by this one loop.
func pace(b *testing.B, calls, batch, rate int, call func(i int)) (p99, elapsed time.Duration) {
	interval := time.Second * time.Duration(batch) / time.Duration(rate)
	lat := make([]time.Duration, calls)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range calls {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(i)
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	b.StopTimer()
	p99 = percentile(lat, 0.99)
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	return p99, elapsed
}

// benchFailover kills the leader b.N times while a background load of 100-id claims runs at
// about 20 k ids/s, each time timing from the kill until a claim started after the kill is
// answered by a new leader; the old leader then restarts and catches up.
func benchFailover(b *testing.B, c *testCluster) {
	cl, err := Dial(c.apiAddrs(), WithLease(time.Hour), WithCallTimeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for t := time.NewTicker(5 * time.Millisecond); ; {
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
				go cl.Claim(ctx, Token{Pipeline: "background"}, freshIDs(100, time.Now().UnixMilli()))
			}
		}
	}()
	defer func() { close(stop); bg.Wait() }()
	var worst, total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		c.waitApplied()
		b.StartTimer()
		l := c.leader()
		killed := time.Now()
		c.kill(l)
		elected := make(chan time.Duration, 1)
		go func() {
			for {
				for _, n := range c.nodes {
					if n.node != nil && n.node.IsLeader() {
						elected <- time.Since(killed)
						return
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
		for {
			// A claim started after the kill, answered: a new leader serves.
			_, err := cl.Claim(ctx, Token{Pipeline: "failover", Epoch: uint64(i)}, freshIDs(1, time.Now().UnixMilli()))
			if err == nil {
				break
			}
		}
		d := time.Since(killed)
		b.Logf("elected after %v, served after %v", <-elected, d)
		total += d
		worst = max(worst, d)
		b.StopTimer()
		c.start(l)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover-ms")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-failover-ms")
}

// term is the highest raft term among running nodes: it grows by one per election.
func (c *testCluster) term() uint64 {
	var t uint64
	for _, n := range c.nodes {
		if n.node != nil {
			v, _ := strconv.ParseUint(n.node.raft.Stats()["term"], 10, 64)
			t = max(t, v)
		}
	}
	return t
}

// countFSM is the raw-raft ceiling's state machine: it only counts.
type countFSM struct{ n atomic.Uint64 }

func (f *countFSM) Apply(*raft.Log) any { f.n.Add(1); return nil }
func (f *countFSM) ApplyBatch(l []*raft.Log) []any {
	f.n.Add(uint64(len(l)))
	return make([]any, len(l))
}
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnap{}, nil }
func (f *countFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnap struct{}

func (nopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnap) Release()                          {}

// rawCluster is 3 bare raft nodes with the registry's stores, transport and timing, and an
// FSM that only counts: the ceiling the registry is measured against.
type rawCluster struct {
	leader  *raft.Raft
	closers []func()
}

func newRawCluster(b *testing.B) *rawCluster {
	rc := &rawCluster{}
	b.Cleanup(func() {
		for _, c := range rc.closers {
			c()
		}
	})
	var rafts []*raft.Raft
	var servers []raft.Server
	for i := range 3 {
		dir := b.TempDir()
		m := &metadb.BoltMetaDB{}
		w, err := wal.Open(dir, wal.WithMetaStore(m))
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStore(filepath.Join(dir, "snaps"), 1, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: &faultyLayer{Listener: lis}, MaxPool: 3, Timeout: 2 * time.Second,
			Logger: hclog.NewNullLogger(),
		})
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(fmt.Sprint(i))
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = fastTiming.heartbeat, fastTiming.election, fastTiming.lease
		cfg.BatchApplyCh, cfg.MaxAppendEntries = true, 128
		cfg.Logger = hclog.NewNullLogger()
		r, err := raft.NewRaft(cfg, &countFSM{}, w, w, snaps, trans)
		if err != nil {
			b.Fatal(err)
		}
		rafts = append(rafts, r)
		servers = append(servers, raft.Server{ID: cfg.LocalID, Address: trans.LocalAddr()})
		rc.closers = append(rc.closers, func() { r.Shutdown().Error(); trans.Close(); w.Close(); m.Close() })
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		b.Fatal(err)
	}
	for rc.leader == nil {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				rc.leader = r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rc
}

// benchRawRaft: entries of 1000 16-byte ids, 16 applies in flight; returns ids/s.
func benchRawRaft(b *testing.B) float64 {
	const idsPerEntry, inflight = 1000, 16
	leader := newRawCluster(b).leader
	data := make([]byte, idsPerEntry*16)
	entries := (b.N + idsPerEntry - 1) / idsPerEntry
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(entries) {
				if err := leader.Apply(data, 10*time.Second).Error(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	idsPerSec := float64(entries*idsPerEntry) / el.Seconds()
	b.ReportMetric(idsPerSec, "ids/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(entries*idsPerEntry), "cpu-ns/id")
	return idsPerSec
}

// benchRawRaftPaced: one entry of batch 16-byte ids at a time, at rate ids/s, open loop, each
// awaited by its own goroutine; returns the p99 latency. Raft groups the entries that arrive
// while it writes, as it would the registry's.
func benchRawRaftPaced(b *testing.B, batch, rate int) time.Duration {
	leader := newRawCluster(b).leader
	data := make([]byte, batch*16)
	p99, _ := pace(b, max(b.N/batch, 1), batch, rate, func(int) {
		if err := leader.Apply(data, 10*time.Second).Error(); err != nil {
			b.Error(err)
		}
	})
	return p99
}

// BenchmarkStateApply: the state machine alone, 1000 fresh ids per claim; ns/op is per id.
func BenchmarkStateApply(b *testing.B) {
	s := NewState()
	ev := time.Now().UnixMilli()
	entries := make([][]byte, 0, b.N/1000+1)
	for i := 0; i < b.N; i += 1000 {
		e := entry{clock: ev, retention: 3600_000, ops: []op{{kind: opClaim, tok: Token{Pipeline: "b"}, lease: 60_000, ids: freshIDs(1000, ev)}}}
		entries = append(entries, encodeEntry(&e))
	}
	b.ResetTimer()
	for _, data := range entries {
		e, err := decodeEntry(data)
		if err != nil {
			b.Fatal(err)
		}
		s.Apply(&e)
	}
}
