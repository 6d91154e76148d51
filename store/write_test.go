package store_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

func start(t *testing.T, s *store.Store, instance int64, ids ...int64) []bool {
	t.Helper()
	ok, err := s.JobsStart(storetest.Context(t), store.StartParams{InstanceID: instance, IDs: ids, Started: time.Now()})
	require.NoError(t, err)
	return ok
}

func finish(t *testing.T, s *store.Store, instance int64, outs ...store.Outcome) []bool {
	t.Helper()
	ok, err := s.JobsFinish(storetest.Context(t), store.FinishParams{InstanceID: instance, Outcomes: outs})
	require.NoError(t, err)
	return ok
}

func get(t *testing.T, s *store.Store, id int64) store.Job {
	t.Helper()
	j, err := s.JobGet(storetest.Context(t), id)
	require.NoError(t, err)
	return j
}

func code(c int) *int { return &c }

func TestStartAndFinish(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	claim(t, s, 1, store.Bucket{Target: "t", Limit: 3})
	require.Equal(t, []bool{true, true, true}, start(t, s, 1, got...))
	j := get(t, s, got[0])
	require.Equal(t, store.StatusRunning, j.Status)
	require.Equal(t, 1, j.Attempts)
	require.NotZero(t, j.TimeStarted)

	done := time.Unix(1_900_000_000, 0)
	applied := finish(t, s, 1,
		store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Stdout: []byte("hello\n"), Finished: done},
		store.Outcome{ID: got[1], Attempt: 1, Result: store.ResultFail, ReturnCode: code(3), Stderr: []byte("boom"), Finished: done},
		store.Outcome{ID: got[2], Attempt: 1, Result: store.ResultFail, Signal: "SIGKILL", Finished: done},
	)
	require.Equal(t, []bool{true, true, true}, applied)
	j = get(t, s, got[0])
	require.Equal(t, store.StatusDone, j.Status)
	require.Equal(t, store.ResultOK, j.Result)
	require.Equal(t, 0, *j.ReturnCode)
	require.Equal(t, "hello\n", j.Stdout)
	require.Equal(t, int64(1_900_000_000), j.TimeFinished)
	j = get(t, s, got[1])
	require.Equal(t, store.ResultFail, j.Result)
	require.Equal(t, 3, *j.ReturnCode)
	require.Equal(t, "boom", j.Stderr)
	j = get(t, s, got[2])
	require.Nil(t, j.ReturnCode)
	require.Equal(t, "SIGKILL", j.Sig)

	// Finishing twice (a retried write whose first answer was lost) reports
	// applied and changes nothing.
	require.Equal(t, []bool{true}, finish(t, s, 1, store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Finished: done}))
	require.Equal(t, "hello\n", get(t, s, got[0]).Stdout)
}

