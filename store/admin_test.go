package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// finishOne claims, starts and finishes the next job of target as instance.
func finishOne(t *testing.T, s *store.Store, instance int64, target string, code int) store.Job {
	t.Helper()
	jobs := claim(t, s, instance, store.Bucket{Target: target, Limit: 1})
	require.Len(t, jobs, 1)
	require.Equal(t, []bool{true}, start(t, s, instance, jobs[0].ID))
	res := store.ResultOK
	if code != 0 {
		res = store.ResultFail
	}
	require.Equal(t, []bool{true}, finish(t, s, instance, store.Outcome{ID: jobs[0].ID, Attempt: 1, Result: res,
		ReturnCode: &code, Stdout: []byte("out"), Stderr: []byte("err"), Finished: time.Now()}))
	return get(t, s, jobs[0].ID)
}

func TestJobsListFiltersNewestFirst(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	s, _ := storetest.NewStore(t, store.Options{Clock: clock})
	ctx := storetest.Context(t)
	old := insert(t, s, store.NewJob{Target: "a"}, store.NewJob{Target: "b"})
	clock.Advance(time.Hour)
	recent := insert(t, s, store.NewJob{Target: "a", Slot: "s", Priority: 5}, store.NewJob{Target: "b", Manual: true}, store.NewJob{Target: "c"})
	done := finishOne(t, s, 1, "a", 3) // the old "a" job: the recent one is in slot s
	require.Equal(t, old[0], done.ID)

	list := func(p store.JobsListParams) []int64 {
		t.Helper()
		jobs, err := s.JobsList(ctx, p)
		require.NoError(t, err)
		return ids(jobs)
	}
	all := append(append([]int64{}, old...), recent...)
	require.Equal(t, []int64{all[4], all[3], all[2], all[1], all[0]}, list(store.JobsListParams{}), "newest first")
	require.Equal(t, []int64{all[4], all[3]}, list(store.JobsListParams{Limit: 2}))
	require.Equal(t, []int64{all[3], all[1]}, list(store.JobsListParams{Targets: []string{"b"}}))
	require.Equal(t, []int64{all[4], all[3], all[1]}, list(store.JobsListParams{Targets: []string{"b", "c"}}))
	require.Equal(t, []int64{all[3]}, list(store.JobsListParams{Statuses: []store.Status{store.StatusManual}}))
	require.Equal(t, []int64{done.ID}, list(store.JobsListParams{Statuses: []store.Status{store.StatusDone}}))
	require.Equal(t, []int64{all[4], all[3], all[2]}, list(store.JobsListParams{Since: 1_800_000_000 + 3600}))
	require.Equal(t, []int64{all[3]}, list(store.JobsListParams{Since: 1_800_000_000 + 3600, Targets: []string{"b"},
		Statuses: []store.Status{store.StatusManual, store.StatusWaiting}}))
	require.Empty(t, list(store.JobsListParams{Targets: []string{"nope"}}))

	// Without Output the outcome columns are read but not the output.
	jobs, err := s.JobsList(ctx, store.JobsListParams{Statuses: []store.Status{store.StatusDone}})
	require.NoError(t, err)
	require.Equal(t, store.ResultFail, jobs[0].Result)
	require.Equal(t, 3, *jobs[0].ReturnCode)
	require.Empty(t, jobs[0].Stdout)
	jobs, err = s.JobsList(ctx, store.JobsListParams{Statuses: []store.Status{store.StatusDone}, Output: true})
	require.NoError(t, err)
	require.Equal(t, "out", jobs[0].Stdout)
	require.Equal(t, "err", jobs[0].Stderr)
}

