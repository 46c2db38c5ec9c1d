package checkpoint

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks checkpoint data that cannot be trusted: a manifest that is truncated,
	// has a bad magic, an unknown version or a bad checksum, or that disagrees with the key it
	// is stored under; a state blob that is missing, has the wrong size or fails its CRC.
	// Latest skips corrupt checkpoints; everything else reports them wrapped in this error.
	ErrCorrupt = errors.New("checkpoint: corrupt")
	// ErrNotFound means there is no checkpoint: no complete one for Latest, no manifest with
	// that id for Get.
	ErrNotFound = errors.New("checkpoint: not found")
	// ErrExists is returned by Save when the state blob or the manifest of the same job,
	// task and id is already on storage. A manifest is a commit point and is never
	// overwritten, nor is the state it names.
	ErrExists = errors.New("checkpoint: id already used")
	// ErrInvalid is wrapped by Save, Open and Prune for bad arguments: an invalid job name,
	// a negative task, duplicate sink names, keep < 1, an unsupported storage URL.
	ErrInvalid = errors.New("checkpoint: invalid argument")
	// ErrInjected is returned by writes that a Faults set made fail or tear.
	ErrInjected = errors.New("checkpoint: injected fault")
)

// CorruptError is the error for checkpoint data that cannot be trusted. It wraps ErrCorrupt.
type CorruptError struct {
	Key    string // the object on storage; "" for bytes given to Decode
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Key == "" {
		return "checkpoint: corrupt: " + e.Reason
	}
	return "checkpoint: corrupt: " + e.Key + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(key, format string, args ...any) error {
	return &CorruptError{Key: key, Reason: fmt.Sprintf(format, args...)}
}
