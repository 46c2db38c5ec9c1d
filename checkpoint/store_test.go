package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSaveLatestRoundTrip(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		now := time.Date(2026, 9, 18, 12, 0, 0, 0, time.UTC)
		s := e.open(t, WithClock(fixedClock(now)))
		var states [][]byte
		for id := uint64(1); id <= 3; id++ {
			st := stateFor(5, id, 300_000+int(id))
			states = append(states, st)
			m := save(t, s, "job", 5, id, st)
			if m.StateSize != int64(len(st)) || m.StateCRC != crcOf(st) || m.StateKey != "job/task-5/state-"+fmt.Sprintf("%020d", id) {
				t.Fatalf("Save set state fields %q %d %08x; want size %d crc %08x", m.StateKey, m.StateSize, m.StateCRC, len(st), crcOf(st))
			}
		}
		// A restarted process: a new Store, nothing cached, CRCs read back.
		s2 := e.open(t)
		got, err := s2.Latest(ctx, "job", 5)
		if err != nil {
			t.Fatal(err)
		}
		want := manifestFor("job", 5, 3)
		want.Created = now
		want.StateKey, want.StateSize, want.StateCRC = "job/task-5/state-00000000000000000003", int64(len(states[2])), crcOf(states[2])
		equalManifests(t, got, want)
		data, err := readState(s2, got)
		if err != nil || !bytes.Equal(data, states[2]) {
			t.Fatalf("state of checkpoint 3: %d bytes, err %v; want the %d bytes saved", len(data), err, len(states[2]))
		}
		if d, ok := got.Sink("lake"); !ok || string(d) != "staged-5-3" {
			t.Errorf("Sink(lake) = %q, %v", d, ok)
		}
		for id := uint64(1); id <= 2; id++ {
			m, err := s2.Get(ctx, "job", 5, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := s2.Verify(ctx, m); err != nil {
				t.Errorf("Verify(%d): %v", id, err)
			}
		}
		if _, err := s2.Latest(ctx, "job", 6); !errors.Is(err, ErrNotFound) {
			t.Errorf("Latest of a task without checkpoints: %v, want ErrNotFound", err)
		}
		if _, err := s2.Get(ctx, "job", 5, 9); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a missing id: %v, want ErrNotFound", err)
		}
	})
}

func TestSaveWithoutState(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		save(t, s, "stateless", 0, 1, nil)
		m, err := e.open(t).Latest(ctx, "stateless", 0)
		if err != nil {
			t.Fatal(err)
		}
		if m.StateKey != "" || m.StateSize != 0 {
			t.Errorf("state fields %q %d, want none", m.StateKey, m.StateSize)
		}
		if data, err := readState(s, m); err != nil || len(data) != 0 {
			t.Errorf("OpenState without state: %q, %v", data, err)
		}
		if ks := keys(t, e.raw); len(ks) != 1 || !strings.HasSuffix(ks[0], "manifest-00000000000000000001") {
			t.Errorf("objects %v, want the manifest only", ks)
		}
	})
}

