package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/iceberg-go/table"
)

// defaultCommitAttempts bounds commitRetry. With backoff capped at 1s it retries for over a
// minute: long enough to outlive the metadata-version claim a writer killed inside a commit
// leaves behind, which iceberg-go's filesystem catalog honours for a minute.
const defaultCommitAttempts = 100

// commitRetry commits one change to a table and retries when another writer got there first.
//
// iceberg-go's local catalogs do not retry a conflicting commit (and the filesystem catalog
// reports a stale requirement as a plain error), so this loop does what a REST catalog client
// would: on any failed commit it reloads the table, asks done whether the change is already
// there (the commit may have landed despite the error, or an earlier attempt of ours may
// have), and retries only if the table moved under us (a conflict) or the catalog said so.
//
// done reports whether t already holds the change; build stages it on a fresh transaction.
// Returns the table as of the commit (or as reloaded when the change was found).
func commitRetry(ctx context.Context, c *Catalog, name tableName, t *table.Table, attempts int,
	done func(*table.Table) (bool, error), build func(*table.Transaction, *table.Table) error) (*table.Table, error) {
	t, _, err := commitRetryN(ctx, c, name, t, attempts, done, build)
	return t, err
}

// commitRetryN is commitRetry that also reports how many times it had to retry.
func commitRetryN(ctx context.Context, c *Catalog, name tableName, t *table.Table, attempts int,
	done func(*table.Table) (bool, error), build func(*table.Transaction, *table.Table) error) (_ *table.Table, retries int, _ error) {
	if attempts <= 0 {
		attempts = defaultCommitAttempts
	}
	for attempt := 0; ; attempt++ {
		ok, err := done(t)
		if err != nil || ok {
			return t, attempt, err
		}
		txn := t.NewTransaction()
		if err := build(txn, t); err != nil {
			return t, attempt, err
		}
		nt, cerr := txn.Commit(ctx)
		if cerr == nil {
			return nt, attempt, nil
		}
		fresh, lerr := c.loadTable(ctx, name)
		if lerr != nil {
			return t, attempt, errors.Join(cerr, fmt.Errorf("reload after failed commit: %w", lerr))
		}
		moved := fresh.MetadataLocation() != t.MetadataLocation()
		t = fresh
		if ok, err := done(t); err != nil || ok {
			return t, attempt, err // landed after all
		}
		if !moved && !errors.Is(cerr, table.ErrCommitFailed) {
			return t, attempt, cerr // not a conflict: retrying would fail the same way
		}
		if attempt+1 >= attempts {
			return t, attempt, fmt.Errorf("%w after %d attempts: %v", ErrConflict, attempts, cerr)
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return t, attempt, err
		}
	}
}

// backoff is exponential from 5ms, capped at 1s, with full jitter so racing writers spread out.
func backoff(attempt int) time.Duration {
	d := 5 * time.Millisecond << min(attempt, 8)
	d = min(d, time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
