package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// parseID reads a job id: a positive integer.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("invalid job id %q: must be a positive integer", s)
	}
	return id, nil
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, len(args))
	for i, s := range args {
		id, err := parseID(s)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// jobRef is a job named as ID or ID:TARGET (the master needs the target).
type jobRef struct {
	id     int64
	target string // "" when not given
}

// parseJobRef reads ID or ID:TARGET. A target may itself hold colons: the
// id ends at the first one.
func parseJobRef(s string) (jobRef, error) {
	idText, target, hasTarget := strings.Cut(s, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return jobRef{}, usageErr("invalid job %q: expected ID or ID:TARGET, the id a positive integer", s)
	}
	if hasTarget && target == "" {
		return jobRef{}, usageErr("invalid job %q: the target after the colon is empty", s)
	}
	return jobRef{id: id, target: target}, nil
}

// parseConcurrency reads a positive integer.
func parseConcurrency(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, usageErr("invalid concurrency %q: must be a positive integer", s)
	}
	return n, nil
}

// parseSignal reads a signal name (TERM, SIGTERM, term) or number.
func parseSignal(s string) (syscall.Signal, error) {
	sig, err := launch.ParseSignal(s)
	if err != nil || int(sig) > rpc.MaxSignal {
		return 0, usageErr("unknown signal %q: give a name like TERM, INT, KILL or a number from 1 to %d", s, rpc.MaxSignal)
	}
	return sig, nil
}

// checkTargets rejects empty target names, which the daemons refuse with a
// less helpful message.
func checkTargets(targets []string) error {
	for _, t := range targets {
		if strings.TrimSpace(t) == "" {
			return usageErr("a target name must not be empty")
		}
	}
	return nil
}

var daysRE = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseSince reads --since: a duration back from now (90s, 15m, 1h30m, 2d,
// 1w) or a date (2006-01-02, 2006-01-02 15:04, 2006-01-02T15:04:05,
// RFC 3339), in local time unless it says otherwise.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, ok := parseAgo(s); ok {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr("invalid --since %q: give a duration back from now (30m, 2h, 3d, 1w) or a date (2024-05-01, \"2024-05-01 14:00\")", s)
}

// parseAgo reads a non-negative duration that may also count days (d) and
// weeks (w): 2d12h, 1w.
func parseAgo(s string) (time.Duration, bool) {
	var total time.Duration
	if strings.HasSuffix(s, "w") && !strings.ContainsAny(s[:len(s)-1], "dhms") {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n < 0 {
			return 0, false
		}
		return time.Duration(n) * 7 * 24 * time.Hour, true
	}
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, false
		}
		total = time.Duration(n) * 24 * time.Hour
		s = m[2]
		if s == "" {
			return total, true
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return total + d, true
}

// parseStatuses reads --status values.
func parseStatuses(list []string) ([]store.Status, error) {
	var out []store.Status
	for _, s := range list {
		st := store.Status(strings.ToLower(strings.TrimSpace(s)))
		ok := false
		for _, known := range store.Statuses() {
			if st == known {
				ok = true
			}
		}
		if !ok {
			names := make([]string, 0, 6)
			for _, known := range store.Statuses() {
				names = append(names, string(known))
			}
			return nil, usageErr("unknown status %q: use %s", s, strings.Join(names, ", "))
		}
		out = append(out, st)
	}
	return out, nil
}

// parseSet reads --set COLUMN=VALUE values.
func parseSet(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageErr("invalid --set %q: expected COLUMN=VALUE", kv)
		}
		if _, dup := out[k]; dup {
			return nil, usageErr("--set %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// exitCodeOf is a finished job's exit status as a shell reports it: its
// code, 128+N when signal N killed it, 1 when it failed otherwise (the
// launcher could not start).
func exitCodeOf(result string, code *int, sig string) int {
	switch {
	case code != nil:
		return *code
	case sig != "":
		if s, err := launch.ParseSignal(sig); err == nil {
			return 128 + int(s)
		}
		return exitFailed
	case result == string(store.ResultOK):
		return exitOK
	}
	return exitFailed
}

// describeOutcome says how a job ended: "ok (exit code 0)", "fail (exit
// code 3)", "fail (killed by SIGTERM)".
func describeOutcome(result string, code *int, sig string) string {
	switch {
	case code != nil:
		return fmt.Sprintf("%s (exit code %d)", result, *code)
	case sig != "":
		return fmt.Sprintf("%s (killed by %s)", result, sig)
	}
	return result
}
