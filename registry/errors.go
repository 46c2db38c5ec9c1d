package registry

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the errors returned wrap them with
// context.
var (
	// ErrLeaseLost: the token's lease expired before this call, so its tentative claims may
	// have gone to others. The owner must Abort the token and replay from its last checkpoint.
	ErrLeaseLost = errors.New("registry: lease lost")
	// ErrConfirmed: the call needs an unconfirmed token (Claim, Abort) but the token was
	// confirmed.
	ErrConfirmed = errors.New("registry: token already confirmed")
	// ErrInvalid: a malformed request (bad lease, oversized name, too many ids).
	ErrInvalid = errors.New("registry: invalid request")
	// ErrNotLeader: the node asked is not the leader and could not forward the call.
	ErrNotLeader = errors.New("registry: not leader")
	// ErrNoQuorum: nodes answered, but none is a leader that can commit: fewer than a
	// majority of the cluster's voters are up and connected.
	ErrNoQuorum = errors.New("registry: no quorum")
	// ErrUnavailable: no registry node could be reached.
	ErrUnavailable = errors.New("registry: no node reachable")
	// ErrClosed: the client or node was closed.
	ErrClosed = errors.New("registry: closed")
	// ErrCorrupt marks undecodable log entries, snapshots and messages.
	ErrCorrupt = errors.New("registry: corrupt data")
	// ErrUnauthenticated: the API refused the client's credentials.
	ErrUnauthenticated = errors.New("registry: unauthenticated")
)

// opCode is the per-operation outcome carried in FSM results and on the wire.
type opCode uint8

const (
	codeOK opCode = iota
	codeLeaseLost
	codeConfirmed
	codeInvalid
	codeCount // one past the last valid code
)

func (c opCode) err(tok Token) error {
	switch c {
	case codeOK:
		return nil
	case codeLeaseLost:
		return fmt.Errorf("%w: token %s", ErrLeaseLost, tok)
	case codeConfirmed:
		return fmt.Errorf("%w: token %s", ErrConfirmed, tok)
	default:
		return fmt.Errorf("%w: token %s", ErrInvalid, tok)
	}
}

// IsRetryable reports whether repeating the call that returned err may succeed. Retries are
// safe: every call is idempotent for its token.
func IsRetryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotLeader):
		return true // leadership moves; the next leader answers
	case errors.Is(err, ErrNoQuorum):
		return true // a majority may come back
	case errors.Is(err, ErrUnavailable):
		return true // nodes may restart
	case errors.Is(err, context.DeadlineExceeded):
		return true // the call may have been slow, not wrong; a retry gets the same answer
	case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrConfirmed):
		return false // the token's state answers the same forever: abort and replay instead
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnauthenticated):
		return false // the request itself is wrong
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return false // the caller gave up
	}
	return false
}