// TestLatestSkipsBroken damages checkpoint 3 of 3 in every way storage can and checks that a
// restarted process recovers checkpoint 2, logging why it skipped 3.
func TestLatestSkipsBroken(t *testing.T) {
	const m3, s3 = "j/task-0/manifest-00000000000000000003", "j/task-0/state-00000000000000000003"
	cases := []struct {
		name   string
		breakk func(t *testing.T, e env)
		reason string
	}{
		{"torn manifest", func(t *testing.T, e env) {
			damage(t, e.raw, m3, func(b []byte) []byte { return b[:len(b)/2] })
		}, "checksum"},
		{"empty manifest", func(t *testing.T, e env) {
			damage(t, e.raw, m3, func([]byte) []byte { return nil })
		}, "truncated"},
		{"flipped manifest bit", func(t *testing.T, e env) {
			damage(t, e.raw, m3, func(b []byte) []byte { b[len(b)/2] ^= 4; return b })
		}, "checksum"},
		{"manifest of another checkpoint", func(t *testing.T, e env) {
			damage(t, e.raw, m3, func([]byte) []byte { return manifestFor("j", 0, 2).Encode() })
		}, "holds the manifest of job"},
		{"state missing", func(t *testing.T, e env) {
			if err := e.raw.Delete(context.Background(), s3); err != nil {
				t.Fatal(err)
			}
		}, "missing"},
		{"state truncated", func(t *testing.T, e env) {
			damage(t, e.raw, s3, func(b []byte) []byte { return b[:len(b)-1] })
		}, "bytes, manifest 3 says"},
		{"state bit flip", func(t *testing.T, e env) {
			damage(t, e.raw, s3, func(b []byte) []byte { b[1000] ^= 1; return b })
		}, "CRC"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEnv(t, func(t *testing.T, e env) {
				s := e.open(t)
				for id := uint64(1); id <= 3; id++ {
					save(t, s, "j", 0, id, stateFor(0, id, 5000))
				}
				c.breakk(t, e)
				var log logBuf
				got, err := e.open(t, WithLogger(log.logger())).Latest(context.Background(), "j", 0)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != 2 {
					t.Fatalf("Latest = checkpoint %d, want 2", got.ID)
				}
				out := log.String()
				if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "skipping") ||
					!strings.Contains(out, "id=3") || !strings.Contains(out, c.reason) {
					t.Errorf("log does not explain skipping checkpoint 3 (%q):\n%s", c.reason, out)
				}
			})
		})
	}
}

// TestVerifySize: with VerifySize, Latest trusts a same-size state blob without reading it,
// and OpenState still refuses corrupt bytes at EOF.
func TestVerifySize(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		save(t, s, "j", 0, 1, stateFor(0, 1, 4000))
		damage(t, e.raw, "j/task-0/state-00000000000000000001", func(b []byte) []byte { b[7] ^= 0x80; return b })
		if _, err := e.open(t).Latest(ctx, "j", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("VerifyCRC Latest = %v, want ErrNotFound (the only checkpoint is corrupt)", err)
		}
		fast := e.open(t, WithVerify(VerifySize))
		m, err := fast.Latest(ctx, "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fast.OpenState(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("reading corrupt state: %v, want ErrCorrupt at EOF", err)
		}
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Read after the corruption was found: %v, want the same error again", err)
		}
	})
}

func TestLatestReturnsStorageErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id := uint64(1); id <= 3; id++ {
		save(t, s, "j", 0, id, []byte("state"))
	}
	// A manifest that cannot be read at all (a symlink loop: ELOOP) is an IO error, not
	// corruption: Latest must not fall back to checkpoint 2 over it.
	p := filepath.Join(dir, "j", "task-0", "manifest-00000000000000000003")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(p), p); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	m, err := s.Latest(ctx, "j", 0)
	if err == nil || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest = %v, %v; want the storage error", m, err)
	}
}

func TestSaveNeverOverwrites(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		first := stateFor(0, 1, 1000)
		save(t, s, "j", 0, 1, first)
		m := manifestFor("j", 0, 1)
		m.Watermark = -5
		if err := s.Save(ctx, m, bytes.NewReader([]byte("other state"))); !errors.Is(err, ErrExists) {
			t.Fatalf("second Save of id 1: %v, want ErrExists", err)
		}
		got, err := e.open(t).Latest(ctx, "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		data, err := readState(s, got)
		if err != nil || !bytes.Equal(data, first) || got.Watermark != 1000 {
			t.Errorf("checkpoint 1 changed: watermark %d, state %d bytes, %v", got.Watermark, len(data), err)
		}
		if err := s.Save(ctx, &Manifest{Job: "bad/job", Task: -1}, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Save of an invalid manifest: %v, want ErrInvalid", err)
		}
	})
}

