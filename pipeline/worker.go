package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/glintstream/glint/connector/kafka"
)

// worker runs a plan's tasks in one process: it consumes the source topics, hands records to
// the task owning their partition, and commits offsets the tasks report safe.
type worker struct {
	cancelTasks func() // ends the tasks' context (group mode)
	plan        *Plan
	env         *Env
	brokers     []string
	m           *Metrics
	sinks       []RowSink
	prod        *kafka.Producer
	dlq         *kafka.DeadLetter
	cl          *kgo.Client
	adm         *kadm.Client
	topics      []string
	input       map[string]int // topic → source index
	// topicIDs of the sources, for OffsetCommit v10+ (read once, by the goroutine that commits:
	// the poll loop, or a rebalance callback, which franz-go runs while the poll loop is
	// blocked in PollRecords).
	topicIDs map[string][16]byte
	ck       *checkpointer // nil: no checkpoints

	mu struct {
		sync.Mutex
		tasks map[int32]*running
		// assigning counts assignment callbacks in progress: a drain waits for them.
		assigning int
		// drainEnds, once a drain began, are the end offsets every task (also one started
		// later) must reach.
		drainEnds map[string]map[int32]int64
		// seek: offsets restored from checkpoints, applied by adjustOffsets after franz-go
		// fetched the group's committed offsets (which they override).
		seek map[string]map[int32]int64
	}
	errc chan error // first task failure
}

type running struct {
	t    *task
	stop chan struct{}
	done chan struct{}
	err  error
}

func (w *worker) taskFor(p int32) *running {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.tasks[p]
}

// start creates and starts the task for partition p.
func (w *worker) start(ctx context.Context, p int32, init func(*task)) (*running, error) {
	names := make([]string, len(w.plan.Sinks))
	for i, s := range w.plan.Sinks {
		names[i] = s.Spec.Name
	}
	sinks, dlq := slices.Clone(w.sinks), w.dlq
	var lakes []*lakeRows
	for i, s := range w.plan.Sinks {
		if s.Spec.Type != "lakehouse" {
			continue
		}
		l, err := openLakeRows(ctx, s, w.plan.Output, w.plan.Job.Name, p, w.ck != nil)
		if err != nil {
			for _, l := range lakes {
				l.close()
			}
			return nil, err
		}
		sinks[i] = l
		lakes = append(lakes, l)
	}
	var tps [2]*txnProducer
	closeTxns := func() {
		for _, tp := range tps {
			if tp != nil {
				tp.close()
			}
		}
	}
	if w.ck != nil && w.ck.exactlyOnce {
		for n := range tps {
			tp, err := newTxnProducer(w.ck.brokers, w.plan.Job.Name, p, n)
			if err != nil {
				closeTxns()
				return nil, err
			}
			tps[n] = tp
		}
		for i, s := range w.plan.Sinks {
			if s.Spec.Type == "kafka" {
				sinks[i] = newKafkaRows(s, w.plan.Output, tps[0].p)
			}
		}
		dlq = &kafka.DeadLetter{Topic: w.dlq.Topic, Job: w.dlq.Job, P: tps[0].p}
	}
	t, err := newTask(p, w.plan, w.env, sinks, dlq, w.m.forTask(p, names))
	if err != nil {
		closeTxns()
		return nil, err
	}
	t.ck, t.txns, t.lakes = w.ck, tps, lakes
	if init != nil {
		init(t) // restores state and rolls transactions forward BEFORE the producers initialise
	}
	for _, l := range lakes {
		if !t.lakeRecovered {
			if err := l.recover(ctx, nil); err != nil {
				closeTxns()
				return nil, err
			}
		}
	}
	if tps[0] != nil {
		for _, tp := range tps {
			if err := tp.fence(ctx); err != nil {
				closeTxns()
				return nil, err
			}
		}
		if err := t.useTxn(0); err != nil {
			closeTxns()
			return nil, err
		}
	}
	t.inbox.pause = func() { w.cl.PauseFetchPartitions(w.partitionsOf(p)) }
	t.inbox.resume = func() { w.cl.ResumeFetchPartitions(w.partitionsOf(p)) }
	r := &running{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	w.mu.Lock()
	w.mu.tasks[p] = r
	if w.mu.drainEnds != nil {
		t.inbox.push(batch{ends: w.endsOf(w.mu.drainEnds, p)})
	}
	w.mu.Unlock()
	go func() {
		defer close(r.done)
		defer closeTxns() // an open transaction is aborted by the next owner's fencing
		r.err = t.run(ctx, r.stop)
		if r.err == nil { // a clean end commits what the lakehouse sinks hold
			for _, l := range lakes {
				if err := l.Flush(context.WithoutCancel(ctx)); err != nil && r.err == nil {
					r.err = err
				}
			}
		}
		for _, l := range lakes {
			l.close() // staged files not committed are recovered by the next owner
		}
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			select {
			case w.errc <- r.err:
			default:
			}
		}
	}()
	return r, nil
}

