package main

import (
	"github.com/spf13/cobra"

	"github.com/glintstream/glint/checkpoint/cpcli"
	"github.com/glintstream/glint/connector/lakehouse/lakecli"
	registrycli "github.com/glintstream/glint/registry/cli"
)

// addExtraCommands wires the commands that live with their packages.
func addExtraCommands(root *cobra.Command) {
	root.AddCommand(registrycli.NewCommand(), newDemoCmd(), cpcli.NewCommand(), lakecli.NewCommand())
}
