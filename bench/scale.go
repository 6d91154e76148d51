package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// scaleResult is one table size of the claim-at-scale measurement.
type scaleResult struct {
	rows   int
	insert time.Duration // inserting the rows (and ANALYZE)
	// One sample per start of jobd on the table: from the process's start
	// until the harness sees the first claimed row (probing every ms), and
	// the first claim transaction's statements, from the server's slow
	// query log: the SELECT … FOR UPDATE SKIP LOCKED, its rows examined,
	// the UPDATEs that mark the rows, the COMMIT.
	startToClaim, claimSelect, claimUpdate, claimCommit, claimRows series
	// The drain: jobs done per second from the first claim.
	drainJobs   int64
	drainWindow time.Duration
	rate        float64
	repolls     int // see waitAllDone
}

// claimWork is the first claim's SELECT and UPDATEs, in ms, per sample.
func (r scaleResult) claimWork() series {
	out := make(series, len(r.claimSelect))
	for i := range out {
		out[i] = r.claimSelect[i] + r.claimUpdate[i]
	}
	return out
}

const (
	scaleTargets = 10
	scaleConc    = 8 // per target
	scaleBatch   = scaleTargets * scaleConc
)

// claimAtScale measures claiming from a table of `rows` waiting jobs over
// 10 targets (priorities 0-2), served with concurrency 8 each by one jobd.
//
// The first batch: `reps` times, a jobd is started on the table with the
// launcher /bin/sleep (so it claims exactly one batch, 80 jobs, at start and
// nothing more) and stopped once the batch is claimed (shutdown_timeout 0
// ends the sleeps). The table holds rows + 80 × reps jobs at first, so the
// last start still finds `rows`.
//
// The drain: a jobd with /bin/true, from its first claim until every job
// is done (window 0) or for `window`.
func (e *env) claimAtScale(ctx context.Context, rows, reps int, window time.Duration) (scaleResult, error) {
	r := scaleResult{rows: rows}
	db, err := e.newDB(ctx, fmt.Sprintf("scale_%d", rows))
	if err != nil {
		return r, err
	}
	defer db.close(e)
	targets := names("t", scaleTargets)
	t := time.Now()
	if _, err := db.insertWaiting(ctx, rows+reps*scaleBatch, targets, 3); err != nil {
		return r, err
	}
	r.insert = time.Since(t)
	defer e.slowLog(context.Background(), "", false)
	for rep := range reps {
		if err := e.firstBatch(ctx, db, &r, rep); err != nil {
			return r, err
		}
	}
	if err := e.slowLog(ctx, "", false); err != nil {
		return r, err
	}
	return r, e.drainFromStart(ctx, db, &r, window)
}

// firstBatch starts a jobd on the table, times its first claim, stops it.
func (e *env) firstBatch(ctx context.Context, db *benchDB, r *scaleResult, rep int) error {
	name := fmt.Sprintf("jobd-scale-%d-%d", r.rows, rep+1)
	logPath := filepath.Join(e.tmp, name+".slow.log")
	// Every statement of the connections jobd opens is logged.
	if err := e.slowLog(ctx, logPath, true); err != nil {
		return err
	}
	start := time.Now()
	p, err := e.startJobd(jobdSpec{name: name, dsn: db.dsn, targets: names("t", scaleTargets), concurrency: scaleConc,
		launcher: "/bin/sleep 600", pollInterval: "0", top: "shutdown_timeout = \"0s\"\n"})
	if err != nil {
		return err
	}
	claimed, err := waitClaimed(ctx, db)
	if err == nil {
		// Stopped only once the whole batch runs: a jobd stopped while it
		// starts a batch may leave rows claimed.
		err = waitChildren(ctx, p.pid(), scaleBatch)
	}
	e.stop(p)
	if err != nil {
		return err
	}
	if left, err := db.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status IN ('accepted', 'running')"); err != nil || left > 0 {
		return fmt.Errorf("%d jobs still claimed after %s stopped (%v):\n%s", left, name, err, p.log())
	}
	r.startToClaim = append(r.startToClaim, ms(claimed.Sub(start)))
	tx, err := firstClaim(logPath)
	if err != nil {
		return err
	}
	r.claimSelect = append(r.claimSelect, ms(tx.sel))
	r.claimUpdate = append(r.claimUpdate, ms(tx.update))
	r.claimCommit = append(r.claimCommit, ms(tx.commit))
	r.claimRows = append(r.claimRows, float64(tx.examined))
	return nil
}