func (w *worker) partitionsOf(p int32) map[string][]int32 {
	m := make(map[string][]int32, len(w.topics))
	for _, t := range w.topics {
		m[t] = []int32{p}
	}
	return m
}

// dispatch hands a poll's records to their tasks, pausing the partitions of a task that is
// behind instead of blocking.
func (w *worker) dispatch(fs kgo.Fetches, limit func(topic string, p int32) int64) {
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		r := w.taskFor(fp.Partition)
		if r == nil {
			return // revoked between poll and dispatch; the new owner reads them
		}
		recs := fp.Records
		if limit != nil {
			end := limit(fp.Topic, fp.Partition)
			n := len(recs)
			for n > 0 && recs[n-1].Offset >= end {
				n--
			}
			recs = recs[:n]
			if n == 0 {
				return
			}
		}
		if r.t.inbox.push(batch{input: w.input[fp.Topic], recs: recs}) {
			r.t.m.paused.Inc()
		}
	})
}

// runBounded reads every partition from its start to the end offset it has now, fires every
// window and returns: the bounded mode that replay builds on. It joins no group and commits
// no offsets.
func (w *worker) runBounded(ctx context.Context, parts int32) error {
	ends, err := kafka.EndOffsets(ctx, w.adm, w.topics...)
	if err != nil {
		return err
	}
	starts, err := w.startOffsets(ctx, ends)
	if err != nil {
		return err
	}
	assign := map[string]map[int32]kgo.Offset{}
	for topic, ps := range starts {
		assign[topic] = map[int32]kgo.Offset{}
		for p, off := range ps {
			assign[topic][p] = kgo.NewOffset().At(off)
		}
	}
	w.cl.AddConsumePartitions(assign)
	var runs []*running
	for p := range parts {
		r, err := w.start(ctx, p, func(t *task) {
			e := make([]int64, len(w.input))
			for topic, i := range w.input {
				t.next[i], e[i] = starts[topic][p], ends[topic][p]
			}
			t.setEnds(e)
		})
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	allDone := make(chan struct{})
	go func() {
		for _, r := range runs {
			<-r.done
		}
		close(allDone)
	}()
	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	go func() {
		select {
		case <-allDone:
		case <-ctx.Done():
		}
		cancelPoll()
	}()
	limit := func(topic string, p int32) int64 { return ends[topic][p] }
	for {
		fs := w.cl.PollRecords(pollCtx, 50_000)
		if pollCtx.Err() != nil {
			break
		}
		if err := fatalFetchErr(fs); err != nil {
			return err
		}
		w.dispatch(fs, limit)
		select {
		case err := <-w.errc:
			return err
		default:
		}
	}
	for _, r := range runs {
		<-r.done
		if r.err != nil {
			return r.err
		}
	}
	return w.flush(ctx)
}

// startOffsets resolves each source's start position to absolute offsets.
func (w *worker) startOffsets(ctx context.Context, ends map[string]map[int32]int64) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for _, s := range w.plan.Sources {
		topic := s.Spec.Topic
		var lo kadm.ListedOffsets
		var err error
		switch {
		case s.Start.Latest:
			out[topic] = ends[topic]
			continue
		case !s.Start.Time.IsZero():
			lo, err = w.adm.ListOffsetsAfterMilli(ctx, s.Start.Time.UnixMilli(), topic)
		default:
			lo, err = w.adm.ListStartOffsets(ctx, topic)
		}
		if err != nil {
			return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
		}
		out[topic] = map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err != nil && err == nil {
				err = fmt.Errorf("start offset of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			}
			off := o.Offset
			if off < 0 || off > ends[topic][o.Partition] { // no record at or after the time
				off = ends[topic][o.Partition]
			}
			out[topic][o.Partition] = off
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fatalFetchErr(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(topic string, p int32, err error) {
		if first == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			first = fmt.Errorf("fetch %s[%d]: %w", topic, p, err)
		}
	})
	return first
}

// groupConfigErr turns a group error that retrying cannot fix into one that says what to change.
func (w *worker) groupConfigErr(err error) error {
	job := w.plan.Job
	switch {
	case errors.Is(err, kerr.InvalidSessionTimeout):
		return fmt.Errorf("%s: group.session_timeout %s is outside the range the broker allows (its group.min.session.timeout.ms and group.max.session.timeout.ms; Kafka's default minimum is 6s): %w",
			job.File, job.Group.SessionTimeout, err)
	case errors.Is(err, kerr.InconsistentGroupProtocol):
		return fmt.Errorf("group %q has members that do not speak glint's %s protocol (another consumer, or an older glint, uses this group id): %w",
			job.Name, kafka.CoPartitionProtocol, err)
	case errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed):
		return fmt.Errorf("job %s is not authorized on the broker: %w", job.Name, err)
	}
	return nil
}

// flush makes every result written so far durable: the ordering rule "sinks flushed BEFORE
// offsets are committed" depends on it.
func (w *worker) flush(ctx context.Context) error {
	w.mu.Lock()
	var lakes []*lakeRows
	for _, r := range w.mu.tasks {
		lakes = append(lakes, r.t.lakes...)
	}
	w.mu.Unlock()
	for _, l := range lakes {
		if err := l.Flush(ctx); err != nil {
			return err
		}
	}
	for i, s := range w.sinks {
		if s == nil {
			continue // per task
		}
		if err := s.Flush(ctx); err != nil {
			return fmt.Errorf("sink %s: %w", w.plan.Sinks[i].Spec.Name, err)
		}
	}
	return w.prod.Flush(ctx)
}

// commitEvery is how often a worker commits its tasks' safe offsets to the group.
const commitEvery = 2 * time.Second

// runGroup consumes in the job's consumer group until ctx ends: partitions are assigned by
// the co-partitioning balancer (task p gets partition p of every input); an assigned task resumes from the group's committed offsets
// and watermark; a revoked task stops after its queued records and commits what is safe.
//
// When drain is closed, the run ends at the end offsets of that moment: every window fires (the
// watermark becomes +inf, as in Flink's stop --drain), results are flushed and offsets
// committed to the end.
func (w *worker) runGroup(ctx context.Context, drain <-chan struct{}) error {
	commitTick := time.NewTicker(commitEvery)
	defer commitTick.Stop()
	var limit func(string, int32) int64
	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	var drained chan struct{}
	// Until the drain is acted on, polls also end when it is requested: with no new records a
	// poll would otherwise block and never let the loop see it.
	drainCtx, cancelDrainCtx := context.WithCancel(pollCtx)
	defer cancelDrainCtx()
	if drain != nil {
		go func() {
			select {
			case <-drain:
				cancelDrainCtx()
			case <-drainCtx.Done():
			}
		}()
	}
	// A task's failure must end a poll that would otherwise block waiting for records.
	var failure error
	failed := make(chan struct{})
	go func() {
		select {
		case failure = <-w.errc:
			close(failed)
			cancelPoll()
		case <-pollCtx.Done():
		}
	}()
	for {
		select {
		case <-failed:
			w.shutdown()
			return failure
		default:
		}
		pc := pollCtx
		if drained == nil {
			pc = drainCtx
			if drainCtx.Err() != nil && len(w.allTasks()) == 0 {
				time.Sleep(10 * time.Millisecond) // drain requested before the first assignment
			}
		}
		// Bounded by the commit interval, so that offsets are committed while input is idle.
		pcT, cancelPcT := context.WithTimeout(pc, commitEvery)
		fs := w.cl.PollRecords(pcT, 50_000)
		cancelPcT()
		if ctx.Err() != nil {
			return w.shutdown()
		}
		select {
		case <-failed:
			continue // the select above returns it
		default:
		}
		if drained != nil && pollCtx.Err() != nil {
			return w.finishDrain()
		}
		if errors.Is(fs.Err0(), kgo.ErrClientClosed) {
			return nil
		}
		if err := fatalFetchErr(fs); err != nil {
			if gerr := w.groupConfigErr(err); gerr != nil {
				w.shutdown()
				return gerr
			}
			w.env.Logger.Warn("fetch error (retrying)", "err", err)
		}
		w.dispatch(fs, limit)
		drainNow := drain
		if len(w.allTasks()) == 0 {
			drainNow = nil // drain acts on assigned tasks: wait for the first assignment
		}
		select {
		case <-failed:
			w.shutdown()
			return failure
		case <-commitTick.C:
			if err := w.commit(ctx, w.allTasks()); err != nil {
				w.env.Logger.Warn("offset commit failed (will retry)", "err", err)
			}
		case <-drainNow:
			drain = nil
			ends, err := kafka.EndOffsets(ctx, w.adm, w.topics...)
			if err != nil {
				return err
			}
			limit = func(topic string, p int32) int64 { return ends[topic][p] }
			drained = w.drainTasks(ends, cancelPoll)
			w.env.Logger.Info("draining: firing every window up to the current end of input")
		default:
		}
	}
}

// drainTasks sends every task (and every task started from now on) its end offsets, and
// cancels polling once no assignment is in progress and every task has ended.
func (w *worker) drainTasks(ends map[string]map[int32]int64, done func()) chan struct{} {
	w.mu.Lock()
	w.mu.drainEnds = ends
	for p, r := range w.mu.tasks {
		r.t.inbox.push(batch{ends: w.endsOf(ends, p)})
	}
	w.mu.Unlock()
	ch := make(chan struct{})
	go func() {
		for !w.allEnded() {
			time.Sleep(20 * time.Millisecond)
		}
		close(ch)
		done()
	}()
	return ch
}

func (w *worker) endsOf(ends map[string]map[int32]int64, p int32) []int64 {
	e := make([]int64, len(w.input))
	for topic, i := range w.input {
		e[i] = ends[topic][p]
	}
	return e
}

// allEnded reports whether no assignment is in progress and every task has finished.
func (w *worker) allEnded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.assigning > 0 || len(w.mu.tasks) == 0 {
		return false
	}
	for _, r := range w.mu.tasks {
		select {
		case <-r.done:
		default:
			return false
		}
	}
	return true
}

