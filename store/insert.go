package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// NewJob is a row to insert. jobd itself never inserts; jobctl and tests do.
type NewJob struct {
	Target   string
	Slot     string // "" leaves slot NULL
	Priority int
	RunAt    int64             // unix seconds; 0: due at once
	Manual   bool              // status manual instead of waiting
	Columns  map[string]string // application columns, e.g. job_name
}

var columnNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// jobdOwned are columns an insert may not set through Columns.
var jobdOwned = []string{"id", "status", "instance_id", "attempts", "time_started", "time_finished",
	"result", "return_code", "sig", "stdout", "stderr", "target", "slot", "priority", "run_at", "time_created"}

// JobsInsert inserts jobs and returns their ids, in order. Rows with the
// same set of application columns go in one multi-row INSERT.
func (s *Store) JobsInsert(ctx context.Context, jobs []NewJob) ([]int64, error) {
	ids := make([]int64, 0, len(jobs))
	for start := 0; start < len(jobs); {
		end := start + 1
		for end < len(jobs) && end-start < 1000 && sameKeys(jobs[start].Columns, jobs[end].Columns) {
			end++
		}
		first, err := s.insertBatch(ctx, jobs[start:end])
		if err != nil {
			return ids, err
		}
		// InnoDB hands out consecutive ids to one multi-row INSERT (with the
		// default innodb_autoinc_lock_mode, and 2 for simple inserts).
		for i := range end - start {
			ids = append(ids, first+int64(i))
		}
		start = end
	}
	return ids, nil
}

func (s *Store) insertBatch(ctx context.Context, jobs []NewJob) (int64, error) {
	extra := sortedKeys(jobs[0].Columns)
	for _, c := range extra {
		if !columnNameRE.MatchString(c) {
			return 0, fmt.Errorf("column name %q is not a plain identifier", c)
		}
		if slices.Contains(jobdOwned, strings.ToLower(c)) {
			return 0, fmt.Errorf("column %q is set by jobd or by its own option, not by --set", c)
		}
	}
	cols := []string{"target", "slot", "status", "priority", "run_at", "time_created"}
	for _, c := range extra {
		cols = append(cols, "`"+c+"`")
	}
	row := "(" + placeholders(len(cols)) + ")"
	rows := make([]string, len(jobs))
	args := make([]any, 0, len(jobs)*len(cols))
	now := s.now()
	for i, j := range jobs {
		if j.Target == "" {
			return 0, fmt.Errorf("job %d of the batch has no target", i+1)
		}
		var slot any
		if j.Slot != "" {
			slot = j.Slot
		}
		status := StatusWaiting
		if j.Manual {
			status = StatusManual
		}
		args = append(args, j.Target, slot, status, j.Priority, j.RunAt, now)
		for _, c := range extra {
			args = append(args, j.Columns[c])
		}
		rows[i] = row
	}
	query := fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", s.table, strings.Join(cols, ", "), strings.Join(rows, ", "))
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("inserting %d jobs: %w", len(jobs), translate(err))
	}
	return res.LastInsertId()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
