// Command glint runs Glint stream-processing jobs. See `glint --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/glintstream/glint/internal/strictyaml"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err == nil {
		return
	}
	var es strictyaml.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(os.Stderr, e)
		}
		fmt.Fprintf(os.Stderr, "%d problem(s)\n", len(es))
	} else {
		fmt.Fprintln(os.Stderr, "glint:", err)
	}
	os.Exit(1)
}
