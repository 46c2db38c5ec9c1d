package main

import (
	"errors"

	"github.com/glintstream/glint/internal/strictyaml"
)

// joinProblems merges the problems of several files into one strictyaml.Errors when it can, so
// main prints them one per line.
func joinProblems(acc, err error) error {
	var a, e strictyaml.Errors
	if errors.As(err, &e) && (acc == nil || errors.As(acc, &a)) {
		return append(a, e...)
	}
	return errors.Join(acc, err)
}
