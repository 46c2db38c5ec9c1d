package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/glintstream/glint/connector/kafka"
)

// Exactly-once Kafka output (jobs with checkpoints).
//
// Each task writes its result rows and dead letters through transactional producers of its
// own, whose transactional ids are derived from (job, task), so the task's next owner fences
// them. There are two, so that the checkpoint IO runs off the task goroutine: at a barrier
// the open transaction is handed to the checkpoint and the rows after it go to a new
// transaction on the other producer. The checkpoint flushes the handed-over transaction
// (pre-commit), writes manifest n carrying its producer id and epoch, and only AFTER the
// manifest is durable commits it, then renews the producer so that its next transaction has a
// new epoch: (producer id, epoch) then names one transaction only. read_committed readers see
// a task's rows exactly when the checkpoint that covers them completed.
//
// A crash between the manifest and the commit leaves a transaction that manifest n counts on:
// recovery rolls it forward by sending EndTxn(commit) with the stored producer id and epoch
// BEFORE the new producer initialises (which would abort it). A transaction open at a crash
// whose checkpoint never completed is aborted by that initialisation, and its rows are
// produced again from the restored state.

const txnSinkName = "kafka-txn"

type txnProducer struct {
	id      string
	brokers []string
	cl      *kgo.Client
	p       *kafka.Producer
}

// txnID is the transactional id of a task's producer n (0 or 1).
func txnID(job string, task int32, n int) string {
	id := job + "-task-" + strconv.Itoa(int(task))
	if n > 0 {
		id += "." + strconv.Itoa(n)
	}
	return id
}

func newTxnProducer(brokers []string, job string, task int32, n int) (*txnProducer, error) {
	tp := &txnProducer{id: txnID(job, task, n), brokers: brokers}
	if err := tp.connect(); err != nil {
		return nil, err
	}
	return tp, nil
}

func (tp *txnProducer) connect() error {
	opts := append(kafka.ProducerOpts(), kgo.TransactionalID(tp.id), kgo.TransactionTimeout(2*time.Minute))
	cl, err := kafka.NewClient(tp.brokers, opts...)
	if err != nil {
		return err
	}
	tp.cl, tp.p = cl, kafka.NewProducer(cl)
	return nil
}

// renew replaces the producer's client after a commit, and initialises it: the next
// transaction has a new epoch. Without it, two transactions of one producer would share
// (producer id, epoch), and recovery could not tell the one a manifest names, committed
// already, from a later one still open, which must not be committed.
func (tp *txnProducer) renew(ctx context.Context) error {
	tp.cl.Close()
	if err := tp.connect(); err != nil {
		return err
	}
	return tp.fence(ctx)
}

func (tp *txnProducer) begin() error {
	if err := tp.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("kafka: begin transaction %s: %w", tp.id, err)
	}
	return nil
}

// preCommit flushes the open transaction and returns what recovery needs to commit it.
func (tp *txnProducer) preCommit(ctx context.Context) ([]byte, error) {
	if err := tp.p.Flush(ctx); err != nil {
		return nil, err
	}
	pid, epoch, err := tp.cl.ProducerID(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: producer id of %s: %w", tp.id, err)
	}
	return []byte(fmt.Sprintf("txn=%s;pid=%d;epoch=%d", tp.id, pid, epoch)), nil
}

func (tp *txnProducer) commit(ctx context.Context) error {
	if err := tp.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("kafka: commit transaction %s: %w", tp.id, err)
	}
	return nil
}

func (tp *txnProducer) close() { tp.cl.Close() }

// fence initialises the producer id, which fences every earlier producer of the same
// transactional id and aborts its open transaction. Call it only after rollForward.
func (tp *txnProducer) fence(ctx context.Context) error {
	if _, _, err := tp.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("kafka: initialise transactional producer %s: %w", tp.id, err)
	}
	return nil
}

// rollForwardAll rolls forward every transaction a manifest names (one per line).
func rollForwardAll(ctx context.Context, cl *kgo.Client, state []byte) error {
	for _, line := range bytes.Split(state, []byte("\n")) {
		if err := rollForward(ctx, cl, line); err != nil {
			return err
		}
	}
	return nil
}

// rollForward commits the transaction a durable manifest names if it is still open (a crash
// came between the manifest and the commit). A failed roll-forward is an error, never
// ignored: the checkpoint counts on that output.
func rollForward(ctx context.Context, cl *kgo.Client, state []byte) error {
	var id string
	var pid int64
	var epoch int64
	for _, kv := range strings.Split(string(state), ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "txn":
			id = v
		case "pid":
			pid, _ = strconv.ParseInt(v, 10, 64)
		case "epoch":
			epoch, _ = strconv.ParseInt(v, 10, 16)
		}
	}
	if id == "" {
		return fmt.Errorf("kafka: checkpoint transaction state %q is malformed", state)
	}
	// Only the very transaction the manifest names, still ongoing, is committed: once it was
	// committed the epoch moved on (and a later transaction may be open, which must not be
	// touched: the new producer's initialisation aborts it).
	dreq := kmsg.NewPtrDescribeTransactionsRequest()
	dreq.TransactionalIDs = []string{id}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafka: describe transaction %s: %w", id, err)
	}
	ongoing := false
	for _, st := range dresp.TransactionStates {
		if err := kerr.ErrorForCode(st.ErrorCode); err != nil && !errors.Is(err, kerr.TransactionalIDNotFound) {
			return fmt.Errorf("kafka: describe transaction %s: %w", id, err)
		}
		ongoing = st.TransactionalID == id && st.State == "Ongoing" && st.ProducerID == pid && int64(st.ProducerEpoch) == epoch
	}
	if !ongoing {
		return nil
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, int16(epoch), true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafka: roll forward transaction %s: %w", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("kafka: roll forward transaction %s (producer %d epoch %d): %w", id, pid, epoch, err)
	}
	return nil
}
