package operators

import "errors"

var (
	// ErrInvalidConfig is wrapped by NewWindow for every problem in a WindowConfig.
	ErrInvalidConfig = errors.New("operators: invalid config")
	// ErrCorrupt marks a snapshot that is truncated, fails its checksum or decodes to an
	// impossible state. A corrupt snapshot never partially restores.
	ErrCorrupt = errors.New("operators: corrupt snapshot")
	// ErrSnapshotVersion marks a snapshot written by an unknown format version.
	ErrSnapshotVersion = errors.New("operators: unknown snapshot version")
	// ErrSnapshotMismatch marks a well-formed snapshot taken from an operator configured
	// differently (window kind, sizes, keys, aggregates, number of inputs).
	ErrSnapshotMismatch = errors.New("operators: snapshot does not match operator config")
)
