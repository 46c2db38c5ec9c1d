// Package lakecli implements `glint lake`, the command that looks inside the lakehouse
// directory and maintains its Iceberg tables:
//
//	glint lake tables                      list tables with rows, files, size and last commit
//	glint lake describe TABLE [--json]     schema, partitioning, snapshots with their commit
//	                                       properties (glint.job, glint.task, glint.seq), files
//	glint lake head TABLE [-n N]           first rows of the current snapshot
//	glint lake compact TABLE               small files → large ones, in one replace snapshot
//	glint lake expire TABLE                old snapshots and orphan files
//
// NewCommand returns the cobra command; the root command adds it. All work is done by
// package lakehouse; this package only parses flags and prints.
package lakecli
