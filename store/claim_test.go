package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

func insert(t *testing.T, s *store.Store, jobs ...store.NewJob) []int64 {
	t.Helper()
	ids, err := s.JobsInsert(storetest.Context(t), jobs)
	require.NoError(t, err)
	require.Len(t, ids, len(jobs))
	return ids
}

func claim(t *testing.T, s *store.Store, instance int64, buckets ...store.Bucket) []store.Job {
	t.Helper()
	return claimNext(t, s, instance, buckets...).Jobs
}

// claimNext claims and returns the jobs with the cursors.
func claimNext(t *testing.T, s *store.Store, instance int64, buckets ...store.Bucket) store.Claimed {
	t.Helper()
	claimed, err := s.JobsClaim(storetest.Context(t), store.ClaimParams{InstanceID: instance, Buckets: buckets})
	require.NoError(t, err)
	return claimed
}

func ids(jobs []store.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestClaimExactlyOnce(t *testing.T) {
	t.Parallel()
	const total, claimers, batch = 20_000, 8, 100
	s0, db := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	jobs := make([]store.NewJob, total)
	for i := range jobs {
		jobs[i] = store.NewJob{Target: []string{"a", "b"}[i%2], Priority: i % 3}
		if i%5 == 0 {
			jobs[i].Slot = "s"
		}
	}
	all := insert(t, s0, jobs...)

	var mu sync.Mutex
	claimedBy := map[int64][]int64{} // job -> instances that claimed it
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for c := range claimers {
		instance := int64(c + 1)
		s := db.Open(t, store.Options{MaxOpenConns: 1}) // a connection of its own
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				claimed, err := s.JobsClaim(ctx, store.ClaimParams{InstanceID: instance, Buckets: []store.Bucket{
					{Target: "a", Limit: batch}, {Target: "b", Limit: batch}, {Target: "a", Slot: "s", Limit: batch}, {Target: "b", Slot: "s", Limit: batch}}})
				if err != nil {
					errs <- err
					return
				}
				got := claimed.Jobs
				mu.Lock()
				for _, j := range got {
					claimedBy[j.ID] = append(claimedBy[j.ID], instance)
				}
				mu.Unlock()
				if len(got) == 0 {
					// Nothing claimable right now; done only when nothing waits
					// (rows skipped because another claimer held them are theirs).
					var left int
					if err := s.DB().GetContext(ctx, &left, "SELECT COUNT(*) FROM jobs WHERE status = 'waiting'"); err != nil {
						errs <- err
						return
					}
					if left == 0 {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, claimedBy, total, "every job claimed")
	perInstance := map[int64]int{}
	for _, id := range all {
		by := claimedBy[id]
		require.Len(t, by, 1, "job %d claimed by %v", id, by)
		perInstance[by[0]]++
	}
	// The rows agree with what the claimers were told.
	var rows []struct {
		ID       int64  `db:"id"`
		Status   string `db:"status"`
		Instance int64  `db:"instance_id"`
	}
	require.NoError(t, s0.DB().SelectContext(ctx, &rows, "SELECT id, status, instance_id FROM jobs"))
	for _, r := range rows {
		require.Equal(t, "accepted", r.Status)
		require.Equal(t, claimedBy[r.ID][0], r.Instance)
	}
	t.Logf("jobs per claimer: %v", perInstance)
	require.Greater(t, len(perInstance), 1, "claimers ran concurrently")
}

func TestClaimOrderAndLimits(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	// ids ascending: p0, p5, p0, p9, p5, p9 and one of another target.
	got := insert(t, s,
		store.NewJob{Target: "t", Priority: 0},
		store.NewJob{Target: "t", Priority: 5},
		store.NewJob{Target: "t", Priority: 0},
		store.NewJob{Target: "t", Priority: 9},
		store.NewJob{Target: "t", Priority: 5},
		store.NewJob{Target: "t", Priority: 9},
		store.NewJob{Target: "other", Priority: 100},
		store.NewJob{Target: "t", Priority: 100, Manual: true},
	)
	want := []int64{got[3], got[5], got[1], got[4], got[0], got[2]}
	first := claim(t, s, 1, store.Bucket{Target: "t", Limit: 4})
	require.Equal(t, want[:4], ids(first))
	for _, j := range first {
		require.Equal(t, store.StatusAccepted, j.Status)
		require.Equal(t, int64(1), j.InstanceID)
	}
	rest := claim(t, s, 2, store.Bucket{Target: "t", Limit: 10})
	require.Equal(t, want[4:], ids(rest), "manual jobs and other targets are never claimed by polling")
	require.Empty(t, claim(t, s, 2, store.Bucket{Target: "t", Limit: 10}))
}

func TestClaimEmptySlotIsTheTargetPool(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewStore(t, store.Options{})
	got := insert(t, s,
		store.NewJob{Target: "t"},             // slot NULL
		store.NewJob{Target: "t", Slot: "s1"}, // slot s1
		store.NewJob{Target: "t", Priority: 1},
		store.NewJob{Target: "t", Slot: "s2"},
	)
	// A row whose slot is '' (as some applications insert) is in the pool too.
	_, err := s.DB().Exec("UPDATE jobs SET slot = '' WHERE id = ?", got[2])
	require.NoError(t, err)
	_ = db

	pool := claim(t, s, 1, store.Bucket{Target: "t", Limit: 10})
	require.Equal(t, []int64{got[2], got[0]}, ids(pool), "NULL and '' slots merged in claim order")
	s1 := claim(t, s, 1, store.Bucket{Target: "t", Slot: "s1", Limit: 10})
	require.Equal(t, []int64{got[1]}, ids(s1))
	require.Equal(t, "s1", s1[0].Slot)

	// A bucket limit of 1 over the two halves of the pool still returns one.
	more := insert(t, s, store.NewJob{Target: "u"}, store.NewJob{Target: "u"})
	_, err = s.DB().Exec("UPDATE jobs SET slot = '' WHERE id = ?", more[1])
	require.NoError(t, err)
	require.Equal(t, []int64{more[0]}, ids(claim(t, s, 1, store.Bucket{Target: "u", Limit: 1})))
	require.Equal(t, []int64{more[1]}, ids(claim(t, s, 1, store.Bucket{Target: "u", Limit: 1})))
}

func TestClaimSkipsDelayedJobsUntilDue(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	s, _ := storetest.NewStore(t, store.Options{Clock: clock})
	now := clock.Now().Unix()
	got := insert(t, s,
		store.NewJob{Target: "t", RunAt: now + 600, Priority: 10},
		store.NewJob{Target: "t"},
		store.NewJob{Target: "t", RunAt: now - 5},
		store.NewJob{Target: "t", RunAt: now + 60},
	)
	require.Equal(t, []int64{got[1], got[2]}, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 10})))

	due, ok, err := s.JobsNextDue(storetest.Context(t), []string{"t", "nothing"})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now+60, due)

	clock.Advance(59 * time.Second)
	require.Empty(t, claim(t, s, 1, store.Bucket{Target: "t", Limit: 10}), "not one second early")
	clock.Advance(time.Second)
	require.Equal(t, []int64{got[3]}, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 10})))
	clock.Advance(10 * time.Minute)
	require.Equal(t, []int64{got[0]}, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 10})))

	_, ok, err = s.JobsNextDue(storetest.Context(t), []string{"t"})
	require.NoError(t, err)
	require.False(t, ok)
}