// finishDrain flushes and commits after every task has ended, and leaves the group.
func (w *worker) finishDrain() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps := w.allTasks()
	var firstErr error
	for _, p := range ps {
		if r := w.taskFor(p); r != nil && r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	if err := w.commit(ctx, ps); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := w.flush(ctx); err != nil && firstErr == nil { // even with nothing to commit
		firstErr = err
	}
	w.cl.CloseAllowingRebalance()
	return firstErr
}

func (w *worker) allTasks() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ps := make([]int32, 0, len(w.mu.tasks))
	for p := range w.mu.tasks {
		ps = append(ps, p)
	}
	return ps
}

// shutdown stops every task after its queued records, flushes and commits. Open windows are not
// fired: their records are not committed, so the next run reads them again.
func (w *worker) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.cancelTasks != nil { // tasks that cannot stop cleanly in time are cancelled
		defer time.AfterFunc(30*time.Second, w.cancelTasks).Stop()
	}
	ps := w.allTasks()
	err := w.stopTasks(ctx, ps)
	if ferr := w.flush(ctx); ferr != nil && err == nil { // even with nothing to commit
		err = ferr
	}
	w.cl.CloseAllowingRebalance()
	return err
}

func (w *worker) stopTasks(ctx context.Context, ps []int32) error {
	return w.stopTasksCommit(ctx, ps, true)
}