func TestFencing(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	a, b := int64(10), int64(20)
	claim(t, s, a, store.Bucket{Target: "t", Limit: 2})

	// Starting someone else's job does nothing.
	require.Equal(t, []bool{false, false}, start(t, s, b, got...))
	require.Equal(t, []bool{true, true}, start(t, s, a, got...))

	// A is presumed dead: recovery puts its running job 0 back to waiting…
	ok, err := s.JobsRequeue(ctx, store.RequeueParams{InstanceID: a, From: store.StatusRunning,
		Jobs: []store.Requeue{{ID: got[0], Attempt: 1}}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ok)
	// …and B claims and runs it.
	claim(t, s, b, store.Bucket{Target: "t", Limit: 1})
	require.Equal(t, []bool{true}, start(t, s, b, got[0]))

	// A wakes up and reports its outcome: it no longer holds the job.
	applied := finish(t, s, a,
		store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Stdout: []byte("from A"), Finished: time.Now()},
		store.Outcome{ID: got[1], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Stdout: []byte("from A"), Finished: time.Now()},
	)
	require.Equal(t, []bool{false, true}, applied, "job 0 is B's now; job 1 is still A's")
	j := get(t, s, got[0])
	require.Equal(t, store.StatusRunning, j.Status)
	require.Equal(t, b, j.InstanceID)
	require.Equal(t, 2, j.Attempts)
	require.Empty(t, j.Stdout)

	// A requeue by A of B's job does not apply either.
	ok, err = s.JobsRequeue(ctx, store.RequeueParams{InstanceID: a, From: store.StatusRunning, Jobs: []store.Requeue{{ID: got[0], Attempt: 2}}})
	require.NoError(t, err)
	require.Equal(t, []bool{false}, ok)

	// Same instance, stale attempt: the fence is on the attempt too.
	applied = finish(t, s, b, store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultFail, Finished: time.Now()})
	require.Equal(t, []bool{false}, applied)
	applied = finish(t, s, b, store.Outcome{ID: got[0], Attempt: 2, Result: store.ResultOK, ReturnCode: code(0), Finished: time.Now()})
	require.Equal(t, []bool{true}, applied)

	// Recovery records a dead instance's job as failed, under its own id;
	// the dead instance's own write afterwards is refused and says so (even
	// though it names the same attempt).
	got2 := insert(t, s, store.NewJob{Target: "t"})
	claim(t, s, a, store.Bucket{Target: "t", Limit: 1})
	require.Equal(t, []bool{true}, start(t, s, a, got2[0]))
	ok2, err := s.JobsFinish(ctx, store.FinishParams{InstanceID: a, RecordedBy: b,
		Outcomes: []store.Outcome{{ID: got2[0], Attempt: 1, Result: store.ResultFail, Stderr: []byte("lost"), Finished: time.Now()}}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ok2)
	require.Equal(t, b, get(t, s, got2[0]).InstanceID)
	applied = finish(t, s, a, store.Outcome{ID: got2[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Stdout: []byte("zombie"), Finished: time.Now()})
	require.Equal(t, []bool{false}, applied)
	require.Equal(t, "lost", get(t, s, got2[0]).Stderr)

	// Ignore is fenced on holder and status.
	ign, err := s.JobIgnore(ctx, store.IgnoreParams{ID: got[0], From: store.StatusWaiting, Reason: "x"})
	require.NoError(t, err)
	require.False(t, ign)
	require.Equal(t, store.StatusDone, get(t, s, got[0]).Status)
}

// One statement writes a batch of outcomes; each row is fenced on its own
// attempt, and the values shared by the batch are written to every row.
func TestFinishBatchFencesEachAttempt(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	claim(t, s, 1, store.Bucket{Target: "t", Limit: 2})
	require.Equal(t, []bool{true, true}, start(t, s, 1, got...))
	// The second job runs a second time.
	ok, err := s.JobsRequeue(storetest.Context(t), store.RequeueParams{InstanceID: 1, From: store.StatusRunning,
		Jobs: []store.Requeue{{ID: got[1], Attempt: 1}}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ok)
	claim(t, s, 1, store.Bucket{Target: "t", Limit: 1})
	require.Equal(t, []bool{true}, start(t, s, 1, got[1]))

	done := time.Unix(1_900_000_000, 0)
	out := func(id int64, attempt int) store.Outcome {
		return store.Outcome{ID: id, Attempt: attempt, Result: store.ResultOK, ReturnCode: code(0), Stdout: []byte("same"), Finished: done}
	}
	require.Equal(t, []bool{false, false}, finish(t, s, 1, out(got[0], 2), out(got[1], 1)), "attempts swapped")
	require.Equal(t, store.StatusRunning, get(t, s, got[0]).Status)
	require.Equal(t, []bool{true, true}, finish(t, s, 1, out(got[0], 1), out(got[1], 2)))
	for i, id := range got {
		j := get(t, s, id)
		require.Equal(t, store.StatusDone, j.Status)
		require.Equal(t, i+1, j.Attempts)
		require.Equal(t, "same", j.Stdout)
		require.Equal(t, 0, *j.ReturnCode)
		require.Equal(t, int64(1_900_000_000), j.TimeFinished)
	}
}

func TestRequeueKeepsOutputAndRelease(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	claim(t, s, 1, store.Bucket{Target: "t", Limit: 3})
	start(t, s, 1, got[0])

	ok, err := s.JobsRequeue(ctx, store.RequeueParams{InstanceID: 1, From: store.StatusRunning, Jobs: []store.Requeue{{
		ID: got[0], Attempt: 1, RunAt: 2_000_000_000,
		Output: &store.Outcome{Result: store.ResultFail, ReturnCode: code(2), Stdout: []byte("try 1"), Stderr: []byte("failed")},
	}}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ok)
	j := get(t, s, got[0])
	require.Equal(t, store.StatusWaiting, j.Status)
	require.Zero(t, j.InstanceID)
	require.Equal(t, int64(2_000_000_000), j.RunAt)
	require.Equal(t, 1, j.Attempts, "the attempt count is kept")
	require.Equal(t, "try 1", j.Stdout)
	require.Equal(t, 2, *j.ReturnCode)

	n, err := s.JobsRelease(ctx, 1, []int64{got[1], got[2], got[0]})
	require.NoError(t, err)
	require.Equal(t, 2, n, "only the accepted ones are released")
	require.Equal(t, store.StatusWaiting, get(t, s, got[1]).Status)
	require.Zero(t, get(t, s, got[1]).Attempts)
}

func TestOutputIsStoredWhateverItIs(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewStore(t, store.Options{})
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	claim(t, s, 1, store.Bucket{Target: "t", Limit: 2})
	start(t, s, 1, got...)

	bad := []byte("ok \xff\xfe bad \x00 nul \xe2\x82 cut ✓ 😀")
	huge := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // 20 MiB: larger than the column and the packet
	applied := finish(t, s, 1,
		store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultFail, ReturnCode: code(1), Stdout: bad, Stderr: bad, Finished: time.Now()},
		store.Outcome{ID: got[1], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Stdout: huge, Stderr: []byte("small"), Finished: time.Now()},
	)
	require.Equal(t, []bool{true, true}, applied)
	j := get(t, s, got[0])
	require.Equal(t, "ok \uFFFD bad \x00 nul \uFFFD cut ✓ 😀", j.Stdout)
	require.True(t, utf8.ValidString(j.Stderr))
	j = get(t, s, got[1])
	require.Less(t, len(j.Stdout), len(huge))
	require.True(t, strings.HasPrefix(j.Stdout, "0123456789abcdef0123"))
	require.Regexp(t, `\n\[jobd: cut to fit the column: \d+ of 20971520 bytes kept\]$`, j.Stdout)
	require.Equal(t, "small", j.Stderr)

	// A utf8mb3 table (the original README's charset) with small TEXT columns.
	db.Migrate(t, "jobs3")
	_, err := s.DB().Exec("ALTER TABLE jobs3 CONVERT TO CHARACTER SET utf8mb3, MODIFY stdout TEXT, MODIFY stderr TEXT")
	require.NoError(t, err)
	s2 := db.Open(t, store.Options{Table: "jobs3"})
	more := insert(t, s2, store.NewJob{Target: "t"})
	claim(t, s2, 1, store.Bucket{Target: "t", Limit: 1})
	start(t, s2, 1, more...)
	long := bytes.Repeat([]byte("é"), 40_000) // 80,000 bytes > 65,535
	applied = finish(t, s2, 1, store.Outcome{ID: more[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0),
		Stdout: []byte("emoji 😀 here"), Stderr: long, Finished: time.Now()})
	require.Equal(t, []bool{true}, applied)
	j = get(t, s2, more[0])
	require.Equal(t, "emoji \uFFFD here", j.Stdout, "4-byte characters do not fit utf8mb3")
	require.LessOrEqual(t, len(j.Stderr), 65535)
	require.Contains(t, j.Stderr, "[jobd: cut to fit the column:")
	require.True(t, utf8.ValidString(j.Stderr), "cut at a character boundary")
}