func TestClaimUsesIndex(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewStore(t, store.Options{})
	storetest.FillWaiting(t, db, "", 50_000, 10)
	_, err := s.DB().Exec("UPDATE jobs SET slot = 's1' WHERE id % 7 = 0")
	require.NoError(t, err)
	_, err = s.DB().Exec("ANALYZE TABLE jobs")
	require.NoError(t, err)
	for _, slot := range []string{"", "s1"} {
		plan, err := s.ClaimPlan(storetest.Context(t), "t3", slot)
		require.NoError(t, err)
		require.NotEmpty(t, plan)
		for _, row := range plan {
			require.Equal(t, "jobd_claim_idx", row.Key, "slot %q: %+v", slot, row)
			require.NotEqual(t, "ALL", row.Type, "slot %q: full scan: %+v", slot, row)
			require.NotContains(t, row.Extra, "filesort", "slot %q: %+v", slot, row)
		}
	}
}

func TestClaimManual(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	got := insert(t, s,
		store.NewJob{Target: "t", Manual: true},
		store.NewJob{Target: "t"}, // waiting: not for run-manual
		store.NewJob{Target: "elsewhere", Manual: true},
		store.NewJob{Target: "t", Slot: "nope", Manual: true},
		store.NewJob{Target: "t", Slot: "s1", Manual: true},
	)
	res, err := s.JobsClaimManual(ctx, store.ManualClaimParams{InstanceID: 7,
		IDs:     []int64{got[0], got[1], got[2], got[3], got[4], 999999},
		Targets: map[string][]string{"t": {"s1"}}})
	require.NoError(t, err)
	require.Len(t, res, 6)
	require.NotNil(t, res[0].Job)
	require.Equal(t, store.StatusAccepted, res[0].Job.Status)
	require.ErrorIs(t, res[1].Err, store.ErrNotManual)
	require.ErrorContains(t, res[1].Err, "it is waiting")
	require.ErrorIs(t, res[2].Err, store.ErrNotServed)
	require.ErrorIs(t, res[3].Err, store.ErrUnknownSlot)
	require.NotNil(t, res[4].Job)
	require.Equal(t, "s1", res[4].Job.Slot)
	require.ErrorIs(t, res[5].Err, store.ErrNotFound)

	check := func(id int64, status store.Status, instance int64) store.Job {
		j, err := s.JobGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, status, j.Status, "job %d", id)
		require.Equal(t, instance, j.InstanceID, "job %d", id)
		return j
	}
	check(got[0], store.StatusAccepted, 7)
	check(got[1], store.StatusWaiting, 0)
	check(got[2], store.StatusManual, 0)
	ign := check(got[3], store.StatusIgnored, 0)
	require.Contains(t, ign.Stderr, `slot "nope" is not configured for target "t"`)

	// Asking again for a job already accepted: not manual any more.
	res, err = s.JobsClaimManual(ctx, store.ManualClaimParams{InstanceID: 8, IDs: []int64{got[0]}, Targets: map[string][]string{"t": nil}})
	require.NoError(t, err)
	require.ErrorIs(t, res[0].Err, store.ErrNotManual)

	// Released (jobd shutting down before it started): manual again, not waiting.
	require.True(t, check(got[0], store.StatusAccepted, 7).Manual)
	n, err := s.JobsRelease(ctx, 7, []int64{got[0], got[4]})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.False(t, check(got[0], store.StatusManual, 0).Manual)
	check(got[4], store.StatusManual, 0)
}