// lost stops the tasks of partitions lost without a clean revoke: another member may own them
// already, so nothing is committed.
func (w *worker) lost(ctx context.Context, _ *kgo.Client, ls map[string][]int32) {
	var ps []int32
	for _, l := range ls {
		ps = append(ps, l...)
	}
	if err := w.stopTasksCommit(ctx, ps, false); err != nil {
		w.env.Logger.Warn("stopping lost tasks", "err", err)
	}
}

func (w *worker) stopTasksCommit(ctx context.Context, ps []int32, commit bool) error {
	var firstErr error
	for _, p := range ps {
		r := w.taskFor(p)
		if r == nil {
			continue
		}
		close(r.stop)
		<-r.done
		if r.err != nil && firstErr == nil && !errors.Is(r.err, context.Canceled) {
			firstErr = r.err
		}
	}
	if commit {
		if err := w.commit(ctx, ps); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	w.mu.Lock()
	for _, p := range ps {
		delete(w.mu.tasks, p)
	}
	w.mu.Unlock()
	return firstErr
}

// commit flushes the sinks, then commits each task's safe offsets with its watermark and high
// offset in the commit metadata (used by the next owner to recognise replayed records).
func (w *worker) commit(ctx context.Context, ps []int32) error {
	offs := kadm.Offsets{}
	for _, p := range ps {
		r := w.taskFor(p)
		if r == nil {
			continue
		}
		cp := r.t.point.Load()
		if cp == nil {
			continue
		}
		for topic, i := range w.input {
			if cp.offset[i] < 0 {
				continue
			}
			offs.Add(kadm.Offset{Topic: topic, Partition: p, At: cp.offset[i], LeaderEpoch: -1,
				Metadata: commitMetaCk(cp.ckpt, cp.wmAt[i], cp.horizon, cp.hi[i])})
		}
	}
	if len(offs) == 0 {
		return nil
	}
	if err := w.flush(ctx); err != nil { // results BEFORE offsets
		return err
	}
	return w.commitAsMember(ctx, offs)
}

// commitAsMember commits offs with their metadata as this group member, in its current
// generation: the coordinator refuses commits from non-members while the group is active, and
// kgo's own commit calls carry no metadata.
func (w *worker) commitAsMember(ctx context.Context, offs kadm.Offsets) error {
	member, gen := w.cl.GroupMetadata()
	if w.topicIDs == nil {
		td, err := w.adm.ListTopics(ctx, w.topics...)
		if err != nil {
			return fmt.Errorf("commit offsets: topic ids: %w", err)
		}
		w.topicIDs = map[string][16]byte{}
		for _, t := range td {
			w.topicIDs[t.Topic] = t.ID
		}
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = w.plan.Job.Name, member, gen
	offs.Each(func(o kadm.Offset) {
		var rt *kmsg.OffsetCommitRequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == o.Topic {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, kmsg.NewOffsetCommitRequestTopic())
			rt = &req.Topics[len(req.Topics)-1]
			rt.Topic, rt.TopicID = o.Topic, w.topicIDs[o.Topic] // by name before v10, by id since
		}
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = o.Partition, o.At, -1
		md := o.Metadata
		p.Metadata = &md
		rt.Partitions = append(rt.Partitions, p)
	})
	resp, err := req.RequestWith(ctx, w.cl)
	if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit offset %s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// commitMeta encodes a commit point's restart information: "wm=<watermark at the committed
// position>;hz=<horizon>;hi=<next offset processed>".
func commitMeta(wmAt, horizon, hi int64) string {
	return commitMetaCk(0, wmAt, horizon, hi)
}

func commitMetaCk(ckpt uint64, wmAt, horizon, hi int64) string {
	if ckpt > 0 { // restarts read the checkpoint itself; the metadata is for people and tools
		return "ckpt=" + strconv.FormatUint(ckpt, 10)
	}
	return "wm=" + strconv.FormatInt(wmAt, 10) + ";hz=" + strconv.FormatInt(horizon, 10) + ";hi=" + strconv.FormatInt(hi, 10)
}

func parseCommitMeta(s string) (wmAt, horizon, hi int64, ok bool) {
	vals := map[string]int64{}
	for _, kv := range strings.Split(s, ";") {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			return 0, 0, 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[k] = n
	}
	wmAt, ok1 := vals["wm"]
	horizon, ok2 := vals["hz"]
	hi, ok3 := vals["hi"]
	return wmAt, horizon, hi, ok1 && ok2 && ok3
}

// assigned starts tasks for newly assigned partitions, restoring each from the group's
// committed offsets and metadata.
func (w *worker) assigned(ctx context.Context, _ *kgo.Client, as map[string][]int32) {
	w.mu.Lock()
	w.mu.assigning++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.mu.assigning--
		w.mu.Unlock()
	}()
	parts := map[int32]bool{}
	for _, ps := range as {
		for _, p := range ps {
			if w.taskFor(p) == nil {
				parts[p] = true
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	committed, err := w.adm.FetchOffsets(ctx, w.plan.Job.Name)
	if err != nil {
		w.env.Logger.Warn("could not read committed offsets; starting tasks without replay information", "err", err)
	}
	var starts map[string]map[int32]int64
	if ends, err := kafka.EndOffsets(ctx, w.adm, w.topics...); err == nil {
		starts, _ = w.startOffsets(ctx, ends)
	}
	for p := range parts {
		_, err := w.start(ctx, p, func(t *task) {
			wmAt, horizon := int64(math.MaxInt64), int64(math.MaxInt64)
			hi := make([]int64, len(w.input))
			restored := false
			for topic, i := range w.input {
				t.next[i] = starts[topic][p]
				o, ok := committed.Lookup(topic, p)
				if !ok || o.At < 0 {
					continue
				}
				t.next[i] = o.At
				if wa, hz, h, ok := parseCommitMeta(o.Metadata); ok {
					wmAt, horizon, hi[i], restored = min(wmAt, wa), min(horizon, hz), h, true
				}
			}
			if w.ck != nil {
				m, err := t.restoreLatest(ctx)
				if err != nil {
					w.env.Logger.Error("restoring from checkpoint failed; refusing to start the task without its state", "task", p, "err", err)
					select {
					case w.errc <- fmt.Errorf("task %d: restore: %w", p, err):
					default:
					}
					return
				}
				if m != nil {
					for _, l := range t.lakes {
						staged, _ := m.Sink(l.stateName())
						if err := l.recover(ctx, staged); err != nil {
							select {
							case w.errc <- fmt.Errorf("task %d: checkpoint %d: %w", p, m.ID, err):
							default:
							}
							return
						}
					}
					t.lakeRecovered = true
					if data, ok := m.Sink(txnSinkName); ok {
						if err := rollForwardAll(ctx, w.cl, data); err != nil {
							select {
							case w.errc <- fmt.Errorf("task %d: checkpoint %d: %w", p, m.ID, err):
							default:
							}
							return
						}
					}
					w.mu.Lock()
					if w.mu.seek == nil {
						w.mu.seek = map[string]map[int32]int64{}
					}
					for _, in := range m.Inputs {
						if w.mu.seek[in.Topic] == nil {
							w.mu.seek[in.Topic] = map[int32]int64{}
						}
						w.mu.seek[in.Topic][p] = in.Offset
					}
					w.mu.Unlock()
					w.env.Logger.Info("task restored from checkpoint", "task", p, "checkpoint", m.ID, "inputs", m.Inputs, "watermark", m.Watermark)
				}
				return
			}
			if restored {
				t.restore(wmAt, horizon, hi)
				w.env.Logger.Debug("task restored from committed offsets", "task", p, "next", t.next, "wm", wmAt, "horizon", horizon, "hi", hi)
			}
		})
		if err != nil {
			select {
			case w.errc <- err:
			default:
			}
			return
		}
		w.env.Logger.Info("task assigned", "task", p)
	}
}

// revoked stops the tasks of revoked partitions and commits their safe offsets before the
// partitions move.
func (w *worker) revoked(ctx context.Context, _ *kgo.Client, rs map[string][]int32) {
	parts := map[int32]bool{}
	for _, ps := range rs {
		for _, p := range ps {
			parts[p] = true
		}
	}
	ps := make([]int32, 0, len(parts))
	for p := range parts {
		ps = append(ps, p)
	}
	if err := w.stopTasks(ctx, ps); err != nil {
		w.env.Logger.Warn("stopping revoked tasks", "err", err)
	}
	for _, p := range ps {
		w.env.Logger.Info("task revoked", "task", p)
	}
}

// adjustOffsets replaces the group's committed offsets of partitions restored from a checkpoint
// with the checkpoint's: the restored state covers everything before them. franz-go calls it
// after OnPartitionsAssigned, before fetching starts.
func (w *worker) adjustOffsets(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for topic, ps := range w.mu.seek {
		for p, off := range ps {
			if _, ok := offs[topic][p]; ok {
				offs[topic][p] = kgo.NewOffset().At(off)
				delete(ps, p)
			}
		}
	}
	return offs, nil
}
