package jobd_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// runCounts reads a file of lines "<id> <attempt>" written by launchers and
// counts the runs per job.
func runCounts(t *testing.T, path string) map[int64]int {
	t.Helper()
	runs := map[int64]int{}
	for _, l := range lines(t, path) {
		var id int64
		_, err := fmt.Sscan(l, &id)
		require.NoError(t, err, "line %q", l)
		runs[id]++
	}
	return runs
}

// fastLiveness makes dead instances noticed in about two seconds.
const fastLiveness = "heartbeat_interval = \"200ms\"\nlost_after = \"2s\"\npoll_interval = \"500ms\"\n"

// kill -9 a jobd holding 50 running and 50 claimed jobs; another recovers.
func TestFaultKilledWorkerDefaultPolicy(t *testing.T) { testKilledWorker(t, false) }
func TestFaultKilledWorkerRetryLost(t *testing.T)     { testKilledWorker(t, true) }

func testKilledWorker(t *testing.T, retryLost bool) {
	t.Parallel()
	e := newEnv(t)
	ran := filepath.Join(t.TempDir(), "ran")
	launcher := jobdtest.Script(t, fmt.Sprintf("echo \"$1 $JOBD_ATTEMPT\" >> %s\nsleep 3", ran))
	target := "[targets.t]\nconcurrency = %d\n"
	if retryLost {
		target += "max_attempts = 2\nretry_lost = true\n"
	}
	body := func(conc int) string {
		return fmt.Sprintf("[launcher]\ncommand = %q\n"+target, launcher+" {id}", conc)
	}
	a := e.jobd(jobdtest.JobdSpec{Name: "a", Top: fastLiveness + "prefetch = 50\n", Body: body(50)})
	var jobs []store.NewJob
	for range 100 {
		jobs = append(jobs, store.NewJob{Target: "t"})
	}
	ids := e.insert(jobs...)
	require.NoError(t, jobdtest.Dial(t, a.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	jobdtest.Eventually(t, 20*time.Second, func() bool {
		return e.count(store.StatusRunning) == 50 && e.count(store.StatusAccepted) == 50
	}, "a holds 50 running and 50 claimed jobs")
	b := e.jobd(jobdtest.JobdSpec{Name: "b", Top: fastLiveness, Body: body(25)})

	a.Kill()
	killed := time.Now()
	var aID int64
	require.NoError(t, e.st.DB().Get(&aID, "SELECT DISTINCT instance_id FROM jobs WHERE status = 'running'"))
	// Recovery: nothing held by the dead instance any more.
	jobdtest.Eventually(t, 30*time.Second, func() bool {
		var n int
		require.NoError(t, e.st.DB().Get(&n, "SELECT COUNT(*) FROM jobs WHERE instance_id = ? AND status IN ('accepted', 'running')", aID))
		return n == 0
	}, "the dead instance's jobs were not recovered")
	recovered := time.Since(killed)
	e.waitDone(60*time.Second, ids...)
	final := time.Since(killed)
	// lost_after 2s + poll_interval 0.5s, plus a heartbeat and the database's
	// view of time (seconds) as slack.
	require.Less(t, recovered, 2*time.Second+500*time.Millisecond+3*time.Second, "recovery took %s", recovered)

	// The processes a's death orphaned finish on their own; wait for them
	// before counting runs.
	time.Sleep(3500 * time.Millisecond)
	runs := runCounts(t, ran)
	dups, lostJobs, failedLost, second := 0, 0, 0, 0
	for _, id := range ids {
		j := e.job(id)
		if j.Status != store.StatusDone {
			lostJobs++
		}
		allowed := 1
		if retryLost {
			allowed = 2
		}
		if runs[id] > allowed {
			dups++
		}
		if strings.Contains(j.Stderr, "job lost") {
			failedLost++
		}
		if j.Attempts == 2 {
			second++
		}
		if retryLost {
			require.Equal(t, store.ResultOK, j.Result, "job %d: with retry_lost every job ends done ok", id)
		}
	}
	require.Zero(t, dups, "jobs ran more often than allowed: %v", runs)
	require.Zero(t, lostJobs)
	if retryLost {
		require.Equal(t, 50, second, "the 50 jobs that were running ran a second attempt")
	} else {
		require.Equal(t, 50, failedLost, "the 50 running jobs carry the loss in stderr")
		twice := 0
		for _, n := range runs {
			if n > 1 {
				twice++
			}
		}
		require.Zero(t, twice)
	}
	name := "kill -9 a worker holding 50 running + 50 claimed, default policy"
	notes := "running jobs failed with the reason in stderr; claimed jobs run by the other worker"
	if retryLost {
		name = "kill -9 a worker holding 50 running + 50 claimed, retry_lost, max_attempts 2"
		notes = "running jobs run again by the other worker (attempt 2), every job ends ok"
	}
	report(t, faultRow{Scenario: name, Jobs: len(ids), Duplicates: dups, Lost: lostJobs,
		Recover: fmt.Sprintf("%s to recover, %s until all done (lost_after 2s)", seconds(recovered), seconds(final)), Notes: notes})
	_ = b
}

// A job failing twice and then succeeding, with max_attempts 3, ends ok
// after 3 attempts, with backoff between them.
func TestFaultRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	times := filepath.Join(t.TempDir(), "attempts")
	launcher := jobdtest.Script(t, fmt.Sprintf(`echo "$JOBD_ATTEMPT $(date +%%s.%%N)" >> %s
echo "attempt $JOBD_ATTEMPT"
[ "$JOBD_ATTEMPT" -ge 3 ]`, times))
	d := e.jobd(jobdtest.JobdSpec{Top: `poll_interval = "0"`, Body: fmt.Sprintf(`[launcher]
command = %q
[targets.t]
concurrency = 1
max_attempts = 3
retry_backoff = "1s"
retry_backoff_max = "10s"
`, launcher)})
	ids := e.insert(store.NewJob{Target: "t"}, store.NewJob{Target: "t", Manual: true})
	c := jobdtest.Dial(t, d.Addr(), "")
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	e.waitDone(30*time.Second, ids[0])
	j := e.job(ids[0])
	require.Equal(t, store.ResultOK, j.Result)
	require.Equal(t, 3, j.Attempts)
	require.Equal(t, "attempt 3\n", j.Stdout, "the row keeps the last attempt's output")

	var at []float64
	for _, l := range lines(t, times) {
		var n int
		var ts float64
		_, err := fmt.Sscan(l, &n, &ts)
		require.NoError(t, err)
		require.Equal(t, len(at)+1, n)
		at = append(at, ts)
	}
	require.Len(t, at, 3)
	// Backoff 1s then 2s, each ±20%.
	require.GreaterOrEqual(t, at[1]-at[0], 0.8, "no backoff before attempt 2")
	require.GreaterOrEqual(t, at[2]-at[1], 1.6, "no (growing) backoff before attempt 3")

	// A manual job is never retried.
	reply, err := c.RunManual(jobdtest.Ctx(t, 30*time.Second), []int64{ids[1]})
	require.NoError(t, err)
	require.Equal(t, "fail", reply.Jobs[fmt.Sprint(ids[1])].Result)
	j = e.job(ids[1])
	require.Equal(t, store.StatusDone, j.Status)
	require.Equal(t, 1, j.Attempts)
	report(t, faultRow{Scenario: "a job failing twice, then succeeding (max_attempts 3)", Jobs: 1,
		Recover: fmt.Sprintf("attempts %.1f s and %.1f s apart (backoff 1s, 2s ±20%%)", at[1]-at[0], at[2]-at[1]),
		Notes:   "ends ok after 3 attempts; the row keeps the last attempt's output; a failing manual job is not retried"})
}

// A worker frozen longer than lost_after (SIGSTOP) is declared lost; when it
// wakes up it cannot overwrite the outcome recovery wrote, and it starts
// nothing it no longer holds.
func TestFaultZombieWorkerCannotOverwrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	launcher := jobdtest.Script(t, fmt.Sprintf("echo \"$1 $JOBD_ATTEMPT\" >> %s\nsleep 2\necho zombie-output", ran))
	body := fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 2\n", launcher+" {id}")
	a := e.jobd(jobdtest.JobdSpec{Name: "a", Top: fastLiveness + "prefetch = 2\n", Body: body})
	ids := e.insert(store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	require.NoError(t, jobdtest.Dial(t, a.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	jobdtest.Eventually(t, 20*time.Second, func() bool {
		return e.count(store.StatusRunning) == 2 && e.count(store.StatusAccepted) == 2
	}, "a runs 2 and holds 2 more")
	running := map[int64]bool{}
	for _, id := range ids {
		if e.job(id).Status == store.StatusRunning {
			running[id] = true
		}
	}
	b := e.jobd(jobdtest.JobdSpec{Name: "b", Top: fastLiveness + `prefetch = 0`, Body: strings.Replace(body, "concurrency = 2", "concurrency = 1", 1)})
	_ = b

	a.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	// b declares a lost and fails its running jobs.
	for id := range running {
		id := id
		jobdtest.Eventually(t, 20*time.Second, func() bool { return e.job(id).Status == store.StatusDone }, "job %d not recovered", id)
		j := e.job(id)
		require.Equal(t, store.ResultFail, j.Result)
		require.Contains(t, j.Stderr, "job lost")
	}
	recovered := time.Since(frozen)
	// Keep a frozen past its jobs' end (their processes are not frozen).
	time.Sleep(3 * time.Second)
	a.Signal(syscall.SIGCONT)
	jobdtest.Eventually(t, 20*time.Second, func() bool { return a.LogContains("declared lost") }, "a never noticed it was declared lost")
	e.waitDone(30*time.Second, ids...)
	// Give a's recorder time to try (and fail) to write its stale outcomes.
	jobdtest.Eventually(t, 10*time.Second, func() bool { return a.LogContains("recovered by another instance meanwhile") }, "a did not try to write its stale outcomes")

	runs := runCounts(t, ran)
	dups := 0
	for _, id := range ids {
		j := e.job(id)
		if running[id] {
			require.NotContains(t, j.Stdout, "zombie-output", "job %d: the zombie overwrote recovery's outcome", id)
			require.Contains(t, j.Stderr, "job lost")
		} else {
			require.Equal(t, store.ResultOK, j.Result)
		}
		if runs[id] > 1 {
			dups++
		}
	}
	require.Zero(t, dups, "runs: %v", runs)
	report(t, faultRow{Scenario: "a worker frozen (SIGSTOP) longer than lost_after, then resumed", Jobs: len(ids), Duplicates: dups,
		Recover: fmt.Sprintf("%s to recover (lost_after 2s)", seconds(recovered)),
		Notes:   "its outcomes are refused by the fences; it kills what still runs and registers anew; its claimed jobs ran once elsewhere"})
}
