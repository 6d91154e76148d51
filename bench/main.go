// Command bench is jobd's benchmark harness (make bench, make bench-quick).
// It builds jobd and jobd-master from the checkout, starts a private MariaDB
// with default durability and runs the daemons as processes, the way they
// run in production, then measures:
//
//   - the raw spawn rate: /bin/true started from Go by 32 goroutines, the
//     ceiling for everything else, in the same run;
//   - end-to-end throughput: 20,000 waiting jobs, launcher /bin/true {id},
//     one poll, until every row is done; concurrency 8, 32 and 128, and 4
//     targets served by 2 jobd instances;
//   - the database statements jobd sends per job, and the CPU time jobd and
//     MariaDB spend per job;
//   - latency of single jobs: INSERT + poke through jobd-master until the
//     launcher runs and until the row is done;
//   - claiming from a table of 1,000,000 waiting jobs against one of 1,000;
//   - jobd's memory around a drain of 10,000 jobs, and jobd-master's with
//     500 registered workers;
//
// and prints tables, with the original Node.js jobd's figures beside them
// and each goal of issue 8 marked PASS or FAIL (a FAIL does not fail the
// command). With -doc and -chart it writes docs/BENCHMARKS.md and the
// throughput chart.
//
//	go run ./bench [-quick] [-doc docs/BENCHMARKS.md] [-chart docs/throughput.png]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options size the benchmark; zero values take the mode's default.
type options struct {
	quick       bool
	n           int           // jobs per throughput run
	runs        int           // runs of each throughput configuration (each after a spawn-rate run)
	spawnFor    time.Duration // each spawn-rate run
	pokes       int           // latency: jobs poked through the master
	polls       int           // latency: jobs polled straight at the worker
	scaleRows   int           // the big table of the claim-at-scale measurement
	scaleWindow time.Duration // its drain-rate window
	claimReps   int           // first-batch samples per table size
	memJobs     int           // jobs of the memory measurement
	workers     int           // fake workers registered with jobd-master
	budget      time.Duration // the time the whole run should stay within
	doc, chart  string        // output files; "" for none
	profileDir  string        // JOBD_CPUPROFILE for the throughput runs' jobd
	only        string        // comma-separated phases, for working on one
	keep        bool          // keep the temporary directory (configs, slow logs)
	serverArgs  string        // more options for the private MariaDB, for investigations
	shellLocale []string      // the locale the harness was started in (see useCLocale), nil for C
}

func (o *options) defaults() {
	full := options{n: 20_000, runs: 3, spawnFor: 2 * time.Second, pokes: 200, polls: 100,
		scaleRows: 1_000_000, scaleWindow: 5 * time.Second, claimReps: 5, memJobs: 10_000, workers: 500, budget: 10 * time.Minute}
	if o.quick {
		full = options{n: 5_000, runs: 1, spawnFor: 1500 * time.Millisecond, pokes: 50, polls: 30,
			scaleRows: 100_000, scaleWindow: 3 * time.Second, claimReps: 3, memJobs: 10_000, workers: 500, budget: 2 * time.Minute}
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&o.n, full.n)
	set(&o.runs, full.runs)
	setD(&o.spawnFor, full.spawnFor)
	set(&o.pokes, full.pokes)
	set(&o.polls, full.polls)
	set(&o.scaleRows, full.scaleRows)
	setD(&o.scaleWindow, full.scaleWindow)
	set(&o.claimReps, full.claimReps)
	set(&o.memJobs, full.memJobs)
	set(&o.workers, full.workers)
	setD(&o.budget, full.budget)
}

// phases, in the order they run.
var phases = []string{"throughput", "latency", "scale", "memory", "master"}

// wants reports whether -only lets a phase run; the throughput phase also
// runs when -only names some of its configurations (c8, c32, c128, multi).
func (o options) wants(phase string) bool {
	if o.only == "" || slices.Contains(strings.Split(o.only, ","), phase) {
		return true
	}
	return phase == "throughput" && len(o.specs()) > 0
}

