package jobd_test

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// env is a migrated database with a store to insert and inspect jobs.
type env struct {
	t  *testing.T
	db *storetest.DB
	st *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, db := storetest.NewStore(t, store.Options{})
	return &env{t: t, db: db, st: st}
}

func (e *env) jobd(spec jobdtest.JobdSpec) *jobdtest.Proc {
	e.t.Helper()
	spec.DSN = e.db.DSN
	return jobdtest.StartJobd(e.t, spec)
}

func (e *env) insert(jobs ...store.NewJob) []int64 {
	e.t.Helper()
	ids, err := e.st.JobsInsert(storetest.Context(e.t), jobs)
	require.NoError(e.t, err)
	return ids
}

func (e *env) job(id int64) store.Job {
	e.t.Helper()
	j, err := e.st.JobGet(storetest.Context(e.t), id)
	require.NoError(e.t, err)
	return j
}

// count returns how many rows have the status.
func (e *env) count(status store.Status) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.st.DB().Get(&n, "SELECT COUNT(*) FROM jobs WHERE status = ?", status))
	return n
}

// waitDone waits until every listed job is done.
func (e *env) waitDone(d time.Duration, ids ...int64) {
	e.t.Helper()
	jobdtest.Eventually(e.t, d, func() bool {
		var n int
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		q := "SELECT COUNT(*) FROM jobs WHERE status = 'done' AND id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
		require.NoError(e.t, e.st.DB().Get(&n, q, args...))
		return n == len(ids)
	}, "jobs %v not all done", ids)
}

// lines reads a file written by launchers, one record per line.
func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// interval is one job's run as a launcher recorded it.
type interval struct {
	id         int64
	slot       string
	start, end float64
}

// readIntervals parses lines "start <id> <slot> <time>" / "end <id> <slot> <time>".
func readIntervals(t *testing.T, path string) []interval {
	t.Helper()
	by := map[int64]*interval{}
	for _, l := range lines(t, path) {
		f := strings.Fields(l)
		require.Len(t, f, 4, "line %q", l)
		id, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		ts, err := strconv.ParseFloat(f[3], 64)
		require.NoError(t, err)
		iv := by[id]
		if iv == nil {
			iv = &interval{id: id, slot: strings.Trim(f[2], "-")}
			by[id] = iv
		}
		if f[0] == "start" {
			iv.start = ts
		} else {
			iv.end = ts
		}
	}
	out := make([]interval, 0, len(by))
	for _, iv := range by {
		out = append(out, *iv)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].start < out[b].start })
	return out
}

// maxOverlap is the largest number of intervals running at one instant.
func maxOverlap(ivs []interval) int {
	type ev struct {
		at    float64
		delta int
	}
	var evs []ev
	for _, iv := range ivs {
		evs = append(evs, ev{iv.start, 1}, ev{iv.end, -1})
	}
	sort.Slice(evs, func(a, b int) bool {
		if evs[a].at != evs[b].at {
			return evs[a].at < evs[b].at
		}
		return evs[a].delta < evs[b].delta // ends before starts at the same instant
	})
	cur, best := 0, 0
	for _, e := range evs {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

// recordingLauncher is a launcher script that records its start and end
// times (with the job's slot) in file and sleeps for secs seconds.
func recordingLauncher(t *testing.T, file string, secs string) string {
	return jobdtest.Script(t, fmt.Sprintf(`echo "start $1 -$JOBD_SLOT- $(date +%%s.%%N)" >> %s
sleep %s
echo "end $1 -$JOBD_SLOT- $(date +%%s.%%N)" >> %s`, file, secs, file))
}
