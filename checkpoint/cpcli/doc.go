// Package cpcli implements `glint checkpoints`, the command that looks into checkpoint
// storage:
//
//	glint checkpoints list [--job J] [--task N] [--json]    job, task, id, age, offsets, state size, status
//	glint checkpoints inspect --job J --task N [--id ID]     one manifest in full; the state's CRC verified
//
// The persistent flag --storage (default glint-data/checkpoints) takes what checkpoint.Open
// takes. NewCommand returns the cobra command; the root command adds it. All work is done by
// package checkpoint; this package only parses flags and prints.
package cpcli
