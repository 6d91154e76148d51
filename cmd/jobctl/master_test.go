package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// TestMasterCommandsGolden runs the master commands against a real
// jobd-master with two real workers registered, as tables and as JSON, and
// compares the output with the golden files.
func TestMasterCommandsGolden(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{})
	masterSection := fmt.Sprintf("[master]\naddr = %q\n", m.Addr())
	e.configFor(m.Addr(), "master = true\n")
	t.Cleanup(e.release)

	// Register w1, then w2, so the master lists them in that order.
	registered := func(n int) {
		t.Helper()
		jobdtest.Eventually(t, 30*time.Second, func() bool {
			var st rpc.MasterStatus
			r := e.jobctl("--json", "workers", "--no-status")
			return r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && len(st.Workers) == n
		}, "%d workers did not register", n)
	}
	w1 := e.workerWith("w1", "", masterSection+workerTargets)
	registered(1)
	e.workerWith("w2", "", masterSection+"[targets.ok]\nconcurrency = 1\n[targets.mail]\nconcurrency = 3\n")
	registered(2)

	golden(t, "workers", e.jobctl("workers"), e.jobctl("--json", "workers"), e.jobctl("workers", "--no-status"))
	require.Equal(t, mask(e.jobctl("workers").stdout), mask(e.jobctl("status").stdout), "status with --master is workers")

	golden(t, "poke", e.jobctl("poke", "ok"), e.jobctl("--json", "poke", "mail", "hold"), e.jobctl("poll", "fail"),
		e.jobctl("poke", "nobody"), e.jobctl("poke"))
	// Pokes are coalesced: the one for a target nobody serves is remembered
	// at the next burst.
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(e.ok("workers").stdout, "pokes waiting for a worker to serve: nobody")
	}, "the poke for nobody is not remembered")

	// pause and continue reach every worker serving the targets.
	golden(t, "master-pause", e.jobctl("pause", "ok"), e.jobctl("--json", "pause", "mail"))
	var st rpc.MasterStatus
	require.NoError(t, json.Unmarshal([]byte(e.ok("--json", "workers").stdout), &st))
	require.Len(t, st.Workers, 2)
	for _, wi := range st.Workers {
		require.NotNil(t, wi.WorkerStatus, wi.Name)
		require.True(t, wi.WorkerStatus.Targets["ok"].Paused, "%s: ok paused", wi.Name)
	}
	require.Contains(t, e.ok("workers").stdout, "yes")
	golden(t, "master-continue", e.jobctl("continue", "ok"), e.jobctl("--json", "continue"))
	require.NotContains(t, e.ok("workers").stdout, "yes")

	// run-manual through the master: ID:TARGET, or ID with the target read
	// from the database.
	for i, target := range []string{"ok", "fail", "ok", "ok"} {
		require.Equal(t, fmt.Sprintf("%d\n", i+1), e.ok("jobs", "add", "--manual", "--target", target).stdout)
	}
	golden(t, "master-run-manual",
		e.jobctl("run-manual", "1:ok", "2:fail", "3", "99:ok", "98:nobody"),
		e.jobctl("--json", "run-manual", "4:ok"))
	require.Equal(t, store.StatusDone, e.job(3).Status)

	// jobs add pokes the master; signals go through it to the worker.
	golden(t, "master-jobs-add", e.jobctl("--json", "jobs", "add", "--target", "hold"), e.jobctl("jobs", "add", "--target", "hold"))
	e.waitStatus(5, store.StatusRunning)
	e.waitStatus(6, store.StatusRunning)
	golden(t, "master-signal", e.jobctl("signal", "5:hold", "TERM"), e.jobctl("--json", "signal", "6", "KILL"))
	require.Equal(t, "SIGTERM", e.waitStatus(5, store.StatusDone).Sig)
	require.Equal(t, "SIGKILL", e.waitStatus(6, store.StatusDone).Sig)
	golden(t, "master-signal-not-running", e.jobctl("signal", "5:hold", "TERM"), e.jobctl("--json", "signal", "5:hold", "INT"))

	// A worker's address given as the master's, and the other way round,
	// are caught.
	r := e.jobctl("--host", w1.Addr(), "workers")
	require.Equal(t, exitUsage, r.code, "%+v", r)
	require.Contains(t, r.stderr, "is a jobd worker, not a jobd-master")
	requireOneLine(t, r)
	r = e.jobctl("--master=false", "status")
	require.Equal(t, exitUsage, r.code, "%+v", r)
	require.Contains(t, r.stderr, "is a jobd-master, not a worker")
	requireOneLine(t, r)
}
