package jobd_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// Concurrency limits hold per target and per slot, and are used fully.
func TestConcurrencyLimitsHoldAndAreUsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := filepath.Join(t.TempDir(), "runs")
	launcher := recordingLauncher(t, rec, "0.3")
	d := e.jobd(jobdtest.JobdSpec{Body: fmt.Sprintf(`[launcher]
command = %q
[targets.a]
concurrency = 3
slots = { s1 = 2, s2 = 1 }
`, launcher+" {id}")})
	var jobs []store.NewJob
	for range 12 {
		jobs = append(jobs, store.NewJob{Target: "a"})
	}
	for range 8 {
		jobs = append(jobs, store.NewJob{Target: "a", Slot: "s1"})
	}
	for range 4 {
		jobs = append(jobs, store.NewJob{Target: "a", Slot: "s2"})
	}
	ids := e.insert(jobs...)
	require.NoError(t, jobdtest.Dial(t, d.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	e.waitDone(60*time.Second, ids...)

	ivs := readIntervals(t, rec)
	require.Len(t, ivs, len(ids), "every job ran once")
	bySlot := map[string][]interval{}
	for _, iv := range ivs {
		require.Greater(t, iv.end, iv.start)
		bySlot[iv.slot] = append(bySlot[iv.slot], iv)
	}
	for slot, limit := range map[string]int{"": 3, "s1": 2, "s2": 1} {
		// Never more than the limit, and the limit reached: the pool was kept full.
		require.Equal(t, limit, maxOverlap(bySlot[slot]), "pool %q", slot)
	}
	// The pools run side by side: 6 at once in all.
	require.Equal(t, 6, maxOverlap(ivs))
}

// Two instances serving one target, concurrency 2 each: each holds at most
// its own room, both run jobs, all 40 finish exactly once.
func TestTwoInstancesShareATarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	launcher := jobdtest.Script(t, fmt.Sprintf("echo $1 >> %s\nsleep 0.2", ran))
	body := fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 2\n", launcher+" {id}")
	a := e.jobd(jobdtest.JobdSpec{Name: "a", Top: `poll_interval = "500ms"`, Body: body})
	b := e.jobd(jobdtest.JobdSpec{Name: "b", Top: `poll_interval = "500ms"`, Body: body})
	var jobs []store.NewJob
	for range 40 {
		jobs = append(jobs, store.NewJob{Target: "t"})
	}
	ids := e.insert(jobs...)

	// Sample, from each worker's own status, how many jobs it holds (queued
	// plus running) until all are done. (The rows lag behind: a job whose
	// process ended may still show running until its outcome is written.)
	stop := make(chan struct{})
	var mu sync.Mutex
	maxHeld := map[string]int{}
	var wg sync.WaitGroup
	for name, p := range map[string]*jobdtest.Proc{"a": a, "b": b} {
		c := jobdtest.Dial(t, p.Addr(), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				st, err := c.Status(jobdtest.Ctx(t, 5*time.Second))
				if err != nil {
					continue
				}
				mu.Lock()
				maxHeld[name] = max(maxHeld[name], st.Targets["t"].Length)
				mu.Unlock()
			}
		}()
	}
	require.NoError(t, jobdtest.Dial(t, a.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	require.NoError(t, jobdtest.Dial(t, b.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	e.waitDone(60*time.Second, ids...)
	close(stop)
	wg.Wait()

	got := lines(t, ran)
	sort.Strings(got)
	require.Len(t, got, 40)
	for i := 1; i < len(got); i++ {
		require.NotEqual(t, got[i-1], got[i], "job %s ran twice", got[i])
	}
	var perInstance []struct {
		Instance int64 `db:"instance_id"`
		N        int   `db:"n"`
	}
	require.NoError(t, e.st.DB().Select(&perInstance, "SELECT instance_id, COUNT(*) AS n FROM jobs WHERE status = 'done' GROUP BY instance_id"))
	require.Len(t, perInstance, 2, "both instances ran jobs: %+v", perInstance)
	for _, p := range perInstance {
		require.Greater(t, p.N, 5, "instance %d ran only %d jobs", p.Instance, p.N)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, maxHeld)
	require.Len(t, maxHeld, 2)
	for name, n := range maxHeld {
		require.Equal(t, 2, n, "worker %s held %d jobs at once; its room is 2", name, n)
	}
}

// Higher priority first, then older id; a delayed job starts when due and
// not before.
func TestPriorityAndDelayedJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	order := filepath.Join(t.TempDir(), "order")
	launcher := jobdtest.Script(t, fmt.Sprintf(`echo "$1 $(date +%%s.%%N)" >> %s`, order))
	d := e.jobd(jobdtest.JobdSpec{Top: `poll_interval = "0"`, Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 1\n", launcher+" {id}")})
	c := jobdtest.Dial(t, d.Addr(), "")
	require.NoError(t, c.Pause(jobdtest.Ctx(t, 5*time.Second), nil))
	runAt := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	ids := e.insert(
		store.NewJob{Target: "t", Priority: 0},
		store.NewJob{Target: "t", Priority: 5},
		store.NewJob{Target: "t", Priority: 0},
		store.NewJob{Target: "t", Priority: 9},
		store.NewJob{Target: "t", Priority: 100, RunAt: runAt.Unix()},
		store.NewJob{Target: "t", Priority: 5},
	)
	require.NoError(t, c.Continue(jobdtest.Ctx(t, 5*time.Second), nil))
	e.waitDone(30*time.Second, ids...)

	var got []int64
	var times []float64
	for _, l := range lines(t, order) {
		var id int64
		var at float64
		_, err := fmt.Sscan(l, &id, &at)
		require.NoError(t, err)
		got = append(got, id)
		times = append(times, at)
	}
	require.Equal(t, []int64{ids[3], ids[1], ids[5], ids[0], ids[2], ids[4]}, got,
		"priority order, then id; the delayed job last although its priority is highest")
	require.GreaterOrEqual(t, times[5], float64(runAt.Unix()), "the delayed job started before its run_at")
	require.Less(t, times[5], float64(runAt.Unix())+2.5, "the delayed job started late: nothing woke the worker when it came due")
}

// Two workers share four targets with no poll interval: after one poll each,
// every job runs without another poke. A claim that comes back short
// because the other worker held rows locked must not be taken for an empty
// queue (both workers would then sit idle with jobs waiting).
func TestSharedTargetsDrainWithoutAnotherPoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := "[launcher]\ncommand = \"/bin/true {id}\"\n"
	for _, target := range []string{"a", "b", "c", "d"} {
		body += fmt.Sprintf("[targets.%s]\nconcurrency = 4\n", target)
	}
	w1 := e.jobd(jobdtest.JobdSpec{Name: "w1", Plain: true, Top: `poll_interval = "0"`, Body: body})
	w2 := e.jobd(jobdtest.JobdSpec{Name: "w2", Plain: true, Top: `poll_interval = "0"`, Body: body})
	var jobs []store.NewJob
	for i := range 6000 {
		jobs = append(jobs, store.NewJob{Target: []string{"a", "b", "c", "d"}[i%4]})
	}
	e.insert(jobs...)
	for _, w := range []*jobdtest.Proc{w1, w2} {
		require.NoError(t, jobdtest.Dial(t, w.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	}
	deadline := time.Now().Add(90 * time.Second)
	for e.count(store.StatusDone) < len(jobs) {
		if time.Now().After(deadline) {
			t.Fatalf("stalled: %d waiting, %d accepted, %d running, %d done, and nobody polls again",
				e.count(store.StatusWaiting), e.count(store.StatusAccepted), e.count(store.StatusRunning), e.count(store.StatusDone))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
