package agg

import "errors"

// Errors, matched with errors.Is. The returned errors wrap these with the details (the function,
// the types it accepts, a suggestion, where a snapshot broke off).
var (
	// ErrUnknownFunc: New was given a name that is not an aggregate function.
	ErrUnknownFunc = errors.New("agg: unknown aggregate function")
	// ErrArgType: the function does not accept the input field's type.
	ErrArgType = errors.New("agg: unsupported argument type")
	// ErrArity: the function needs a field and has none, or takes none and has one.
	ErrArity = errors.New("agg: wrong number of arguments")
	// ErrSyntax: ParseSpec could not parse the text.
	ErrSyntax = errors.New("agg: syntax error")
	// ErrCorrupt: a snapshot is truncated or holds impossible values.
	ErrCorrupt = errors.New("agg: corrupt snapshot")
	// ErrIncompatible: a snapshot was written by another function, input type or format version
	// than the one reading it (the job changed between checkpoint and restore).
	ErrIncompatible = errors.New("agg: incompatible snapshot")
)
