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
	// The first SIGINT or SIGTERM stops cleanly (a job drains and commits); after it, the
	// default handling is back, so a second one ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
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