func TestJobRowHasEveryColumnInOrder(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	_, err := s.DB().Exec("ALTER TABLE jobs ADD COLUMN job_name varchar(50) NOT NULL DEFAULT '', ADD COLUMN job_data blob NULL, ADD COLUMN weight decimal(5,2) NULL")
	require.NoError(t, err)
	id := insert(t, s, store.NewJob{Target: "t", Slot: "s1", Priority: -2, Columns: map[string]string{"job_name": "mail"}})[0]
	_, err = s.DB().Exec("UPDATE jobs SET job_data = x'00ff10', weight = 1.5 WHERE id = ?", id)
	require.NoError(t, err)

	cols, err := s.JobRow(ctx, id)
	require.NoError(t, err)
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	var want []string
	require.NoError(t, s.DB().Select(&want, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'jobs' ORDER BY ORDINAL_POSITION"))
	require.Equal(t, want, names, "every column, in the table's order")
	require.Contains(t, names, "job_name")

	val := map[string]any{}
	for _, c := range cols {
		val[c.Name] = c.Value
	}
	require.EqualValues(t, id, val["id"])
	require.Equal(t, "t", val["target"])
	require.Equal(t, "s1", val["slot"])
	require.Equal(t, "waiting", val["status"])
	require.Equal(t, int64(-2), val["priority"])
	require.Nil(t, val["result"], "NULL is nil")
	require.Nil(t, val["stdout"])
	require.Equal(t, "mail", val["job_name"])
	require.Equal(t, []byte{0, 0xff, 0x10}, val["job_data"], "binary data that is not UTF-8 stays bytes")
	require.Equal(t, "1.50", val["weight"])

	_, err = s.JobRow(ctx, id+100)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestJobsCancel(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	got := insert(t, s,
		store.NewJob{Target: "w"},               // waiting
		store.NewJob{Target: "m", Manual: true}, // manual
		store.NewJob{Target: "r"},               // running
		store.NewJob{Target: "d"},               // done
		store.NewJob{Target: "acc"},             // accepted
	)
	require.Len(t, claim(t, s, 7, store.Bucket{Target: "r", Limit: 1}), 1)
	require.Equal(t, []bool{true}, start(t, s, 7, got[2]))
	finishOne(t, s, 7, "d", 0)
	require.Len(t, claim(t, s, 7, store.Bucket{Target: "acc", Limit: 1}), 1)

	req := []int64{got[0], got[1], got[2], got[3], got[4], got[0], 999_999}
	res, err := s.JobsCancel(ctx, store.JobsCancelParams{IDs: req, Reason: "jobctl: cancelled by ops: wrong data"})
	require.NoError(t, err)
	require.Len(t, res, 6, "duplicates removed")
	want := []struct {
		id     int64
		status store.Status
		err    error
	}{
		{got[0], store.StatusWaiting, nil},
		{got[1], store.StatusManual, nil},
		{got[2], store.StatusRunning, store.ErrWrongStatus},
		{got[3], store.StatusDone, store.ErrWrongStatus},
		{got[4], store.StatusAccepted, store.ErrWrongStatus},
		{999_999, "", store.ErrNotFound},
	}
	for i, w := range want {
		require.Equal(t, w.id, res[i].ID)
		require.Equal(t, w.status, res[i].Status, "job %d", res[i].ID)
		if w.err == nil {
			require.NoError(t, res[i].Err)
		} else {
			require.ErrorIs(t, res[i].Err, w.err)
		}
	}
	for _, id := range got[:2] {
		j := get(t, s, id)
		require.Equal(t, store.StatusIgnored, j.Status)
		require.Equal(t, "jobctl: cancelled by ops: wrong data", j.Stderr)
		require.NotZero(t, j.TimeFinished)
	}
	require.Equal(t, store.StatusRunning, get(t, s, got[2]).Status, "a running job is its worker's")
	require.Equal(t, store.StatusAccepted, get(t, s, got[4]).Status)
	require.Equal(t, "out", get(t, s, got[3]).Stdout, "a finished job keeps its outcome")

	// Cancelling again refuses: the job is ignored now.
	res, err = s.JobsCancel(ctx, store.JobsCancelParams{IDs: got[:1], Reason: "again"})
	require.NoError(t, err)
	require.ErrorIs(t, res[0].Err, store.ErrWrongStatus)
	require.Equal(t, store.StatusIgnored, res[0].Status)
	require.Equal(t, "jobctl: cancelled by ops: wrong data", get(t, s, got[0]).Stderr)

	// A cancelled manual job can no longer be claimed by run-manual.
	claims, err := s.JobsClaimManual(ctx, store.ManualClaimParams{InstanceID: 7, IDs: got[1:2], Targets: map[string][]string{"m": nil}})
	require.NoError(t, err)
	require.ErrorIs(t, claims[0].Err, store.ErrNotManual)
}

func TestJobsRetry(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	_, err := s.DB().Exec("ALTER TABLE jobs ADD COLUMN job_name varchar(50) NOT NULL DEFAULT ''")
	require.NoError(t, err)
	got := insert(t, s,
		store.NewJob{Target: "d", Priority: 4, Columns: map[string]string{"job_name": "mail"}},
		store.NewJob{Target: "i"},
		store.NewJob{Target: "w"},
		store.NewJob{Target: "m", Manual: true},
	)
	done := finishOne(t, s, 3, "d", 2)
	require.Equal(t, 1, done.Attempts)
	res, err := s.JobsCancel(ctx, store.JobsCancelParams{IDs: got[1:2], Reason: "cancelled"})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)

	res, err = s.JobsRetry(ctx, store.JobsRetryParams{IDs: []int64{got[0], got[1], got[2], got[3], 999_999}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, store.StatusDone, res[0].Status)
	require.NoError(t, res[1].Err)
	require.Equal(t, store.StatusIgnored, res[1].Status)
	require.ErrorIs(t, res[2].Err, store.ErrWrongStatus)
	require.Equal(t, store.StatusWaiting, res[2].Status)
	require.ErrorIs(t, res[3].Err, store.ErrWrongStatus)
	require.ErrorIs(t, res[4].Err, store.ErrNotFound)

	j := get(t, s, got[0])
	require.Equal(t, store.StatusWaiting, j.Status)
	require.Zero(t, j.Attempts, "max_attempts applies afresh")
	require.Zero(t, j.TimeStarted)
	require.Zero(t, j.TimeFinished)
	require.Empty(t, j.Result)
	require.Nil(t, j.ReturnCode)
	require.Empty(t, j.Stdout)
	require.Empty(t, j.Stderr)
	require.Zero(t, j.InstanceID)
	require.False(t, j.Manual)
	require.Equal(t, 4, j.Priority, "priority kept")
	require.Equal(t, done.TimeCreated, j.TimeCreated, "creation time kept")
	var name string
	require.NoError(t, s.DB().Get(&name, "SELECT job_name FROM jobs WHERE id = ?", got[0]))
	require.Equal(t, "mail", name, "application columns kept")
	require.Equal(t, store.StatusWaiting, get(t, s, got[1]).Status)

	// The retried job is claimed and run again like a new one.
	again := finishOne(t, s, 4, "d", 0)
	require.Equal(t, got[0], again.ID)
	require.Equal(t, 1, again.Attempts)

	// With Manual it goes back to manual, for run-manual only.
	res, err = s.JobsRetry(ctx, store.JobsRetryParams{IDs: got[:1], Manual: true})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, store.StatusManual, get(t, s, got[0]).Status)
	require.Empty(t, claim(t, s, 4, store.Bucket{Target: "d", Limit: 1}), "a manual job is not claimed by polling")
}

func TestIsConnectError(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	db.Migrate(t, "")
	cfg, err := store.ParseDSN(db.DSN)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wrong := cfg.Clone()
	wrong.Passwd = "definitely-wrong"
	wrong.User = "nobody_here"
	_, err = store.Open(ctx, wrong.FormatDSN(), store.Options{})
	require.Error(t, err)
	require.True(t, store.IsConnectError(err), "a refused login: %v", err)
	require.NotContains(t, err.Error(), "definitely-wrong", "the password is never repeated")

	closed := cfg.Clone()
	closed.Addr = "127.0.0.1:1"
	_, err = store.Open(ctx, closed.FormatDSN(), store.Options{})
	require.Error(t, err)
	require.True(t, store.IsConnectError(err), "an unreachable server: %v", err)

	s := db.Open(t, store.Options{})
	_, err = s.DB().ExecContext(ctx, "SELECT no_such_column FROM jobs")
	require.Error(t, err)
	require.False(t, store.IsConnectError(err), "a failed statement")
	require.False(t, store.IsConnectError(errors.New("other")))
}
