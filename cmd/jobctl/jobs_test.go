package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// TestJobsCommandsGolden runs the database commands against a real
// database and worker, as tables and as JSON, and compares the output with
// the golden files. Ids are predictable: each test has its own table.
func TestJobsCommandsGolden(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	_, err := e.st.DB().Exec("ALTER TABLE jobs ADD COLUMN job_name varchar(50) NOT NULL DEFAULT ''")
	require.NoError(t, err)
	d := e.worker("w1", "")
	e.configFor(d.Addr(), "")
	t.Cleanup(e.release)

	golden(t, "jobs-add",
		e.jobctl("jobs", "add", "--target", "ok", "--set", "job_name=welcome"),
		e.jobctl("--json", "jobs", "add", "--target", "ok", "--priority", "5"),
		e.jobctl("jobs", "add", "--target", "ok", "--set", "status=done"),
		e.jobctl("jobs", "add", "--target", "ok", "--set", "no_such=1"))
	e.waitStatus(1, store.StatusDone)
	e.waitStatus(2, store.StatusDone)
	require.Equal(t, 5, e.job(2).Priority)

	// --wait prints the job's output on jobctl's stdout and stderr and exits
	// with its code: 3, 0, 128+SIGTERM.
	golden(t, "jobs-add-wait",
		e.jobctl("jobs", "add", "--target", "fail", "--wait"),
		e.jobctl("--json", "jobs", "add", "--target", "ok", "--wait"),
		e.jobctl("jobs", "add", "--target", "term", "--wait"))
	// A manual job is run through run-manual.
	golden(t, "jobs-add-wait-manual",
		e.jobctl("jobs", "add", "--target", "ok", "--manual", "--wait"),
		e.jobctl("--json", "jobs", "add", "--target", "fail", "--manual", "--wait"))
	require.True(t, e.job(7).Manual, "job 7 ran through run-manual")

	require.Equal(t, "8\n", e.ok("jobs", "add", "--target", "ok", "--delay", "1h").stdout)
	require.Equal(t, "9\n", e.ok("jobs", "add", "--target", "ok", "--manual").stdout)
	require.Equal(t, "10\n", e.ok("jobs", "add", "--target", "hold", "--slot", "").stdout)
	e.waitStatus(10, store.StatusRunning)
	require.Equal(t, store.StatusWaiting, e.job(8).Status, "delayed by an hour")

	golden(t, "jobs-cancel",
		e.jobctl("jobs", "cancel", "8", "9", "10", "99", "--reason", "wrong data"),
		e.jobctl("--json", "jobs", "cancel", "8", "1"))
	require.Equal(t, store.StatusRunning, e.job(10).Status)
	require.Equal(t, "jobctl: cancelled by tester: wrong data", e.job(9).Stderr)

	golden(t, "jobs-retry",
		e.jobctl("jobs", "retry", "3", "10"),
		e.jobctl("--json", "jobs", "retry", "8", "--manual"))
	// The retried job was poked and ran again, as a new one.
	j := e.waitStatus(3, store.StatusDone)
	require.Equal(t, 1, j.Attempts)
	require.Equal(t, 3, *j.ReturnCode)
	require.Equal(t, store.StatusManual, e.job(8).Status)

	golden(t, "jobs-list",
		e.jobctl("jobs", "list"),
		e.jobctl("--json", "jobs", "list", "--limit", "2"),
		e.jobctl("jobs", "list", "--status", "done,ignored", "--target", "fail", "--target", "term"),
		e.jobctl("jobs", "list", "--since", "1h", "--status", "manual"),
		e.jobctl("jobs", "list", "--target", "nope"),
		e.jobctl("jobs", "list", "--status", "finished"))
	golden(t, "jobs-show",
		e.jobctl("jobs", "show", "1"),
		e.jobctl("--json", "jobs", "show", "9"),
		e.jobctl("jobs", "show", "99"))

	// jobs show --json is the row as the table holds it.
	var row map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.ok("--json", "jobs", "show", "1").stdout), &row))
	require.Equal(t, "welcome", row["job_name"])
	require.Equal(t, "hello from job 1 (ok)\n", row["stdout"])
	cols, err := e.st.JobRow(storetest.Context(t), 1)
	require.NoError(t, err)
	require.Len(t, row, len(cols))
}

// Ctrl-C or --timeout during --wait says the same thing whether it comes
// between two reads of the row or cuts one short.
func TestWaitStoppedDuringARead(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t, store.Options{})
	ids, err := st.JobsInsert(storetest.Context(t), []store.NewJob{{Target: "t"}})
	require.NoError(t, err)
	id := ids[0]
	var stdout, stderr bytes.Buffer
	a := newApp(env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	a.set = &settings{timeout: time.Second}

	// Cancelled before the first read: the read itself fails.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = a.waitBackground(ctx, st, id, addAnswer{})
	var ee *exitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitInterrupted, ee.code)
	require.Equal(t, fmt.Sprintf("interrupted waiting for job %d; it goes on (jobctl jobs show %d)", id, id), err.Error())

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err = a.waitBackground(ctx, st, id, addAnswer{})
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitTimeout, ee.code)
	require.Equal(t, fmt.Sprintf("timed out after 1s waiting for job %d; it goes on (jobctl jobs show %d)", id, id), err.Error())
	require.Empty(t, stdout.String())
}
