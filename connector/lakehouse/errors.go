package lakehouse

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test with errors.Is; the returned errors wrap them with context.
var (
	// ErrConfig marks an invalid Config (see ConfigErrors).
	ErrConfig = errors.New("lakehouse: invalid config")
	// ErrTypeChanged: a column of the sink's input exists in the table with another type.
	// Iceberg cannot change a column's type this way; rename the column or use a new table.
	ErrTypeChanged = errors.New("lakehouse: column type changed")
	// ErrSeqOrder: Prepare was called with a sequence number not above every earlier one.
	ErrSeqOrder = errors.New("lakehouse: commit sequence numbers must increase")
	// ErrUnknownSeq: Commit of a sequence number that was neither prepared nor committed.
	ErrUnknownSeq = errors.New("lakehouse: unknown commit sequence number")
	// ErrStagedFileLost: a staged file named by a Staged is gone before its commit.
	ErrStagedFileLost = errors.New("lakehouse: staged file lost")
	// ErrWrongTable: a Staged from another table, job or task was handed to this sink.
	ErrWrongTable = errors.New("lakehouse: staged files belong to another sink")
	// ErrConflict: a commit kept conflicting with other writers until the retry budget ran out.
	ErrConflict = errors.New("lakehouse: commit conflict, retries exhausted")
	// ErrClosed: the sink was used after Close.
	ErrClosed = errors.New("lakehouse: sink closed")
	// ErrNoTable: the table does not exist (inspection commands).
	ErrNoTable = errors.New("lakehouse: no such table")
	// ErrRowShape: a row does not have one value per schema column.
	ErrRowShape = errors.New("lakehouse: row does not match the schema")
)

// ConfigError is one problem in a Config: Field is the yaml key ("partition_by[1]"), empty
// when the problem is with the sink's input schema rather than a field.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// ConfigErrors carries every problem Validate found, for Open's single error return.
type ConfigErrors struct{ Errs []error }

func (e *ConfigErrors) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "lakehouse: invalid config: " + strings.Join(msgs, "; ")
}

// Unwrap returns the individual errors.
func (e *ConfigErrors) Unwrap() []error { return append(e.Errs, ErrConfig) }

// TypeChangedError says which column changed type.
type TypeChangedError struct {
	Table, Column string
	TableType     string // type in the table (Iceberg)
	InputType     string // type of the sink's input column
}

func (e *TypeChangedError) Error() string {
	return fmt.Sprintf("lakehouse: table %s column %q is %s in the table but %s in the job's output; "+
		"Iceberg cannot change it in place: rename the output column or write to a new table",
		e.Table, e.Column, e.TableType, e.InputType)
}

// Unwrap makes errors.Is(err, ErrTypeChanged) true.
func (e *TypeChangedError) Unwrap() error { return ErrTypeChanged }
