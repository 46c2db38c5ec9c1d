package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// Storage layout (keys are "/"-separated whatever the store):
//
//	<job>/task-<n>/state-<id>      operator state blob, written first
//	<job>/task-<n>/manifest-<id>   manifest, written last: the commit point
//
// <n> is the task in decimal; <id> is the checkpoint id zero-padded to 20 digits (the width
// of the largest uint64), so that a lexical listing is in id order.
const (
	taskDirPrefix  = "task-"
	manifestPrefix = "manifest-"
	statePrefix    = "state-"
	idWidth        = 20
)

func taskPrefix(job string, task int32) string {
	return job + "/" + taskDirPrefix + strconv.FormatInt(int64(task), 10) + "/"
}

func manifestKey(job string, task int32, id uint64) string {
	return taskPrefix(job, task) + manifestPrefix + fmt.Sprintf("%0*d", idWidth, id)
}

func stateKey(job string, task int32, id uint64) string {
	return taskPrefix(job, task) + statePrefix + fmt.Sprintf("%0*d", idWidth, id)
}

// objKind is what a key under a task's prefix holds.
type objKind uint8

const (
	kindOther    objKind = iota // not ours: left alone
	kindManifest                // manifest-<id>
	kindState                   // state-<id>
	kindTemp                    // <manifest or state>.<hex>.tmp: a write in flight or stranded by a crash
)

// parsedKey is a key under a job's prefix, split into its parts.
type parsedKey struct {
	task int32
	kind objKind
	id   uint64
}

// parseTaskKey parses the part of a key after "<job>/": "task-<n>/<name>".
func parseTaskKey(rest string) (parsedKey, bool) {
	dir, name, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(name, "/") {
		return parsedKey{}, false
	}
	task, ok := parseTaskDir(dir)
	if !ok {
		return parsedKey{}, false
	}
	kind, id, ok := parseName(name)
	if !ok {
		return parsedKey{}, false
	}
	return parsedKey{task: task, kind: kind, id: id}, true
}

// parseTaskDir parses "task-<n>" with n a canonical non-negative int32.
func parseTaskDir(dir string) (int32, bool) {
	s, ok := strings.CutPrefix(dir, taskDirPrefix)
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return int32(n), true
}

// parseName parses "manifest-<id>", "state-<id>" and the temporary names fileblob gives
// objects while they are written next to their final path ("<name>.<hex>.tmp").
func parseName(name string) (objKind, uint64, bool) {
	temp := false
	if base, ok := strings.CutSuffix(name, ".tmp"); ok {
		dot := strings.LastIndexByte(base, '.')
		if dot < 0 {
			return kindOther, 0, false
		}
		name, temp = base[:dot], true
	}
	var kind objKind
	var digits string
	if s, ok := strings.CutPrefix(name, manifestPrefix); ok {
		kind, digits = kindManifest, s
	} else if s, ok := strings.CutPrefix(name, statePrefix); ok {
		kind, digits = kindState, s
	} else {
		return kindOther, 0, false
	}
	if len(digits) != idWidth {
		return kindOther, 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return kindOther, 0, false
	}
	if temp {
		kind = kindTemp
	}
	return kind, id, true
}