// specs are the throughput configurations to run.
func (o options) specs() []drainSpec {
	all := throughputSpecs(o.n, o.shellLocale)
	if o.only == "" || slices.Contains(strings.Split(o.only, ","), "throughput") {
		return all
	}
	var out []drainSpec
	for _, s := range append(all, extraSpecs(o.n)...) {
		if slices.Contains(strings.Split(o.only, ","), s.key) {
			out = append(out, s)
		}
	}
	return out
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "smaller and fewer runs (make bench-quick)")
	flag.IntVar(&o.n, "n", 0, "jobs per throughput run (default 20000; quick 5000)")
	flag.IntVar(&o.runs, "runs", 0, "runs per throughput measurement (default 3; quick 1)")
	flag.DurationVar(&o.spawnFor, "spawn-for", 0, "length of each spawn-rate run (default 2s; quick 1.5s)")
	flag.IntVar(&o.pokes, "pokes", 0, "latency jobs poked through jobd-master (default 200; quick 50)")
	flag.IntVar(&o.polls, "polls", 0, "latency jobs polled straight at jobd (default 100; quick 30)")
	flag.IntVar(&o.scaleRows, "scale-rows", 0, "waiting rows of the claim-at-scale table (default 1000000; quick 100000)")
	flag.IntVar(&o.memJobs, "mem-jobs", 0, "jobs of the memory measurement (default 10000)")
	flag.IntVar(&o.workers, "workers", 0, "fake workers registered with jobd-master (default 500)")
	flag.StringVar(&o.doc, "doc", "", "write the results as Markdown to this file (make bench: docs/BENCHMARKS.md)")
	flag.StringVar(&o.chart, "chart", "", "write the throughput chart (PNG) to this file (make bench: docs/throughput.png)")
	flag.StringVar(&o.profileDir, "cpuprofile-dir", "", "write a CPU profile of each throughput run's jobd into this directory")
	flag.StringVar(&o.only, "only", "", "run only these phases, comma-separated: "+strings.Join(phases, ",")+" (or throughput configurations: c8,c32,c128,multi, c32l in the shell's locale, and c8p,c32p with prefetch)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, slow query logs) and say where")
	flag.StringVar(&o.serverArgs, "server-args", "", "more options for the private MariaDB, space-separated (for investigations, e.g. a slow query log of every statement: \"--slow-query-log=1 --long-query-time=0 --slow-query-log-file=/tmp/slow.log --log-slow-verbosity=query_plan,innodb\")")
	flag.Parse()
	o.defaults()
	o.shellLocale = useCLocale()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, args []string) error {
	start := time.Now()
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	e, err := setup(ctx, o, progress)
	if err != nil {
		return err
	}
	defer e.close()
	res := &results{opt: o, start: start, args: args, loadBefore: loadAvg()}
	res.machine = e.describe(start)
	e.measure(ctx, res)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.total = time.Since(start)
	res.machine.LoadBefore, res.machine.LoadAfter = res.loadBefore, loadAvg()
	fmt.Print(res.markdown(false))
	if o.chart != "" {
		if err := res.writeChart(o.chart); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		progress("wrote %s", o.chart)
	}
	if o.doc != "" {
		if err := os.WriteFile(o.doc, []byte(res.markdown(true)), 0o644); err != nil {
			return err
		}
		progress("wrote %s", o.doc)
	}
	return nil
}

// measure runs every phase, recording failures and going on.
func (e *env) measure(ctx context.Context, res *results) {
	o := e.opt
	fail := func(what string, err error) {
		e.progress("FAILED: %s: %v", what, err)
		res.errs = append(res.errs, fmt.Sprintf("%s: %v", what, err))
	}
	if o.wants("throughput") {
		e.throughput(ctx, res, fail)
	}
	if o.wants("latency") && ctx.Err() == nil {
		e.progress("latency: %d jobs poked through jobd-master, %d polled at jobd", o.pokes, o.polls)
		if r, err := e.latency(ctx, o.pokes, o.polls); err != nil {
			fail("latency", err)
		} else {
			res.lat = &r
		}
	}
	if o.wants("scale") && ctx.Err() == nil {
		for _, rows := range []int{1_000, o.scaleRows} {
			window := o.scaleWindow
			if rows <= 1_000 {
				window = 0
			}
			e.progress("claim at scale: %d waiting rows", rows)
			r, err := e.claimAtScale(ctx, rows, o.claimReps, window)
			if err != nil {
				fail(fmt.Sprintf("claim at scale (%d rows)", rows), err)
				continue
			}
			res.scale = append(res.scale, r)
		}
	}
	if o.wants("memory") && ctx.Err() == nil {
		e.progress("memory: jobd around %d jobs", o.memJobs)
		if m, err := e.memoryJobd(ctx, o.memJobs); err != nil {
			fail("jobd memory", err)
		} else {
			res.mem = &m
		}
	}
	if o.wants("master") && ctx.Err() == nil {
		e.progress("memory: jobd-master with %d workers", o.workers)
		if m, err := e.memoryMaster(ctx, o.workers); err != nil {
			fail("jobd-master memory", err)
		} else {
			res.master = &m
		}
	}
}

