package jobd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// procsWithEnv lists the processes whose environment holds entry
// (NAME=value), other than zombies.
func procsWithEnv(t *testing.T, entry string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil {
			continue // gone meanwhile, or not ours to read
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == entry {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	}, "no pid in %s", path)
	return pid
}

// A job whose launcher leaves a background grandchild and then hangs is
// killed by its timeout along with the grandchild; one that ignores TERM
// gets KILL after the grace period.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	hang := jobdtest.Script(t, fmt.Sprintf(`sleep 1000 &
echo $! > %s/grandchild-$1
sleep 1000`, dir))
	stubborn := filepath.Join(dir, "stubborn.sh")
	require.NoError(t, os.WriteFile(stubborn, []byte(fmt.Sprintf("#!/bin/sh\ntrap '' TERM\nsleep 1000 &\necho $! > %s/grandchild-$1\nsleep 1000\n", dir)), 0o755))
	d := e.jobd(jobdtest.JobdSpec{Body: fmt.Sprintf(`[launcher]
command = %q
kill_grace = "500ms"
[targets.hang]
concurrency = 1
timeout = "1s"
[targets.stubborn]
concurrency = 1
timeout = "1s"
launcher = %q
`, hang+" {id}", stubborn+" {id}")})
	ids := e.insert(store.NewJob{Target: "hang"}, store.NewJob{Target: "stubborn"})
	require.NoError(t, jobdtest.Dial(t, d.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	g1 := readPID(t, filepath.Join(dir, fmt.Sprint("grandchild-", ids[0])))
	g2 := readPID(t, filepath.Join(dir, fmt.Sprint("grandchild-", ids[1])))
	require.True(t, alive(g1))
	e.waitDone(30*time.Second, ids...)

	j := e.job(ids[0])
	require.Equal(t, store.ResultFail, j.Result)
	require.Equal(t, "SIGTERM", j.Sig)
	require.Nil(t, j.ReturnCode)
	require.Contains(t, j.Stderr, "timed out")
	j = e.job(ids[1])
	require.Equal(t, "SIGKILL", j.Sig, "TERM was ignored, so KILL after the grace")
	require.Contains(t, j.Stderr, "timed out")
	jobdtest.Eventually(t, 5*time.Second, func() bool { return !alive(g1) && !alive(g2) }, "grandchildren %d, %d still alive", g1, g2)
}

// A job printing 200 MB keeps jobd's memory bounded; the row holds the
// capped output with the note, and its invalid UTF-8 is stored.
func TestHugeOutputKeepsMemoryBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	launcher := jobdtest.Script(t, `head -c 200000000 /dev/urandom; echo tail-marker`)
	d := e.jobd(jobdtest.JobdSpec{Plain: true, Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 1\n", launcher)})
	ids := e.insert(store.NewJob{Target: "t"})
	require.NoError(t, jobdtest.Dial(t, d.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	e.waitDone(120*time.Second, ids...)

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.PID()))
	require.NoError(t, err)
	var peakKB int
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			_, err := fmt.Sscan(strings.TrimPrefix(l, "VmHWM:"), &peakKB)
			require.NoError(t, err)
		}
	}
	t.Logf("jobd peak RSS while a job printed 200 MB: %d KiB", peakKB)
	require.NotZero(t, peakKB)
	require.Less(t, peakKB, 64<<10, "peak resident memory must stay under 64 MiB")

	j := e.job(ids[0])
	require.Equal(t, store.ResultOK, j.Result)
	require.True(t, utf8.ValidString(j.Stdout), "stored as valid UTF-8")
	require.Less(t, len(j.Stdout), 3<<20, "capped near max_output_buffer (1 MiB)")
	require.Greater(t, len(j.Stdout), 1<<20-1024)
	require.Contains(t, j.Stdout, "200000012 bytes", "the note says how much was printed")
	require.True(t, strings.HasSuffix(strings.TrimSpace(j.Stdout), "tail-marker"), "the end of the output is kept")
	require.Contains(t, j.Stdout, "\uFFFD", "invalid bytes replaced, not dropped")
}

// SIGTERM: claimed jobs go back to waiting at once; running ones finish
// within shutdown_timeout and are recorded; jobd exits 0.
func TestSIGTERMReleasesClaimedAndWaitsForRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Each launch leaves a file: the jobs a claim marks running are being
	// launched for a moment after the row says so, and SIGTERM gives back
	// those not launched yet (TestSIGTERMWhileABatchStarts).
	dir := t.TempDir()
	launcher := jobdtest.Script(t, fmt.Sprintf(`touch %s/started-$1; sleep 3; echo finished $1`, dir))
	d := e.jobd(jobdtest.JobdSpec{Top: "prefetch = 20\nshutdown_timeout = \"30s\"",
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 20\n", launcher+" {id}")})
	var jobs []store.NewJob
	for range 40 {
		jobs = append(jobs, store.NewJob{Target: "t"})
	}
	ids := e.insert(jobs...)
	require.NoError(t, jobdtest.Dial(t, d.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	jobdtest.Eventually(t, 20*time.Second, func() bool {
		launched, err := filepath.Glob(filepath.Join(dir, "started-*"))
		require.NoError(t, err)
		return len(launched) == 20 && e.count(store.StatusRunning) == 20 && e.count(store.StatusAccepted) == 20
	}, "20 launched and running, and 20 claimed")

	d.Signal(syscall.SIGTERM)
	signalled := time.Now()
	jobdtest.Eventually(t, time.Second, func() bool { return e.count(store.StatusWaiting) == 20 },
		"the 20 claimed jobs are not back to waiting at once")
	released := time.Since(signalled)
	require.Equal(t, 20, e.count(store.StatusRunning), "running jobs are left to finish")
	require.Equal(t, 0, d.Wait(30*time.Second), "exit status")
	require.Equal(t, 20, e.count(store.StatusDone))
	require.Equal(t, 20, e.count(store.StatusWaiting))
	for _, id := range ids {
		j := e.job(id)
		if j.Status == store.StatusDone {
			require.Equal(t, store.ResultOK, j.Result)
			require.Equal(t, fmt.Sprintf("finished %d\n", id), j.Stdout)
		} else {
			require.Zero(t, j.InstanceID)
			require.Zero(t, j.Attempts, "a released job was never attempted")
		}
	}
	report(t, faultRow{Scenario: "SIGTERM while 20 jobs run and 20 are claimed", Jobs: len(ids),
		Recover: fmt.Sprintf("claimed jobs waiting again %s after the signal", seconds(released)),
		Notes:   "the running 20 finished within shutdown_timeout and were recorded; exit status 0"})
}

// SIGTERM with jobs that outlive shutdown_timeout: they are stopped (TERM to
// the group) and recorded as failed with the signal.
func TestSIGTERMStopsJobsAfterShutdownTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	launcher := jobdtest.Script(t, fmt.Sprintf(`touch %s/started-$1; echo started; sleep 600`, dir))
	d := e.jobd(jobdtest.JobdSpec{Top: `shutdown_timeout = "1s"`,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 3\n", launcher+" {id}")})
	ids := e.insert(store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "t"})
	require.NoError(t, jobdtest.Dial(t, d.Addr(), "").Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	jobdtest.Eventually(t, 20*time.Second, func() bool {
		launched, err := filepath.Glob(filepath.Join(dir, "started-*"))
		require.NoError(t, err)
		return len(launched) == 3 && e.count(store.StatusRunning) == 3
	}, "3 launched and running")
	start := time.Now()
	d.Signal(syscall.SIGTERM)
	require.Equal(t, 0, d.Wait(30*time.Second))
	took := time.Since(start)
	require.Less(t, took, 15*time.Second)
	for _, id := range ids {
		j := e.job(id)
		require.Equal(t, store.StatusDone, j.Status)
		require.Equal(t, store.ResultFail, j.Result)
		require.Equal(t, "SIGTERM", j.Sig)
		require.Equal(t, "started\n", j.Stdout)
	}
	report(t, faultRow{Scenario: "SIGTERM with jobs outliving shutdown_timeout (1 s)", Jobs: len(ids),
		Recover: fmt.Sprintf("jobd exited %s after the signal", seconds(took)),
		Notes:   "the jobs' process groups got SIGTERM; recorded as failed with sig SIGTERM and their output"})
}

// SIGHUP reloads targets, concurrency and the launcher without touching a
// running job.
func TestSIGHUPReloadsWithoutTouchingRunningJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	oldL := jobdtest.Script(t, fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; echo old $1", gate))
	newL := filepath.Join(dir, "new.sh")
	require.NoError(t, os.WriteFile(newL, []byte("#!/bin/sh\necho new $1\n"), 0o755))
	spec := jobdtest.JobdSpec{DSN: e.db.DSN, Top: `poll_interval = "300ms"`,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 1\n", oldL+" {id}")}
	d := e.jobd(spec)
	first := e.insert(store.NewJob{Target: "t"})
	jobdtest.Eventually(t, 20*time.Second, func() bool { return e.job(first[0]).Status == store.StatusRunning }, "first job running")

	spec.Body = fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 3\n[targets.u]\nconcurrency = 1\n", newL+" {id}")
	require.NoError(t, os.WriteFile(d.Config, []byte(spec.ConfigText()), 0o600))
	d.Signal(syscall.SIGHUP)
	jobdtest.Eventually(t, 10*time.Second, func() bool { return d.LogContains(`"config reloaded"`) }, "no reload in the log")

	more := e.insert(store.NewJob{Target: "t"}, store.NewJob{Target: "t"}, store.NewJob{Target: "u"})
	e.waitDone(20*time.Second, more...)
	for _, id := range more {
		require.Equal(t, fmt.Sprintf("new %d\n", id), e.job(id).Stdout, "new jobs use the new launcher")
	}
	require.Equal(t, store.StatusRunning, e.job(first[0]).Status, "the running job was not touched")
	st, err := jobdtest.Dial(t, d.Addr(), "").Status(jobdtest.Ctx(t, 5*time.Second))
	require.NoError(t, err)
	require.Equal(t, 3, st.Targets["t"].Concurrency)
	require.Contains(t, st.Targets, "u")

	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	e.waitDone(20*time.Second, first...)
	require.Equal(t, fmt.Sprintf("old %d\n", first[0]), e.job(first[0]).Stdout)
}

// SIGTERM while a claimed batch is still being launched: jobs not launched
// yet are given back, jobs launched late are stopped too, and jobd exits
// without waiting for them (shutdown_timeout 0).
func TestSIGTERMWhileABatchStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	launcher := jobdtest.Script(t, fmt.Sprintf("touch %s/started-$1\nexec sleep 600", dir))
	// Every launcher carries this in its environment, so that those still
	// alive can be found whether or not they got as far as saying so.
	marker := "JOBD_TEST_RUN=" + dir
	body := fmt.Sprintf("[launcher]\ncommand = %q\nkill_grace = \"1s\"\nenv = { JOBD_TEST_RUN = %q }\n", launcher+" {id}", dir)
	for i := range 10 {
		body += fmt.Sprintf("[targets.t%d]\nconcurrency = 8\n", i)
	}
	var jobs []store.NewJob
	for i := range 80 {
		jobs = append(jobs, store.NewJob{Target: fmt.Sprintf("t%d", i%10)})
	}
	ids := e.insert(jobs...)
	d := jobdtest.NewJobd(t, jobdtest.JobdSpec{DSN: e.db.DSN, Top: `shutdown_timeout = "0s"`, Body: body})
	await := d.Begin()
	jobdtest.Eventually(t, 30*time.Second, func() bool { return e.count(store.StatusRunning) > 0 }, "nothing running")
	d.Signal(syscall.SIGTERM)
	require.NoError(t, await())
	require.Equal(t, 0, d.Wait(30*time.Second), "jobd must not wait for the late-launched jobs")

	// Every launcher that started is gone, and every row is settled.
	left := procsWithEnv(t, marker)
	for deadline := time.Now().Add(5 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = procsWithEnv(t, marker) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Empty(t, left, "launchers still running after jobd exited")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	started := len(entries)
	for _, id := range ids {
		j := e.job(id)
		switch j.Status {
		case store.StatusDone:
			require.Equal(t, "SIGTERM", j.Sig, "job %d", id)
		case store.StatusWaiting:
			require.Zero(t, j.Attempts, "job %d was given back: not counted as an attempt", id)
		default:
			t.Fatalf("job %d left %s", id, j.Status)
		}
	}
	t.Logf("%d of 80 launched before the signal took effect", started)
}
