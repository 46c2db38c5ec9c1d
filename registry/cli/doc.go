// Package registrycli implements the `glint registry` command: NewCommand returns a cobra
// command that runs a registry node (flags --id, --raft, --api, --data, --bootstrap | --join,
// --retention, timeouts, TLS and token), with subcommands add, remove and status that talk to
// a running cluster through registry.Client. It holds flags and wiring only; the registry
// itself is package registry.
package registrycli
