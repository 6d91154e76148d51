package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

func TestInstancesHeartbeatAndDeadHolders(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Unix(1_800_000_000, 0))
	s, _ := storetest.NewStore(t, store.Options{Clock: clock})
	ctx := storetest.Context(t)

	reg := func(name string) int64 {
		id, err := s.InstanceRegister(ctx, store.InstanceRegisterParams{Name: name, Host: "h1", PID: 42, Version: "test", Targets: []string{"t"}})
		require.NoError(t, err)
		return id
	}
	a, b := reg("a"), reg("b")
	got := insert(t, s, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	claim(t, s, a, store.Bucket{Target: "t", Limit: 2})
	start(t, s, a, got[0])
	claim(t, s, b, store.Bucket{Target: "t", Limit: 1})

	in, err := s.InstanceGet(ctx, a)
	require.NoError(t, err)
	require.Equal(t, []string{"t"}, in.Targets)
	require.Equal(t, "alive", in.State)

	// 30s later b heartbeats, a does not.
	clock.Advance(30 * time.Second)
	require.NoError(t, s.InstanceHeartbeat(ctx, store.InstanceHeartbeatParams{ID: b, Targets: []string{"t", "u"}}))
	dead, err := s.JobsHeldByDead(ctx, time.Minute, b, 0)
	require.NoError(t, err)
	require.Empty(t, dead, "nobody is stale yet")

	clock.Advance(31 * time.Second)
	stale, err := s.InstancesStale(ctx, time.Minute, b)
	require.NoError(t, err)
	require.Len(t, stale, 1)
	require.Equal(t, a, stale[0].ID)
	dead, err = s.JobsHeldByDead(ctx, time.Minute, b, 0)
	require.NoError(t, err)
	require.Equal(t, []int64{got[0], got[1]}, ids(dead))
	require.Equal(t, store.StatusRunning, dead[0].Status)
	require.Equal(t, store.StatusAccepted, dead[1].Status)

	// Only one recoverer wins the instance.
	won, err := s.InstanceMarkLost(ctx, a)
	require.NoError(t, err)
	require.True(t, won)
	won, err = s.InstanceMarkLost(ctx, a)
	require.NoError(t, err)
	require.False(t, won)
	// The zombie learns it was declared lost at its next heartbeat.
	require.ErrorIs(t, s.InstanceHeartbeat(ctx, store.InstanceHeartbeatParams{ID: a}), store.ErrInstanceLost)

	// Its jobs are still listed (state lost) until recovery moves them.
	dead, err = s.JobsHeldByDead(ctx, time.Hour, b, 0)
	require.NoError(t, err)
	require.Len(t, dead, 2)

	// A restarted "b" finds its previous incarnation.
	b2 := reg("b")
	prev, err := s.InstancesPrevious(ctx, "b", "h1", b2)
	require.NoError(t, err)
	require.Len(t, prev, 1)
	require.Equal(t, b, prev[0].ID)
	held, err := s.JobsHeldBy(ctx, b)
	require.NoError(t, err)
	require.Equal(t, []int64{got[2]}, ids(held))

	require.NoError(t, s.InstanceStop(ctx, b))
	prev, err = s.InstancesPrevious(ctx, "b", "h1", b2)
	require.NoError(t, err)
	require.Empty(t, prev)
}

// The jobs an instance holds are found through a status index, not by
// reading the table: with no index leading with instance_id, a plan that
// started from jobs_instances would scan every row of jobs.
func TestHeldQueriesReadOnlyHeldRows(t *testing.T) {
	t.Parallel()
	s, db := storetest.NewStore(t, store.Options{})
	ctx := storetest.Context(t)
	storetest.FillWaiting(t, db, "", 50_000, 10)
	var inst []int64
	for i := range 5 {
		id, err := s.InstanceRegister(ctx, store.InstanceRegisterParams{Name: fmt.Sprint("w", i), Host: "h1", PID: 42, Version: "test", Targets: []string{"t1"}})
		require.NoError(t, err)
		inst = append(inst, id)
	}
	// Most rows done by one of the instances, a few held.
	_, err := s.DB().Exec("UPDATE jobs SET status = 'done', instance_id = ? + id % 5 WHERE id % 50 <> 0", inst[0])
	require.NoError(t, err)
	_, err = s.DB().Exec("UPDATE jobs SET status = IF(id % 100 = 0, 'running', 'accepted'), instance_id = ? + (id DIV 500) % 5 WHERE id % 500 = 0", inst[0])
	require.NoError(t, err)
	_, err = s.DB().Exec("ANALYZE TABLE jobs")
	require.NoError(t, err)
	plan, err := s.HeldPlans(ctx)
	require.NoError(t, err)
	var jobs int
	for _, row := range plan {
		if row.Table != "j" && row.Table != "jobs" {
			continue
		}
		jobs++
		require.NotEqual(t, "ALL", row.Type, "full scan of jobs: %+v", plan)
		require.NotEmpty(t, row.Key, "%+v", plan)
		require.Less(t, row.Rows, int64(5_000), "reads far more rows than are held: %+v", plan)
	}
	require.Equal(t, 2, jobs, "%+v", plan)

	held, err := s.JobsHeldBy(ctx, inst[2])
	require.NoError(t, err)
	require.Len(t, held, 20)
	for _, j := range held {
		require.Equal(t, inst[2], j.InstanceID)
	}
}
