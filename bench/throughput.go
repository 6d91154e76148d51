package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobd/jobd/rpc"
)

// drainSpec is one end-to-end throughput configuration: n waiting jobs
// spread over targets, served by `instances` jobd processes that each serve
// every target with `concurrency`.
type drainSpec struct {
	key         string // short name, for profiles and the chart
	label       string // for the table
	instances   int
	targets     []string
	concurrency int // per target and instance
	n           int
	top         string   // more top-level jobd config keys
	env         []string // added to jobd's environment (and so its launchers'): the shell's locale, for c32l
}

// totalConcurrency is how many jobs may run at once across the instances.
func (s drainSpec) totalConcurrency() int { return s.instances * len(s.targets) * s.concurrency }

// drainResult is one run of a drainSpec.
type drainResult struct {
	elapsed time.Duration
	rate    float64 // jobs per second
	spawn   float64 // the raw spawn rate measured just before
	// Statements jobd sent to the database per job (Questions, less the
	// harness's own), and split by kind (Com_*).
	perJob  float64
	com     map[string]float64
	jobdCPU time.Duration // CPU time of the jobd processes per job
	dbCPU   time.Duration // of mariadbd per job
	// Of the launchers per job, and of everything else the machine ran
	// (the harness, other users of a shared machine).
	launchCPU, restCPU time.Duration
	busy               float64       // the machine's CPUs busy during the drain, 0-1
	failed             int64         // rows not done with result ok at the end
	early              int64         // rows that left waiting before the poll
	probes             int           // probes the harness sent during the drain
	repolls            int           // polls sent again because the drain stalled
	stalled            time.Duration // how long it had stalled, in all
}