// TestFaults: a write that fails leaves the previous checkpoint as Latest; a torn manifest
// is skipped after a restart; NextID moves past both.
func TestFaults(t *testing.T) {
	cases := []struct {
		name        string
		fault       Fault
		wantState   bool // the state blob of checkpoint 3 is on storage afterwards
		wantTornMan bool // a torn manifest 3 is on storage afterwards
	}{
		{"manifest write fails", Fault{Target: TargetManifest, Mode: FaultFail, Bytes: 10}, true, false},
		{"state write fails midway", Fault{Target: TargetState, Mode: FaultFail, Bytes: 100_000}, false, false},
		{"state write fails at once", Fault{Target: TargetState, Mode: FaultFail}, false, false},
		{"manifest torn in half", Fault{Target: TargetManifest, Mode: FaultTear, Bytes: -1}, true, true},
		{"manifest torn to 0 bytes", Fault{Target: TargetManifest, Mode: FaultTear, Bytes: 0}, true, true},
		{"next write of any kind fails", Fault{Target: TargetAny, Nth: 1, Mode: FaultFail}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEnv(t, func(t *testing.T, e env) {
				ctx := context.Background()
				faults := NewFaults()
				s := e.open(t, WithFaults(faults))
				save(t, s, "j", 0, 1, stateFor(0, 1, 200_000))
				save(t, s, "j", 0, 2, stateFor(0, 2, 200_000))
				faults.Add(c.fault)
				err := s.Save(ctx, manifestFor("j", 0, 3), bytes.NewReader(stateFor(0, 3, 200_000)))
				if !errors.Is(err, ErrInjected) {
					t.Fatalf("Save = %v, want ErrInjected", err)
				}
				if faults.Fired() != 1 || faults.Writes(TargetAny) != 5+boolInt(c.wantState) {
					t.Errorf("fired %d faults in %d writes", faults.Fired(), faults.Writes(TargetAny))
				}
				ks := keys(t, e.raw)
				if hasKey(ks, "state-00000000000000000003") != c.wantState || hasKey(ks, "manifest-00000000000000000003") != c.wantTornMan {
					t.Errorf("objects after the fault: %v", ks)
				}
				for _, k := range ks {
					if strings.HasSuffix(k, ".tmp") {
						t.Errorf("temporary file left behind: %s", k)
					}
				}
				for _, st := range []*Store{s, e.open(t)} { // the same process, and a restarted one
					m, err := st.Latest(ctx, "j", 0)
					if err != nil || m.ID != 2 {
						t.Fatalf("Latest after the fault = %v, %v; want checkpoint 2", m, err)
					}
				}
				next, err := s.NextID(ctx, "j", 0)
				if want := uint64(3 + boolInt(c.wantState)); err != nil || next != want {
					t.Errorf("NextID = %d, %v; want %d", next, err, want)
				}
				save(t, s, "j", 0, next, stateFor(0, next, 1000))
				if m, err := e.open(t).Latest(ctx, "j", 0); err != nil || m.ID != next {
					t.Errorf("Latest after the next save = %v, %v; want %d", m, err, next)
				}
			})
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPrune(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		faults := NewFaults()
		var log logBuf
		s := e.open(t, WithFaults(faults), WithLogger(log.logger()))
		if err := s.Prune(ctx, "j", 0, 2); err != nil { // nothing there yet
			t.Fatal(err)
		}
		for id := uint64(1); id <= 6; id++ {
			save(t, s, "j", 0, id, stateFor(0, id, 100))
		}
		faults.Add(Fault{Target: TargetManifest, Mode: FaultTear, Bytes: -1}) // 7: torn manifest
		if err := s.Save(ctx, manifestFor("j", 0, 7), bytes.NewReader([]byte("s7"))); !errors.Is(err, ErrInjected) {
			t.Fatal(err)
		}
		faults.Add(Fault{Target: TargetManifest, Mode: FaultFail}) // 8: orphan state
		if err := s.Save(ctx, manifestFor("j", 0, 8), bytes.NewReader([]byte("s8"))); !errors.Is(err, ErrInjected) {
			t.Fatal(err)
		}
		save(t, s, "j", 0, 9, []byte("s9"))
		save(t, s, "j", 1, 1, []byte("other task"))
		// Stranded temporary files, as a crash during a write leaves them.
		for _, k := range []string{"j/task-0/state-00000000000000000005.17f3a.tmp", "j/task-0/manifest-00000000000000000010.17f3b.tmp"} {
			if err := e.raw.WriteAll(ctx, k, []byte("partial"), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Prune(ctx, "j", 0, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Prune keep 0: %v, want ErrInvalid", err)
		}
		if err := s.Prune(ctx, "j", 0, 2); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"j/task-0/manifest-00000000000000000006",
			"j/task-0/manifest-00000000000000000009",
			"j/task-0/manifest-00000000000000000010.17f3b.tmp", // at or above the newest: maybe in flight
			"j/task-0/state-00000000000000000006",
			"j/task-0/state-00000000000000000009",
			"j/task-1/manifest-00000000000000000001",
			"j/task-1/state-00000000000000000001",
		}
		if got := keys(t, e.raw); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("after Prune keep 2:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The kept checkpoints are intact, for this process and a restarted one.
		for _, st := range []*Store{s, e.open(t)} {
			for _, id := range []uint64{6, 9} {
				m, err := st.Get(ctx, "j", 0, id)
				if err == nil {
					err = st.Verify(ctx, m)
				}
				if err != nil {
					t.Errorf("kept checkpoint %d: %v", id, err)
				}
			}
		}
		if err := s.Prune(ctx, "j", 0, 1); err != nil {
			t.Fatal(err)
		}
		if got := keys(t, e.raw); hasKey(got, "manifest-00000000000000000006") || !hasKey(got, "state-00000000000000000009") {
			t.Errorf("after Prune keep 1: %v", got)
		}
	})
}

// TestPruneKeepsOlderWhenNewestIsBroken: the newest complete checkpoint decides; damaged
// newer ones do not count towards keep.
func TestPruneKeepsOlderWhenNewestIsBroken(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		for id := uint64(1); id <= 4; id++ {
			save(t, s, "j", 0, id, stateFor(0, id, 100))
		}
		damage(t, e.raw, "j/task-0/manifest-00000000000000000004", func(b []byte) []byte { return b[:3] })
		if err := e.open(t).Prune(ctx, "j", 0, 2); err != nil {
			t.Fatal(err)
		}
		ks := keys(t, e.raw)
		for _, id := range []string{"2", "3", "4"} {
			if !hasKey(ks, "manifest-0000000000000000000"+id) {
				t.Errorf("manifest %s removed: %v", id, ks)
			}
		}
		if hasKey(ks, "manifest-00000000000000000001") || hasKey(ks, "state-00000000000000000001") {
			t.Errorf("checkpoint 1 kept: %v", ks)
		}
	})
}

func TestConcurrentSaves(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		const tasks, per = 8, 6
		var wg sync.WaitGroup
		errs := make(chan error, tasks)
		for task := range int32(tasks) {
			wg.Go(func() {
				for id := uint64(1); id <= per; id++ {
					m := manifestFor("conc", task, id)
					if err := s.Save(ctx, m, bytes.NewReader(stateFor(task, id, 20_000))); err != nil {
						errs <- err
						return
					}
					if err := s.Prune(ctx, "conc", task, 2); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		s2 := e.open(t)
		for task := range int32(tasks) {
			m, err := s2.Latest(ctx, "conc", task)
			if err != nil || m.ID != per {
				t.Fatalf("task %d: Latest = %v, %v", task, m, err)
			}
			if data, err := readState(s2, m); err != nil || !bytes.Equal(data, stateFor(task, per, 20_000)) {
				t.Fatalf("task %d: state differs (%v)", task, err)
			}
		}
		infos, err := s2.List(ctx, "conc")
		if err != nil || len(infos) != tasks*2 {
			t.Fatalf("List: %d entries, %v; want %d", len(infos), err, tasks*2)
		}
	})
}

func TestListAndJobs(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		faults := NewFaults()
		s := e.open(t, WithFaults(faults))
		for id := uint64(1); id <= 5; id++ {
			save(t, s, "a", 0, id, stateFor(0, id, 1000))
		}
		save(t, s, "a", 2, 1, nil)
		save(t, s, "b", 0, 1, []byte("x"))
		faults.Add(Fault{Target: TargetManifest, Mode: FaultFail})
		if err := s.Save(ctx, manifestFor("a", 0, 6), bytes.NewReader([]byte("orphan"))); !errors.Is(err, ErrInjected) {
			t.Fatal(err)
		}
		damage(t, e.raw, "a/task-0/manifest-00000000000000000005", func(b []byte) []byte { return b[:len(b)-2] })
		if err := e.raw.Delete(ctx, "a/task-0/state-00000000000000000004"); err != nil {
			t.Fatal(err)
		}
		damage(t, e.raw, "a/task-0/state-00000000000000000003", func(b []byte) []byte { return append(b, 0) })
		if err := e.raw.WriteAll(ctx, "a/task-0/state-00000000000000000007.abc.tmp", []byte("p"), nil); err != nil {
			t.Fatal(err)
		}
		if err := e.raw.WriteAll(ctx, "a/unrelated.txt", []byte("not ours"), nil); err != nil {
			t.Fatal(err)
		}

		infos, err := e.open(t).List(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range infos {
			line := fmt.Sprintf("%d/%d %s latest=%v state=%d", in.Task, in.ID, in.Status, in.Latest, in.StateSize)
			if len(in.Temps) > 0 {
				line += fmt.Sprintf(" temps=%d", len(in.Temps))
			}
			got = append(got, line)
			if (in.Status == StatusComplete) != (in.Problem == "") {
				t.Errorf("%d/%d: status %s with problem %q", in.Task, in.ID, in.Status, in.Problem)
			}
		}
		want := []string{
			"0/1 complete latest=false state=1000",
			"0/2 complete latest=true state=1000",
			"0/3 state-corrupt latest=false state=1001",
			"0/4 state-missing latest=false state=-1",
			"0/5 corrupt latest=false state=1000",
			"0/6 orphan latest=false state=6",
			"0/7 orphan latest=false state=-1 temps=1",
			"2/1 complete latest=true state=0",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("List:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if infos[1].Manifest == nil || infos[1].Manifest.Inputs[0].Offset != 200 {
			t.Errorf("List does not carry the decoded manifest: %+v", infos[1])
		}
		jobs, err := s.Jobs(ctx)
		if err != nil || strings.Join(jobs, ",") != "a,b" {
			t.Errorf("Jobs = %v, %v", jobs, err)
		}
		if infos, err := s.List(ctx, "nope"); err != nil || len(infos) != 0 {
			t.Errorf("List of an unknown job = %v, %v", infos, err)
		}
		if _, err := s.List(ctx, "../x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("List of a bad job name: %v", err)
		}
	})
}

func TestOpenLocations(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	t.Chdir(base)
	for _, loc := range []string{"rel/cp", filepath.Join(base, "abs", "cp"), "file://" + filepath.ToSlash(filepath.Join(base, "url", "cp"))} {
		s, err := Open(ctx, loc)
		if err != nil {
			t.Fatalf("Open(%q): %v", loc, err)
		}
		save(t, s, "j", 0, 1, []byte("x"))
		s.Close()
	}
	for _, p := range []string{"rel/cp", "abs/cp", "url/cp"} {
		if _, err := os.Stat(filepath.Join(base, p, "j", "task-0", "manifest-00000000000000000001")); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	s, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, "j", 0, 1, []byte("x"))
	s.Close()
	for _, c := range []struct{ loc, want string }{
		{"", "empty"},
		{"file://host/x", "no host"},
		{"file:///x?create_dir=1", "no parameters"},
		{"s3://bucket", "opt-in"},
		{"nosuch://x", "not compiled"},
	} {
		if _, err := Open(ctx, c.loc); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v; want ErrInvalid mentioning %q", c.loc, err, c.want)
		}
	}
}

// TestLocalFiles checks what a local directory holds after saves: the two objects per
// checkpoint under their final names, nothing else (no fileblob ".attrs" sidecars, no
// temporary files), and the manifest file decodes as is.
func TestLocalFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	save(t, s, "j", 12, 7, []byte("state bytes"))
	entries, err := os.ReadDir(filepath.Join(dir, "j", "task-12"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if strings.Join(names, " ") != "manifest-00000000000000000007 state-00000000000000000007" {
		t.Errorf("task directory holds %v", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, "j", "task-12", "manifest-00000000000000000007"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Decode(b); err != nil || m.ID != 7 || m.Task != 12 {
		t.Errorf("manifest file: %+v, %v", m, err)
	}
	if st, err := os.ReadFile(filepath.Join(dir, "j", "task-12", "state-00000000000000000007")); err != nil || string(st) != "state bytes" {
		t.Errorf("state file: %q, %v", st, err)
	}
}

func TestOpenStateChecksSize(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		m := save(t, s, "j", 0, 1, stateFor(0, 1, 1000))
		damage(t, e.raw, m.StateKey, func(b []byte) []byte { return b[:500] })
		if _, err := s.OpenState(ctx, m); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenState of a truncated blob: %v, want ErrCorrupt", err)
		}
		if err := e.raw.Delete(ctx, m.StateKey); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenState(ctx, m); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
			t.Errorf("OpenState of a missing blob: %v, want ErrCorrupt (missing)", err)
		}
		bad := *m
		bad.StateKey = "other/task-0/state-00000000000000000001"
		if _, err := s.OpenState(ctx, &bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenState of a key outside the task: %v", err)
		}
	})
}

func TestFaultsCounting(t *testing.T) {
	f := NewFaults()
	f.Add(Fault{Target: TargetManifest, Nth: 2, Mode: FaultFail})
	f.Add(Fault{Target: TargetState, Nth: 1, Mode: FaultTear})
	var got []string
	for _, tg := range []Target{TargetState, TargetManifest, TargetState, TargetManifest, TargetManifest} {
		if ft := f.next(tg); ft != nil {
			got = append(got, fmt.Sprintf("%s:%d", tg, ft.Mode))
		} else {
			got = append(got, "-")
		}
	}
	if strings.Join(got, " ") != "state:1 - - manifest:0 -" {
		t.Errorf("faults fired as %v", got)
	}
	if f.Writes(TargetAny) != 5 || f.Writes(TargetManifest) != 3 || f.Fired() != 2 {
		t.Errorf("counts: any %d manifest %d fired %d", f.Writes(TargetAny), f.Writes(TargetManifest), f.Fired())
	}
	var nilFaults *Faults
	if nilFaults.next(TargetState) != nil {
		t.Error("a nil Faults fired")
	}
}

// TestLostAcknowledgement: a manifest that reached storage although Save failed is a
// committed checkpoint; Latest finds it, and the id cannot be saved again.
func TestLostAcknowledgement(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		faults := NewFaults()
		s := e.open(t, WithFaults(faults))
		save(t, s, "j", 0, 1, []byte("one"))
		faults.Add(Fault{Target: TargetManifest, Mode: FaultTear, Bytes: 1 << 30})
		if err := s.Save(ctx, manifestFor("j", 0, 2), strings.NewReader("two")); !errors.Is(err, ErrInjected) {
			t.Fatalf("Save = %v, want ErrInjected", err)
		}
		m, err := e.open(t).Latest(ctx, "j", 0)
		if err != nil || m.ID != 2 {
			t.Fatalf("Latest = %v, %v; want the acknowledged-lost checkpoint 2", m, err)
		}
		if err := s.Save(ctx, manifestFor("j", 0, 2), strings.NewReader("again")); !errors.Is(err, ErrExists) {
			t.Errorf("Save again = %v, want ErrExists", err)
		}
	})
}

func TestCorruptErrorNamesTheObject(t *testing.T) {
	forEnv(t, func(t *testing.T, e env) {
		ctx := context.Background()
		s := e.open(t)
		m := save(t, s, "j", 0, 1, []byte("state"))
		key := manifestKey("j", 0, 1)
		damage(t, e.raw, key, func(b []byte) []byte { return b[:len(b)-1] })
		_, err := s.Get(ctx, "j", 0, 1)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Key != key || !strings.Contains(ce.Reason, "checksum") || !errors.Is(err, ErrCorrupt) {
			t.Errorf("Get of a torn manifest: %#v", err)
		}
		damage(t, e.raw, m.StateKey, func(b []byte) []byte { b[0] ^= 1; return b })
		err = e.open(t).Verify(ctx, m)
		if !errors.As(err, &ce) || ce.Key != m.StateKey || !strings.Contains(ce.Reason, "CRC") {
			t.Errorf("Verify of a damaged state blob: %#v", err)
		}
	})
}