func TestIgnoreUnknownSlots(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	got := insert(t, s,
		store.NewJob{Target: "t"},
		store.NewJob{Target: "t", Slot: "s1"},
		store.NewJob{Target: "t", Slot: "bogus"},
		store.NewJob{Target: "u", Slot: "bogus"},
		store.NewJob{Target: "t", Slot: "zzz", Manual: true},
	)
	ignored, err := s.JobsIgnoreUnknownSlots(storetest.Context(t), store.IgnoreSlotsParams{Target: "t", Slots: []string{"s1"}})
	require.NoError(t, err)
	require.Equal(t, []int64{got[2]}, ignored)
	j, err := s.JobGet(storetest.Context(t), got[2])
	require.NoError(t, err)
	require.Equal(t, store.StatusIgnored, j.Status)
	require.Equal(t, `jobd: ignored: slot "bogus" is not configured for target "t"`, j.Stderr)
	require.NotZero(t, j.TimeFinished)

	// A target without slots: every slotted job of it is unknown.
	ignored, err = s.JobsIgnoreUnknownSlots(storetest.Context(t), store.IgnoreSlotsParams{Target: "u"})
	require.NoError(t, err)
	require.Equal(t, []int64{got[3]}, ignored)
	for _, id := range []int64{got[0], got[1], got[4]} {
		j, err := s.JobGet(storetest.Context(t), id)
		require.NoError(t, err)
		require.NotEqual(t, store.StatusIgnored, j.Status)
	}
}

