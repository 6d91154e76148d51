package jobd_test

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A fault scenario's figures, for docs/RELIABILITY.md.
type faultRow struct {
	Scenario   string
	Jobs       int
	Duplicates int // jobs that ran more often than allowed
	Lost       int // jobs not in a final state, or without their real outcome
	Recover    string
	Notes      string
}

var faultReport struct {
	mu   sync.Mutex
	rows []faultRow
}

// report records a scenario's figures. With JOBD_RELIABILITY_DOC set (make
// test-faults), TestMain writes them to that file as a markdown table.
func report(t *testing.T, r faultRow) {
	t.Helper()
	t.Logf("%s: jobs %d, duplicates %d, lost %d, recovery %s; %s", r.Scenario, r.Jobs, r.Duplicates, r.Lost, r.Recover, r.Notes)
	faultReport.mu.Lock()
	defer faultReport.mu.Unlock()
	faultReport.rows = append(faultReport.rows, r)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// writeFaultReport renders the collected rows; called from TestMain.
func writeFaultReport(path string) error {
	faultReport.mu.Lock()
	rows := append([]faultRow(nil), faultReport.rows...)
	faultReport.mu.Unlock()
	sort.Slice(rows, func(a, b int) bool { return rows[a].Scenario < rows[b].Scenario })
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Reliability\n\nWhat jobd does when things break, measured by its fault tests: real `jobd`\n")
	fmt.Fprintf(&b, "processes, a real MariaDB that the tests stop, and processes killed with\n")
	fmt.Fprintf(&b, "SIGKILL or frozen with SIGSTOP. This file is written by the test run:\n\n")
	fmt.Fprintf(&b, "```\nmake test-faults\n```\n\n")
	fmt.Fprintf(&b, "Last run: %s on %s (%s/%s, %d CPUs).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(&b, "| scenario | jobs | ran more than allowed | lost or stuck | time to recover | notes |\n|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", r.Scenario, r.Jobs, r.Duplicates, r.Lost, r.Recover, r.Notes)
	}
	fmt.Fprintf(&b, "\n%s", reliabilityNotes)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

const reliabilityNotes = `"Ran more than allowed" counts jobs whose launcher ran more often than
the policy permits (once, or max_attempts with retry_lost); "lost or stuck"
counts jobs that did not reach a final state or did not get their real
outcome. Both must be 0; the tests fail otherwise.

How it works:

- Claiming is one transaction with SELECT … FOR UPDATE SKIP LOCKED, so a
  job goes to exactly one instance. Every later write to the row (start,
  outcome, retry, release) is fenced on the holding instance, the expected
  status and the attempt number, so a worker that was presumed dead cannot
  overwrite what happened since.
- Each jobd heartbeats into the instances table. When an instance's
  heartbeat is older than lost_after, a live jobd declares it lost and
  recovers its jobs: claimed ones go back to waiting, running ones are
  failed with the reason in stderr (or requeued with retry_lost). A jobd
  that finds itself declared lost (it was frozen) kills what still runs and
  registers anew; and it starts no job while its last heartbeat is older
  than lost_after/2, so a frozen worker never starts a job it no longer
  holds.
- When the database goes away, running jobs keep running; outcomes wait in
  memory (and in spool_dir, when set) and are written, fenced, once it is
  back; claiming pauses and resumes by itself. Recovery waits until the
  database has been reachable for lost_after, so that after an outage every
  live instance has heartbeated again before anyone is judged.
`
