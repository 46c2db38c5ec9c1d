package main

import "github.com/spf13/cobra"

// addExtraCommands wires the commands of other packages (registry, lake, demo).
func addExtraCommands(root *cobra.Command) {}