func TestJobsInsertColumns(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	_, err := s.DB().Exec("ALTER TABLE jobs ADD COLUMN job_name varchar(50) NOT NULL DEFAULT ''")
	require.NoError(t, err)
	got := insert(t, s, store.NewJob{Target: "t", Columns: map[string]string{"job_name": "mail"}}, store.NewJob{Target: "t"})
	var name string
	require.NoError(t, s.DB().Get(&name, "SELECT job_name FROM jobs WHERE id = ?", got[0]))
	require.Equal(t, "mail", name)

	_, err = s.JobsInsert(storetest.Context(t), []store.NewJob{{Target: "t", Columns: map[string]string{"status": "done"}}})
	require.ErrorContains(t, err, `column "status" is set by jobd`)
	_, err = s.JobsInsert(storetest.Context(t), []store.NewJob{{Target: "t", Columns: map[string]string{"a`b": "x"}}})
	require.ErrorContains(t, err, "not a plain identifier")
	_, err = s.JobsInsert(storetest.Context(t), []store.NewJob{{Target: "t", Columns: map[string]string{"no_such": "x"}}})
	require.ErrorContains(t, err, "no_such")
}

func TestClaimManyTargetsOneRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	var jobs []store.NewJob
	var buckets []store.Bucket
	for i := range 20 {
		target := fmt.Sprintf("t%02d", i)
		jobs = append(jobs, store.NewJob{Target: target}, store.NewJob{Target: target}, store.NewJob{Target: target, Slot: "x"})
		buckets = append(buckets, store.Bucket{Target: target, Limit: 1}, store.Bucket{Target: target, Slot: "x", Limit: 5})
	}
	insert(t, s, jobs...)
	got := claim(t, s, 3, buckets...)
	require.Len(t, got, 40)
	perTarget := map[string]int{}
	for _, j := range got {
		perTarget[j.Target+"/"+j.Slot]++
	}
	for k, n := range perTarget {
		require.Equal(t, 1, n, k)
	}
	require.True(t, slices.IsSortedFunc(got[:2], func(a, b store.Job) int { return strings.Compare(a.Target, b.Target) }))
}

func TestClaimFromCursor(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	got := insert(t, s,
		store.NewJob{Target: "t", Priority: 5},
		store.NewJob{Target: "t", Priority: 5},
		store.NewJob{Target: "t", Priority: 1},
		store.NewJob{Target: "t", Priority: 5},
	)
	first := claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 2})
	require.Equal(t, []int64{got[0], got[1]}, ids(first.Jobs))
	require.Equal(t, []*store.Cursor{{Priority: 5, ID: got[1], NullSlot: true}}, first.Next, "full: the next claim resumes after the last job")
	// A job of higher priority arrives; a claim from the cursor goes on in
	// order after it, a claim from the head finds the newcomer.
	late := insert(t, s, store.NewJob{Target: "t", Priority: 9})
	next := claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 1, After: first.Next[0]})
	require.Equal(t, []int64{got[3]}, ids(next.Jobs))
	next = claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 1, After: next.Next[0]})
	require.Equal(t, []int64{got[2]}, ids(next.Jobs), "then the lower priority")
	last := claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 1, After: next.Next[0]})
	require.Empty(t, last.Jobs)
	require.Equal(t, []*store.Cursor{nil}, last.Next, "short: the next claim starts from the head")
	require.Equal(t, late, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 5})))
}

