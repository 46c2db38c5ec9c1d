package registry

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/zeebo/xxh3"
)

// Token names the claimant: one epoch of one task of one pipeline. Two tokens are the same
// claimant exactly when all three fields are equal. Pipeline is at most MaxPipelineLen bytes.
type Token struct {
	Pipeline string
	Task     uint32
	Epoch    uint64
}

// MaxPipelineLen bounds Token.Pipeline (bytes).
const MaxPipelineLen = 255

func (t Token) String() string {
	return t.Pipeline + "/" + strconv.FormatUint(uint64(t.Task), 10) + "/" + strconv.FormatUint(t.Epoch, 10)
}

func (t Token) validate() error {
	if len(t.Pipeline) > MaxPipelineLen {
		return fmt.Errorf("%w: pipeline name is %d bytes, at most %d", ErrInvalid, len(t.Pipeline), MaxPipelineLen)
	}
	return nil
}

// ID is a claimed event id: 128 bits. Callers with ids of another shape hash them with IDOf;
// 128-bit ids (UUIDs) may be used as they are.
type ID [16]byte

// IDOf hashes an event id of any length to an ID (XXH3-128). Two different ids collide with
// probability about n²/2¹²⁹ for n ids held; a collision makes the second event lose its claim.
// The hash is not keyed: an adversary who controls event ids can make collisions on purpose.
func IDOf(b []byte) ID { return ID(xxh3.Hash128(b).Bytes()) }

// IDOfString is IDOf for a string, without copying it.
func IDOfString(s string) ID { return ID(xxh3.HashString128(s).Bytes()) }

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ClaimID is one id to claim with its event time (Unix milliseconds). The event time must be a
// property of the event (the same for every duplicate of it): the registry refuses ids older
// than its retention horizon and forgets them after, which is safe only if a duplicate carries
// the same time.
type ClaimID struct {
	ID        ID
	EventTime int64
}

// Outcome is the answer to one id of a claim.
type Outcome uint8

const (
	// Won: the token holds the id (tentatively until Confirm).
	Won Outcome = 1
	// Lost: another token holds the id; Result.Holder names it.
	Lost Outcome = 2
	// Refused: the id's event time is older than the retention horizon; it may have been
	// claimed and forgotten, so nobody may win it.
	Refused Outcome = 3
)

func (o Outcome) String() string {
	switch o {
	case Won:
		return "won"
	case Lost:
		return "lost"
	case Refused:
		return "refused"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result answers one id of a claim, in the order the ids were given.
type Result struct {
	Outcome Outcome
	Holder  Token // the winning token when Outcome is Lost
}

// Registry is the claim API, implemented by the remote *Client and by *Embedded. Consumers
// (the join) declare the subset they use; this interface exists so both implementations are
// checked against one method set. All methods are safe for concurrent use. Every method is
// idempotent for its token: a retried call gets the answer of the first call, unless time
// moved the token's lease on in between.
type Registry interface {
	// Claim claims ids for token; results are in the order of ids, and the caller owns them.
	// Errors: ErrLeaseLost (the token's lease expired: abort the token and replay),
	// ErrConfirmed (claiming after Confirm), ErrNoQuorum, context errors.
	Claim(ctx context.Context, token Token, ids []ClaimID) ([]Result, error)
	// Confirm makes the token's claims final. ErrLeaseLost if its lease expired first.
	Confirm(ctx context.Context, token Token) error
	// Abort releases the token's tentative claims; the token may claim afresh afterwards.
	// ErrConfirmed if the token was confirmed.
	Abort(ctx context.Context, token Token) error
	// Renew extends the token's lease. ErrLeaseLost if it expired already.
	Renew(ctx context.Context, token Token) error
	// Recover tells the registry that task (pipeline, task) restarted from checkpoint: the
	// claims of its epochs after checkpoint, tentative or confirmed, stay held against other
	// claimants and are won again by the task's next claims of the same ids.
	Recover(ctx context.Context, pipeline string, task uint32, checkpoint uint64) error
	// Status reports the state of the serving node.
	Status(ctx context.Context) (Status, error)
	// Close releases the client's resources.
	Close() error
}