// drain runs one measurement of spec:
//
//  1. a fresh database; for each instance, one warm-up job is inserted and
//     the instance started (poll_interval "0"); the warm-up job done proves
//     that its start-up claim has come and gone, so it will claim nothing
//     more until polled;
//  2. the n jobs are inserted (one INSERT … SELECT from seq_1_to_n);
//  3. the clock starts, each instance gets ONE poll for the targets, and
//     the harness probes every 20ms whether any job is left (and polls
//     again, counting it, if the drain stalls: see waitAllDone);
//  4. the clock stops at the first probe that finds none.
func (e *env) drain(ctx context.Context, spec drainSpec, run int) (drainResult, error) {
	var r drainResult
	db, err := e.newDB(ctx, "tp_"+spec.key)
	if err != nil {
		return r, err
	}
	defer db.close(e)
	procs, err := e.startInstances(ctx, db, spec, run)
	defer func() {
		for _, p := range procs {
			e.stop(p)
		}
	}()
	if err != nil {
		return r, err
	}
	first, err := db.insertWaiting(ctx, spec.n, spec.targets, 1)
	if err != nil {
		return r, err
	}
	if r.early, err = db.count(ctx, "SELECT COUNT(*) FROM jobs WHERE id >= ? AND status <> 'waiting'", first); err != nil {
		return r, err
	}
	conns, err := dialAll(ctx, procs)
	if err != nil {
		return r, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	before, err := e.sample(ctx, procs)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := pollAll(ctx, conns, spec.targets); err != nil {
		return r, err
	}
	w, err := waitAllDone(ctx, db, start, drainTimeout(spec.n), func() error { return pollAll(ctx, conns, spec.targets) })
	r.probes, r.repolls, r.stalled = w.probes, w.repolls, w.stalled
	if err != nil {
		return r, fmt.Errorf("%w; %s", err, stuck(ctx, db, conns))
	}
	end := w.end
	after, err := e.sample(ctx, procs)
	if err != nil {
		return r, err
	}
	r.elapsed = end.Sub(start)
	r.rate = float64(spec.n) / r.elapsed.Seconds()
	e.attribute(&r, before, after, spec.n)
	r.failed, err = db.count(ctx, "SELECT COUNT(*) FROM jobs WHERE id >= ? AND (status <> 'done' OR result <> 'ok')", first)
	return r, err
}

// startInstances starts spec.instances jobd processes on db, each after a
// warm-up job of its own is done.
func (e *env) startInstances(ctx context.Context, db *benchDB, spec drainSpec, run int) ([]*proc, error) {
	var procs []*proc
	for i := range spec.instances {
		warm, err := db.insertOne(ctx, spec.targets[0])
		if err != nil {
			return procs, err
		}
		name := fmt.Sprintf("jobd-%s-%d-%d", spec.key, run, i+1)
		env := slices.Clip(spec.env)
		if e.opt.profileDir != "" {
			env = append(env, "JOBD_CPUPROFILE="+filepath.Join(e.opt.profileDir, name+".prof"),
				"JOBD_MEMPROFILE="+filepath.Join(e.opt.profileDir, name+".mem"))
		}
		p, err := e.startJobd(jobdSpec{name: name, dsn: db.dsn, targets: spec.targets, concurrency: spec.concurrency,
			launcher: "/bin/true {id}", pollInterval: "0", top: spec.top}, env...)
		if err != nil {
			return procs, err
		}
		procs = append(procs, p)
		if _, err := db.waitStatus(ctx, warm, "done", 5*time.Millisecond, 30*time.Second); err != nil {
			return procs, fmt.Errorf("%s did not run its warm-up job: %w\n%s", name, err, p.log())
		}
	}
	return procs, nil
}

func dialAll(ctx context.Context, procs []*proc) ([]*rpc.Conn, error) {
	var conns []*rpc.Conn
	for _, p := range procs {
		c, err := rpc.Dial(ctx, p.addr, rpc.DialOptions{})
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// pollAll sends one poll to each connection, at the same time.
func pollAll(ctx context.Context, conns []*rpc.Conn, targets []string) error {
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs[i] = c.Poll(ctx, targets) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// watch is the outcome of waiting for a drain to end.
type watch struct {
	end     time.Time // when the probe first found no job left
	probes  int       // probes sent (statements to take out of the counts)
	repolls int       // polls sent again because the drain had stalled
	stalled time.Duration
}

// stallAfter is how long jobs may stay waiting while none is claimed or
// running before the harness calls the drain stalled and polls again.
const stallAfter = 300 * time.Millisecond

// waitAllDone probes every 20ms until no job is left to run. When jobs
// are left waiting with none claimed or running for stallAfter, every
// worker has stopped claiming although work is left (it would wait for its
// next poll_interval): the harness counts a stall and polls again (repoll;
// nil: only wait). The time of the drain includes the stalls.
func waitAllDone(ctx context.Context, db *benchDB, start time.Time, timeout time.Duration, repoll func() error) (watch, error) {
	const interval = 20 * time.Millisecond
	var w watch
	var idleSince time.Time
	for next := start.Add(interval); ; next = next.Add(interval) {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(time.Until(next)):
		}
		top, err := db.mostAdvancedUnfinished(ctx)
		w.probes++
		now := time.Now()
		switch {
		case err != nil:
			return w, err
		case top == "":
			w.end = now
			return w, nil
		case now.Sub(start) > timeout:
			return w, fmt.Errorf("jobs still unfinished after %s", timeout)
		case top != "waiting":
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = now
		case now.Sub(idleSince) >= stallAfter && repoll != nil:
			w.repolls++
			w.stalled += now.Sub(idleSince)
			idleSince = time.Time{}
			if err := repoll(); err != nil {
				return w, err
			}
		}
	}
}

// drainTimeout allows 100 jobs/s, a twentieth of what jobd should do.
func drainTimeout(n int) time.Duration { return time.Minute + time.Duration(n)*10*time.Millisecond }

// usage is a snapshot of what the database, the jobd processes and the
// machine have used so far.
type usage struct {
	counters          map[string]int64
	jobdCPU           time.Duration
	launchCPU         time.Duration // the jobd processes' children
	dbCPU             time.Duration
	cpuTotal, cpuIdle int64 // the machine's, in ticks
}

func (e *env) sample(ctx context.Context, procs []*proc) (usage, error) {
	var u usage
	var err error
	for _, p := range procs {
		self, children, err := cpuTime(p.pid())
		if err != nil {
			return u, err
		}
		u.jobdCPU += self
		u.launchCPU += children
	}
	if u.dbCPU, _, err = cpuTime(e.mysqldPID); err != nil {
		return u, err
	}
	if u.cpuTotal, u.cpuIdle, err = cpuTotals(); err != nil {
		return u, err
	}
	u.counters, err = e.serverCounters(ctx)
	return u, err
}

// attribute fills the per-job costs from two snapshots around a drain. The
// harness's own statements in between are taken out: the probes (SELECTs)
// and the second SHOW STATUS.
func (e *env) attribute(r *drainResult, before, after usage, n int) {
	d := func(k string) float64 { return float64(after.counters[k] - before.counters[k]) }
	r.perJob = (d("Questions") - float64(r.probes) - 1) / float64(n)
	r.com = map[string]float64{}
	for _, k := range statusCounters[1:] {
		v := d(k)
		if k == "Com_select" {
			v -= float64(r.probes)
		}
		r.com[k] = v / float64(n)
	}
	per := func(a, b time.Duration) time.Duration { return (b - a) / time.Duration(n) }
	r.jobdCPU = per(before.jobdCPU, after.jobdCPU)
	r.launchCPU = per(before.launchCPU, after.launchCPU)
	r.dbCPU = per(before.dbCPU, after.dbCPU)
	if t := after.cpuTotal - before.cpuTotal; t > 0 {
		idle := after.cpuIdle - before.cpuIdle
		r.busy = 1 - float64(idle)/float64(t)
		// Ticks of all CPUs; what jobd, its launchers and MariaDB did not
		// use went to the harness and to whatever else the machine ran.
		all := time.Duration(t-idle) * clockTick / time.Duration(n)
		r.restCPU = all - r.jobdCPU - r.launchCPU - r.dbCPU
	}
}

// stuck describes a drain that did not finish: the rows by status, and
// what each worker says it holds.
func stuck(ctx context.Context, db *benchDB, conns []*rpc.Conn) string {
	var parts []string
	rows, err := db.db.QueryContext(ctx, "SELECT status, COUNT(*) FROM jobs GROUP BY status")
	if err == nil {
		for rows.Next() {
			var st string
			var n int64
			if rows.Scan(&st, &n) == nil {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		rows.Close()
	}
	if rows, err := db.db.QueryContext(ctx, "SELECT id, target, priority FROM jobs WHERE status = 'waiting' ORDER BY id LIMIT 5"); err == nil {
		for rows.Next() {
			var id, prio int64
			var t string
			if rows.Scan(&id, &t, &prio) == nil {
				parts = append(parts, fmt.Sprintf("waiting: id %d (%s, priority %d)", id, t, prio))
			}
		}
		rows.Close()
	}
	for i, c := range conns {
		st, err := c.Status(ctx)
		if err != nil {
			parts = append(parts, fmt.Sprintf("worker %d: status: %v", i+1, err))
			continue
		}
		for name, t := range st.Targets {
			parts = append(parts, fmt.Sprintf("worker %d %s: length %d", i+1, name, t.Length))
		}
	}
	return "rows: " + strings.Join(parts, ", ")
}