// insertEmptySlot inserts a waiting job of target t whose slot is ” (as
// clients of the original may write), not NULL.
func insertEmptySlot(t *testing.T, s *store.Store) int64 {
	t.Helper()
	res, err := s.DB().ExecContext(storetest.Context(t), "INSERT INTO jobs (target, slot, time_created) VALUES ('t', '', 1)")
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	return id
}

// Rows whose slot is ” belong to the target's own pool with those whose slot
// is NULL. A claim from a cursor reads each kind only when the claim that
// left the cursor found some: otherwise it would pay, at every claim, for a
// walk over the delete-marked index entries that follow the empty range.
func TestClaimEmptySlotFromCursor(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})

	// Interleaved: the empty-slot rows the first claim found but did not
	// take (its room was full) are taken by the claims from its cursor, in
	// claim order.
	a := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	b := insertEmptySlot(t, s)
	c := insert(t, s, store.NewJob{Target: "t"})
	d := insertEmptySlot(t, s)
	first := claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 2})
	require.Equal(t, a, ids(first.Jobs))
	require.Equal(t, []*store.Cursor{{ID: a[1], NullSlot: true, EmptySlot: true}}, first.Next)
	next := claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 2, After: first.Next[0]})
	require.Equal(t, []int64{b, c[0]}, ids(next.Jobs))
	require.Equal(t, []*store.Cursor{{ID: c[0], NullSlot: true, EmptySlot: true}}, next.Next)
	require.Equal(t, []int64{d}, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 2, After: next.Next[0]})))

	// Only NULL found: a claim from the cursor reads only slot IS NULL, and
	// an empty-slot row that arrived after the cursor waits for the next
	// claim from the head.
	e := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	first = claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 1})
	require.Equal(t, e[:1], ids(first.Jobs))
	require.Equal(t, []*store.Cursor{{ID: e[0], NullSlot: true}}, first.Next)
	f := insertEmptySlot(t, s)
	require.Equal(t, e[1:], ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 3, After: first.Next[0]})))
	require.Equal(t, []int64{f}, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 3})))

	// Only '' found: the same the other way round.
	g := []int64{insertEmptySlot(t, s), insertEmptySlot(t, s), insertEmptySlot(t, s)}
	first = claimNext(t, s, 1, store.Bucket{Target: "t", Limit: 1})
	require.Equal(t, g[:1], ids(first.Jobs))
	require.Equal(t, []*store.Cursor{{ID: g[0], EmptySlot: true}}, first.Next)
	h := insert(t, s, store.NewJob{Target: "t"})
	require.Equal(t, g[1:], ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 3, After: first.Next[0]})))
	require.Equal(t, h, ids(claim(t, s, 1, store.Bucket{Target: "t", Limit: 3})))
}

func TestJobsEligible(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	s, _ := storetest.NewStore(t, store.Options{Clock: clock})
	ctx := storetest.Context(t)
	eligible := func(target, slot string) bool {
		ok, err := s.JobsEligible(ctx, target, slot)
		require.NoError(t, err)
		return ok
	}
	require.False(t, eligible("t", ""))
	insert(t, s, store.NewJob{Target: "t", RunAt: clock.Now().Unix() + 60}, store.NewJob{Target: "t", Slot: "x"})
	require.False(t, eligible("t", ""), "a delayed job is not eligible yet")
	require.True(t, eligible("t", "x"))
	clock.Advance(time.Minute)
	require.True(t, eligible("t", ""))

	// A row locked by an in-flight claim still counts: it is not claimed yet.
	tx, err := s.DB().Beginx()
	require.NoError(t, err)
	defer tx.Rollback()
	var id int64
	require.NoError(t, tx.Get(&id, "SELECT id FROM jobs WHERE slot = 'x' FOR UPDATE"))
	require.True(t, eligible("t", "x"))
	require.Empty(t, claim(t, s, 1, store.Bucket{Target: "t", Slot: "x", Limit: 1}), "skipped: locked")
}