// throughput runs each configuration o.runs times, each run right after a
// run of the raw spawn rate: on a shared machine the ceiling moves from
// minute to minute.
func (e *env) throughput(ctx context.Context, res *results, fail func(string, error)) {
	o := e.opt
	e.checkProbe(ctx)
	res.specs = o.specs()
	res.drains = map[string][]drainResult{}
	for run := 1; run <= o.runs && ctx.Err() == nil; run++ {
		// GNU true given an argument looks at it, and so first loads the
		// locale: the launcher /bin/true {id} costs more than /bin/true.
		// Measured beside a plain spawn run, for the ratio of the two.
		if len(res.specs) > 0 {
			plain, err := spawnRate(ctx, 32, o.spawnFor, nil)
			arg, err2 := spawnRate(ctx, 32, o.spawnFor, o.shellLocale, "1")
			if err = errors.Join(err, err2); err != nil {
				fail("spawn rate with an argument", err)
			} else {
				res.spawnArg = append(res.spawnArg, arg.rate/plain.rate)
				res.spawnArgChild = append(res.spawnArgChild, float64(arg.child)/1e3)
				e.progress("run %d/%d: raw spawn rate of /bin/true 1: %.0f/s, of /bin/true: %.0f/s (%.2f)", run, o.runs, arg.rate, plain.rate, arg.rate/plain.rate)
			}
		}
		for _, s := range res.specs {
			sp, err := spawnRate(ctx, 32, o.spawnFor, nil)
			if err != nil {
				fail("spawn rate", err)
				continue
			}
			res.spawn = append(res.spawn, sp.rate)
			res.spawnCost.parent = append(res.spawnCost.parent, float64(sp.parent)/1e3)
			res.spawnCost.child = append(res.spawnCost.child, float64(sp.child)/1e3)
			r, err := e.drain(ctx, s, run)
			if err != nil {
				fail(s.label, err)
				continue
			}
			r.spawn = sp.rate
			res.drains[s.key] = append(res.drains[s.key], r)
			e.progress("run %d/%d: %s: %.0f jobs/s (%s) = %.2f of the raw spawn rate just before (%.0f/s); %.2f statements/job; "+
				"CPU per job: jobd %s, launcher %s, MariaDB %s, rest %s; CPUs %.0f%% busy%s",
				run, o.runs, s.label, r.rate, r.elapsed.Round(time.Millisecond), r.rate/sp.rate, sp.rate, r.perJob,
				us(r.jobdCPU), us(r.launchCPU), us(r.dbCPU), us(r.restCPU), 100*r.busy, r.warnings())
		}
	}
}

// throughputSpecs are the end-to-end configurations, n jobs each.
func throughputSpecs(n int, shellLocale []string) []drainSpec {
	specs := []drainSpec{
		{key: "c8", label: "1 target, concurrency 8", instances: 1, targets: []string{"bench"}, concurrency: 8, n: n},
		{key: "c32", label: "1 target, concurrency 32", instances: 1, targets: []string{"bench"}, concurrency: 32, n: n},
		{key: "c128", label: "1 target, concurrency 128", instances: 1, targets: []string{"bench"}, concurrency: 128, n: n},
		{key: "multi", label: "4 targets, 2 jobd, 4 each (32 in all)", instances: 2, targets: names("t", 4), concurrency: 4, n: n},
	}
	if shellLocale != nil {
		// What the shell's locale costs the launcher, at the goals'
		// concurrency.
		specs = append(specs, drainSpec{key: "c32l", label: "1 target, concurrency 32, in the shell's locale (" + strings.Join(shellLocale, " ") + ")",
			instances: 1, targets: []string{"bench"}, concurrency: 32, n: n, env: shellLocale})
	}
	return specs
}

// extraSpecs run only when -only names them: variations for looking into
// where the time goes.
func extraSpecs(n int) []drainSpec {
	return []drainSpec{
		{key: "c32p", label: "1 target, concurrency 32, prefetch 32", instances: 1, targets: []string{"bench"}, concurrency: 32, n: n, top: "prefetch = 32\n"},
		{key: "c8p", label: "1 target, concurrency 8, prefetch 8", instances: 1, targets: []string{"bench"}, concurrency: 8, n: n, top: "prefetch = 8\n"},
	}
}

// warnings notes what would make a run suspect.
func (r drainResult) warnings() string {
	var w []string
	if r.failed > 0 {
		w = append(w, fmt.Sprintf("%d jobs not done ok", r.failed))
	}
	if r.repolls > 0 {
		w = append(w, fmt.Sprintf("stalled %d times with jobs left waiting and every worker idle (%s in all); polled again", r.repolls, r.stalled.Round(time.Millisecond)))
	}
	if r.early > 0 {
		w = append(w, fmt.Sprintf("%d jobs claimed before the poll", r.early))
	}
	if len(w) == 0 {
		return ""
	}
	return " — WARNING: " + strings.Join(w, ", ")
}

// checkProbe warns when the drain probe would cost the server more than an
// index dive (it must not distort what it watches).
func (e *env) checkProbe(ctx context.Context) {
	db, err := e.newDB(ctx, "probe")
	if err != nil {
		e.progress("warning: checking the drain probe: %v", err)
		return
	}
	defer db.close(e)
	if warn, err := db.checkProbe(ctx); err != nil || warn != "" {
		e.progress("warning: %v%s", err, warn)
	}
}

// us rounds a duration to microseconds, for progress lines.
func us(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
