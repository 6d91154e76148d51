package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// TestWorkerCommandsGolden runs every worker command against a real jobd
// and database, as a table and as JSON, and compares the output with the
// golden files.
func TestWorkerCommandsGolden(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	d := e.worker("w1", "")
	e.configFor(d.Addr(), "")
	t.Cleanup(e.release)

	// Two held jobs running on target hold; jobs add pokes the worker named
	// in ~/.jobctl.toml.
	require.Equal(t, "1\n", e.ok("jobs", "add", "--target", "hold").stdout)
	require.Equal(t, "2\n", e.ok("jobs", "add", "--target", "hold").stdout)
	e.waitStatus(1, store.StatusRunning)
	e.waitStatus(2, store.StatusRunning)

	golden(t, "pause", e.jobctl("pause", "ok"), e.jobctl("--json", "pause", "fail", "ok"))
	golden(t, "status", e.jobctl("status"), e.jobctl("--json", "status"))
	golden(t, "continue", e.jobctl("continue", "fail"), e.jobctl("--json", "continue"))
	golden(t, "poll", e.jobctl("poll"), e.jobctl("--json", "poll", "ok", "fail"))
	golden(t, "set-concurrency", e.jobctl("set-concurrency", "ok", "5"), e.jobctl("--json", "set-concurrency", "ok", "3"),
		e.jobctl("set-concurrency", "nope", "3"))
	golden(t, "add-target", e.jobctl("add-target", "extra", "2"), e.jobctl("--json", "add-target", "extra2", "1"),
		e.jobctl("add-target", "extra", "2"))
	golden(t, "remove-target", e.jobctl("remove-target", "extra"), e.jobctl("--json", "remove-target", "extra2"),
		e.jobctl("remove-target", "hold"))
	// Shell completion offers the worker's targets.
	comp := e.ok("__complete", "pause", "").stdout
	require.Contains(t, comp, "hold\nok\nterm\n")

	st := e.ok("--json", "status").stdout
	require.Contains(t, st, `"concurrency": 3`)
	require.NotContains(t, st, "extra")

	// Signals reach the running jobs; a job that is not running is
	// reported as not delivered, exit 1.
	golden(t, "signal", e.jobctl("signal", "1", "TERM"), e.jobctl("--json", "signal", "2", "9"))
	j1 := e.waitStatus(1, store.StatusDone)
	require.Equal(t, "SIGTERM", j1.Sig)
	require.Equal(t, "SIGKILL", e.waitStatus(2, store.StatusDone).Sig)
	golden(t, "signal-not-running", e.jobctl("signal", "1", "TERM"), e.jobctl("--json", "signal", "1", "SIGHUP"))

	// run-manual: outcomes and output in the order asked; a job that cannot
	// run is reported, and the exit code says not everything succeeded.
	var manual []string
	for _, target := range []string{"ok", "fail", "ok"} {
		manual = append(manual, e.ok("jobs", "add", "--manual", "--target", target).stdout[:1])
	}
	require.Equal(t, []string{"3", "4", "5"}, manual)
	golden(t, "run-manual", e.jobctl("run-manual", "3", "4", "99"), e.jobctl("--json", "run-manual", "5"))
	require.Equal(t, store.StatusDone, e.job(3).Status)
	require.Equal(t, 3, *e.job(4).ReturnCode)
}

// TestWorkerStatusIsLive checks that status reports what the worker does:
// the table follows running jobs and pauses (not just a fixed golden).
func TestWorkerStatusIsLive(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	d := e.worker("w2", "")
	e.configFor(d.Addr(), "")
	t.Cleanup(e.release)
	row := func(target, slot string) []string {
		t.Helper()
		for _, l := range strings.Split(strings.TrimSpace(e.ok("status").stdout), "\n")[2:] {
			f := strings.Fields(l)
			if f[0] == target && f[1] == slot {
				return f
			}
		}
		t.Fatalf("no row %s/%s", target, slot)
		return nil
	}
	require.Equal(t, []string{"hold", "-", "no", "2", "0", "0"}, row("hold", "-"))
	e.ok("jobs", "add", "--target", "hold")
	e.waitStatus(1, store.StatusRunning)
	require.Equal(t, []string{"hold", "-", "no", "2", "1", "0"}, row("hold", "-"))
	e.ok("pause", "hold")
	require.Equal(t, []string{"hold", "-", "yes", "2", "1", "0"}, row("hold", "-"))
	e.ok("set-concurrency", "hold", "7")
	require.Equal(t, []string{"hold", "-", "yes", "7", "1", "0"}, row("hold", "-"))
	e.ok("jobs", "add", "--target", "ok", "--slot", "fast")
	jobdtest.Eventually(t, 20*time.Second, func() bool { return e.job(2).Status == store.StatusDone }, "job 2 not done")
	require.Equal(t, []string{"ok", "fast", "no", "1", "0", "0"}, row("ok", "fast"))
	e.release()
	e.waitStatus(1, store.StatusDone)
	require.Equal(t, []string{"hold", "-", "yes", "7", "0", "0"}, row("hold", "-"))
}