// drainFromStart starts a jobd with /bin/true on the table and measures
// the rate from its first claim.
func (e *env) drainFromStart(ctx context.Context, db *benchDB, r *scaleResult, window time.Duration) error {
	base, err := db.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status = 'done'")
	if err != nil {
		return err
	}
	targets := names("t", scaleTargets)
	p, err := e.startJobd(jobdSpec{name: fmt.Sprintf("jobd-scale-%d-drain", r.rows), dsn: db.dsn, targets: targets,
		concurrency: scaleConc, launcher: "/bin/true {id}", pollInterval: "0"})
	if err != nil {
		return err
	}
	defer e.stop(p)
	start, err := waitClaimed(ctx, db)
	if err != nil {
		return err
	}
	conns, err := dialAll(ctx, []*proc{p})
	if err != nil {
		return err
	}
	defer conns[0].Close()
	if window <= 0 {
		w, err := waitAllDone(ctx, db, start, drainTimeout(r.rows), func() error { return conns[0].Poll(ctx, targets) })
		if err != nil {
			return err
		}
		r.drainJobs, r.drainWindow, r.repolls = int64(r.rows), w.end.Sub(start), w.repolls
	} else {
		if err := sleep(ctx, time.Until(start.Add(window))); err != nil {
			return err
		}
		// Counting the done rows reads only their entries of
		// jobd_claim_idx (status is its first column): a few thousand.
		n, err := db.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status = 'done'")
		if err != nil {
			return err
		}
		r.drainJobs, r.drainWindow = n-base, time.Since(start)
	}
	r.rate = float64(r.drainJobs) / r.drainWindow.Seconds()
	return nil
}

// waitClaimed probes every millisecond until some job is claimed or
// running (none is when it is called), and returns when it saw one.
func waitClaimed(ctx context.Context, db *benchDB) (time.Time, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := db.count(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status IN ('accepted', 'running') LIMIT 1) x")
		if err != nil {
			return time.Time{}, err
		}
		now := time.Now()
		if n > 0 {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("no job claimed within a minute")
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// waitChildren waits until a process has n children: the launchers
// really started, whatever the process says of its jobs.
func waitChildren(ctx context.Context, pid, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := children(pid)
		if err != nil {
			return err
		}
		if c >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d has %d children of %d after 30s", pid, c, n)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// children counts the processes whose parent is pid, from /proc.
func children(pid int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	want := strconv.Itoa(pid)
	n := 0
	for _, en := range ents {
		if en.Name()[0] < '0' || en.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == want {
				n++
			}
		}
	}
	return n, nil
}

// slowLog turns the server's slow query log on (every statement, to path)
// or off.
func (e *env) slowLog(ctx context.Context, path string, on bool) error {
	stmts := []string{"SET GLOBAL slow_query_log = 0", "SET GLOBAL long_query_time = 10"}
	if on {
		stmts = []string{"SET GLOBAL log_output = 'FILE'", "SET GLOBAL slow_query_log_file = '" + path + "'",
			"SET GLOBAL long_query_time = 0", "SET GLOBAL slow_query_log = 1"}
	}
	for _, s := range stmts {
		if _, err := e.admin.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// slowEntry is one statement of a slow query log.
type slowEntry struct {
	thread   string
	time     time.Duration
	examined int64
	sql      string
}

// claimTx is the first claim transaction of a log.
type claimTx struct {
	sel, update, commit time.Duration
	examined            int64
}

// firstClaim finds the first claim in a slow query log (a SELECT … FOR
// UPDATE SKIP LOCKED in claim order: ORDER BY) and adds up what its
// connection ran after it up to the COMMIT.
func firstClaim(path string) (claimTx, error) {
	entries, err := readSlowLog(path)
	if err != nil {
		return claimTx{}, err
	}
	var tx claimTx
	for i, en := range entries {
		if !strings.Contains(en.sql, "SKIP LOCKED") || !strings.Contains(en.sql, "ORDER BY") {
			continue
		}
		tx.sel, tx.examined = en.time, en.examined
		for _, next := range entries[i+1:] {
			if next.thread != en.thread {
				continue
			}
			verb := strings.ToUpper(strings.TrimRight(strings.Fields(next.sql + " x")[0], ";"))
			if verb != "UPDATE" {
				if verb == "COMMIT" {
					tx.commit = next.time
				}
				break // the end of the claim transaction
			}
			tx.update += next.time
		}
		return tx, nil
	}
	return tx, fmt.Errorf("%s: no claim statement (SELECT … ORDER BY … SKIP LOCKED) in the slow query log", filepath.Base(path))
}

// readSlowLog parses MariaDB's slow query log: "# Thread_id: …",
// "# Query_time: … Rows_examined: …" header lines, then the statement.
func readSlowLog(path string) ([]slowEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []slowEntry
	var cur slowEntry
	var sql strings.Builder
	flush := func() {
		if sql.Len() > 0 {
			cur.sql = sql.String()
			out = append(out, cur)
			sql.Reset()
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			flush()
			parseSlowHeader(line, &cur)
			continue
		}
		if !strings.HasPrefix(line, "SET timestamp=") && !strings.HasPrefix(line, "use ") {
			sql.WriteString(line)
			sql.WriteByte(' ')
		}
	}
	flush()
	return out, sc.Err()
}

// parseSlowHeader picks Thread_id, Query_time and Rows_examined out of a
// "# …" line.
func parseSlowHeader(line string, en *slowEntry) {
	f := strings.Fields(strings.TrimPrefix(line, "#"))
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "Thread_id:":
			en.thread = f[i+1]
		case "Query_time:":
			if s, err := strconv.ParseFloat(f[i+1], 64); err == nil {
				en.time = time.Duration(s * float64(time.Second))
			}
		case "Rows_examined:":
			if n, err := strconv.ParseInt(f[i+1], 10, 64); err == nil {
				en.examined = n
			}
		}
	}
}