func TestClaimAndStart(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	s, _ := storetest.NewStore(t, store.Options{Clock: clock})
	ctx := storetest.Context(t)
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t", Slot: "x"})
	jobs := claim(t, s, 4, store.Bucket{Target: "t", Limit: 3, Start: 2}, store.Bucket{Target: "t", Slot: "x", Limit: 1, Start: 1})
	require.Equal(t, []int64{got[0], got[1], got[2], got[3]}, ids(jobs))
	want := []store.Status{store.StatusRunning, store.StatusRunning, store.StatusAccepted, store.StatusRunning}
	for i, j := range jobs {
		require.Equal(t, want[i], j.Status, "job %d", i)
		require.Zero(t, j.Attempts, "Attempts is the count before the claim")
		row := get(t, s, j.ID)
		require.Equal(t, want[i], row.Status)
		require.Equal(t, int64(4), row.InstanceID)
		if want[i] == store.StatusRunning {
			require.Equal(t, 1, row.Attempts)
			require.Equal(t, int64(1_800_000_000), row.TimeStarted)
		} else {
			require.Zero(t, row.Attempts)
			require.Zero(t, row.TimeStarted)
		}
	}
	// A claim-started job finishes like any other: the fence is attempt 1.
	require.Equal(t, []bool{true}, finish(t, s, 4, store.Outcome{ID: got[0], Attempt: 1, Result: store.ResultOK, ReturnCode: code(0), Finished: time.Now()}))

	// Taken back before launch: waiting again, as if never claimed; only
	// running rows of the instance.
	n, err := s.JobsUnstart(ctx, 4, []int64{got[1], got[2], got[3]})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, id := range []int64{got[1], got[3]} {
		row := get(t, s, id)
		require.Equal(t, store.StatusWaiting, row.Status)
		require.Zero(t, row.Attempts)
		require.Zero(t, row.TimeStarted)
		require.Zero(t, row.InstanceID)
	}
	require.Equal(t, store.StatusAccepted, get(t, s, got[2]).Status)
}

// A claim is two requests on a connection of its own pool; when either
// fails, its transaction is rolled back before the connection is reused,
// and the rows it locked are free again.
func TestClaimTxFailureLeavesNothingOpen(t *testing.T) {
	t.Parallel()
	s, _ := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	id := insert(t, s, store.NewJob{Target: "a"})[0]
	lock := fmt.Sprintf("SELECT %s FROM jobs WHERE id = %d FOR UPDATE", store.JobColumnsForTest, id)

	// The happy path: both UPDATEs' counts, and committed.
	changed, err := s.ClaimTxForTest(ctx, lock, []string{
		fmt.Sprintf("UPDATE jobs SET priority = 5 WHERE id = %d", id),
		fmt.Sprintf("UPDATE jobs SET priority = 6 WHERE id = %d OR id = 0", id),
	})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 1}, changed)
	in, err := s.ClaimConnInTransaction(ctx)
	require.NoError(t, err)
	require.False(t, in)

	for name, tc := range map[string]struct {
		query   string
		updates []string
	}{
		"the SELECT fails": {lock + " AND no_such_column = 1", nil},
		"an UPDATE fails": {lock, []string{
			fmt.Sprintf("UPDATE jobs SET priority = 7 WHERE id = %d", id),
			"UPDATE no_such_table SET x = 1",
		}},
	} {
		_, err := s.ClaimTxForTest(ctx, tc.query, tc.updates)
		require.Error(t, err, name)
		in, err := s.ClaimConnInTransaction(ctx)
		require.NoError(t, err)
		require.False(t, in, "%s: the connection came back with a transaction open", name)
		// Nothing of it committed, and its lock is gone: a claim takes the row.
		jobs := claim(t, s, 1, store.Bucket{Target: "a", Limit: 1})
		require.Len(t, jobs, 1, name)
		require.Equal(t, 6, jobs[0].Priority, name)
		_, err = s.JobsRelease(ctx, 1, []int64{id})
		require.NoError(t, err)
	}
}
