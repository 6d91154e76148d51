package main

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The original Node.js jobd 1.12, measured on this machine with the same
// workload: one poll, launcher /bin/true {id}, MariaDB 10.11 with default
// durability. It cannot be installed here, so its figures are constants.
var original = struct {
	c8Lo, c8Hi, c32   float64 // jobs/s
	p50, p95          float64 // one job, INSERT + poll → done, ms
	rssIdle, rssAfter float64 // MB, idle and after 10,000 jobs
}{408, 460, 450, 8, 10, 63, 103}

// results is everything one run of the harness measured.
type results struct {
	opt        options
	args       []string
	start      time.Time
	total      time.Duration
	machine    machine
	loadBefore string
	errs       []string

	spawn         series
	spawnCost     struct{ parent, child series } // CPU µs per spawn
	spawnArg      series                         // the spawn rate of /bin/true 1 over that of /bin/true, per run
	spawnArgChild series                         // CPU µs of a /bin/true 1 child
	specs         []drainSpec
	drains        map[string][]drainResult
	lat           *latencyResult
	scale         []scaleResult
	mem           *jobdMemory
	master        *masterMemory
}

// rates returns the throughput of each run of a configuration.
func (r *results) rates(key string) series {
	var s series
	for _, d := range r.drains[key] {
		s = append(s, d.rate)
	}
	return s
}

// ofCeiling returns each run's throughput over the raw spawn rate
// measured just before it.
func (r *results) ofCeiling(key string) series {
	return r.perJob(key, func(d drainResult) float64 { return d.rate / d.spawn })
}

// perJob returns a per-job figure of each run of a configuration.
func (r *results) perJob(key string, f func(drainResult) float64) series {
	var s series
	for _, d := range r.drains[key] {
		s = append(s, f(d))
	}
	return s
}

// inShellLocale names the locale the spawn rate of /bin/true 1 (and c32l)
// ran in when it is not the C locale.
func (r *results) inShellLocale() string {
	if r.opt.shellLocale == nil {
		return ""
	}
	return " in the shell's locale (" + strings.Join(r.opt.shellLocale, " ") + ")"
}

// markdown renders the results; full adds the preamble, the method and the
// machine (docs/BENCHMARKS.md), otherwise only the tables (stdout).
func (r *results) markdown(full bool) string {
	var b strings.Builder
	if full {
		r.preamble(&b)
	}
	r.goalsTable(&b)
	r.throughputTable(&b, full)
	r.costTable(&b)
	r.latencyTable(&b)
	r.scaleTable(&b)
	r.memoryTable(&b)
	if len(r.errs) > 0 {
		b.WriteString("\n## Measurements that failed\n\n")
		for _, e := range r.errs {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
	}
	if full {
		b.WriteString(method)
	}
	r.machineSection(&b)
	return b.String()
}

func (r *results) preamble(b *strings.Builder) {
	runs := fmt.Sprintf("Throughput figures are medians of %d runs, with the range of the runs in brackets", r.opt.runs)
	if r.opt.runs == 1 {
		runs = "Throughput figures are from one run"
	}
	fmt.Fprintf(b, `# Benchmarks

Written by the benchmark harness, `+"`make bench`"+` (`+"`go run ./bench %s`"+`), on %s in %s; do not edit by hand. `+
		`jobd and jobd-master were built from commit %s (without -race) and run as processes against a private MariaDB %s with default durability (`+"`innodb_flush_log_at_trx_commit = 1`"+`). `+
		`The original Node.js jobd 1.12 cannot be installed here: its column holds the figures issue 8 gives, measured with the same workload on a 2-core machine like this one (the CPU under this page has changed between sessions, Intel Xeon and AMD EPYC: see Machine). `+
		`Every process runs in the C locale; a drain in the shell's locale is shown beside (see Throughput). `+
		`%s. The machine is shared and noisy (load average %s at the start, %s at the end): compare figures within this page rather than across runs. `+
		`The chart, docs/throughput.png, is drawn by the same run. `+"`make bench-quick`"+` runs a smaller version in under two minutes and writes no file.

`, strings.Join(r.args, " "), r.machine.Date, fmtDur(r.total.Round(time.Second)), r.machine.Commit, r.machine.MariaDB,
		runs, r.machine.LoadBefore, r.machine.LoadAfter)
}

// goal is one line of the goals table.
type goal struct {
	what, measured string
	ok             *bool // nil: not measured
}

func check(ok bool) *bool { return &ok }

func (r *results) goals() []goal {
	var gs []goal
	c32, of := r.rates("c32").median(), r.ofCeiling("c32").median()
	gs = append(gs,
		goal{"throughput at concurrency 32 ≥ 0.75 × the raw spawn rate of the same run",
			fmt.Sprintf("%.3f × (median of the runs' ratios to the spawn rate measured just before each)", of), known(of, func(v float64) bool { return v >= 0.75 })},
		goal{"throughput at concurrency 32 ≥ 4 × the original's (≥ 1,800 jobs/s)",
			fmt.Sprintf("%s jobs/s = %.2f × the original's 450", num(c32), c32/original.c32), known(c32, func(v float64) bool { return v >= 1800 })})
	if l := r.lat; l != nil {
		// The stamp launcher's own start (Go exec → its main, measured in
		// the same run) is taken out; both figures are shown.
		own := l.stampStart.median()
		p50, p99 := l.pokeToStart.median(), l.pokeToStart.percentile(99)
		net := func(v float64) string {
			return fmt.Sprintf("%s (%s measured − %s, the launcher's own start)", msf(v-own), msf(v), msf(own))
		}
		gs = append(gs,
			goal{"poke → launcher running, p50 < 5 ms", net(p50), known(p50-own, func(v float64) bool { return v < 5 })},
			goal{"poke → launcher running, p99 < 20 ms", net(p99), known(p99-own, func(v float64) bool { return v < 20 })})
	} else {
		gs = append(gs, goal{"poke → launcher running, p50 < 5 ms and p99 < 20 ms", "not measured", nil})
	}
	gs = append(gs, r.claimGoal())
	if m := r.mem; m != nil {
		gs = append(gs,
			goal{"jobd idle RSS < 15 MB", mb(m.idle.RSS), check(m.idle.RSS < 15<<20)},
			goal{fmt.Sprintf("jobd RSS after draining %s jobs < 30 MB", num(float64(m.jobs))), mb(m.after.RSS), check(m.after.RSS < 30<<20)})
	} else {
		gs = append(gs, goal{"jobd RSS idle < 15 MB and < 30 MB after draining 10,000 jobs", "not measured", nil})
	}
	stmts := r.perJob("c32", func(d drainResult) float64 { return d.perJob }).median()
	gs = append(gs, goal{"≤ 2 database round trips per job on the hot path (concurrency 32, amortised)",
		fmt.Sprintf("%.2f statements per job", stmts), known(stmts, func(v float64) bool { return v <= 2 })})
	name := "make bench"
	if r.opt.quick {
		name = "make bench-quick"
	}
	g := goal{fmt.Sprintf("`%s` finishes in under %s", name, fmtDur(r.opt.budget)),
		fmtDur(r.total.Round(time.Second)) + " (after compiling the harness)", check(r.total < r.opt.budget)}
	if r.opt.only != "" {
		g.measured, g.ok = "a partial run (-only "+r.opt.only+")", nil
	}
	gs = append(gs, g)
	return gs
}

// claimGoal compares the median claim statement with 1,000,000 rows and
// with 1,000 (the first-batch timings are shown in the claim table).
func (r *results) claimGoal() goal {
	g := goal{what: "claim time with the big table ≤ 2 × with 1,000 rows", measured: "not measured"}
	if len(r.scale) < 2 {
		return g
	}
	small, big := r.scale[0], r.scale[len(r.scale)-1]
	g.what = fmt.Sprintf("claim time with %s waiting rows ≤ 2 × with %s", num(float64(big.rows)), num(float64(small.rows)))
	a, c := small.claimWork().median(), big.claimWork().median()
	if math.IsNaN(a) || math.IsNaN(c) {
		return g
	}
	g.measured = fmt.Sprintf("first batch, claim SELECT + UPDATE: %.2f ms vs %.2f ms = %.2f ×", c, a, c/a)
	g.ok = check(c <= 2*a)
	return g
}

func known(v float64, pass func(float64) bool) *bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return check(pass(v))
}

func (r *results) goalsTable(b *strings.Builder) {
	b.WriteString("## Goals (issue 8)\n\n| goal | measured | |\n|---|---|---|\n")
	for _, g := range r.goals() {
		verdict := "n/a"
		if g.ok != nil {
			verdict = map[bool]string{true: "PASS", false: "**FAIL**"}[*g.ok]
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", g.what, g.measured, verdict)
	}
}

func (r *results) throughputTable(b *strings.Builder, withChart bool) {
	if len(r.specs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Throughput\n\n%s waiting jobs, launcher `/bin/true {id}`, one poll, until every row is done. Each run follows a run of the raw spawn rate, and \"of the ceiling\" is the median of the runs' ratios to it.\n\n", num(float64(r.opt.n)))
	b.WriteString("| | jobd, jobs/s | of the ceiling | original jobd 1.12, jobs/s | × original |\n|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| raw spawn rate: `/bin/true` from Go, 32 goroutines (the ceiling; all runs) | %s | 1 | — | |\n", rangeOf(r.spawn, num))
	if len(r.spawnArg) > 0 {
		fmt.Fprintf(b, "| raw spawn rate of `/bin/true 1` (an argument, as the launcher `/bin/true {id}` has)%s, as a share of `/bin/true`'s | | %s | — | |\n",
			r.inShellLocale(), rangeOf(r.spawnArg, func(v float64) string { return fmt.Sprintf("%.2f", v) }))
	}
	for _, s := range r.specs {
		rates := r.rates(s.key)
		m := rates.median()
		orig, times := "—", ""
		switch s.key {
		case "c8":
			orig = fmt.Sprintf("%s–%s", num(original.c8Lo), num(original.c8Hi))
			times = fmt.Sprintf("%.1f ×", m/((original.c8Lo+original.c8Hi)/2))
		case "c32", "c32l":
			orig = "≈ " + num(original.c32)
			times = fmt.Sprintf("%.1f ×", m/original.c32)
		}
		f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", s.label, rangeOf(rates, num), rangeOf(r.ofCeiling(s.key), f2), orig, times)
	}
	for _, s := range r.specs {
		for i, d := range r.drains[s.key] {
			if w := d.warnings(); w != "" {
				fmt.Fprintf(b, "\n- %s, run %d: %s", s.label, i+1, strings.TrimPrefix(w, " — "))
			}
		}
	}
	if of, arg := r.ofCeiling("c32l").median(), r.spawnArg.median(); r.opt.shellLocale != nil && !math.IsNaN(of) && !math.IsNaN(arg) {
		fmt.Fprintf(b, "\nEvery process runs in the C locale, but for the row%s. There GNU true, given an argument, loads the locale's files before it looks at it: "+
			"`/bin/true 1` alone spawns at %.2f of the ceiling, the most any worker could reach with this launcher in that locale, and jobd reaches %.2f of the ceiling, %.2f of that.\n",
			r.inShellLocale(), arg, of, of/arg)
	}
	b.WriteString("\n")
	if withChart && r.opt.chart != "" {
		fmt.Fprintf(b, "\n![throughput against concurrency](%s)\n", chartLink(r.opt.chart, r.opt.doc))
	}
}

func (r *results) costTable(b *strings.Builder) {
	if len(r.specs) == 0 {
		return
	}
	b.WriteString("\n### Cost per job\n\nStatements jobd sent to MariaDB per job (the server's `Questions` and `Com_*` counters around the drain, less the harness's own), and CPU time per job: jobd's own, its launchers' (the `/bin/true` processes, from jobd's cutime + cstime), MariaDB's, and the rest of the machine's (the harness, and whatever else ran on this shared machine), with how busy its CPUs were.\n\n")
	b.WriteString("| | statements | SELECT | UPDATE | BEGIN | COMMIT | other | jobd CPU | launchers | MariaDB | rest | CPUs busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.specs {
		med := func(f func(drainResult) float64) float64 { return r.perJob(s.key, f).median() }
		com := func(k string) float64 { return med(func(d drainResult) float64 { return d.com[k] }) }
		us := func(f func(drainResult) time.Duration) string {
			return fmt.Sprintf("%.0f µs", med(func(d drainResult) float64 { return float64(f(d)) / 1e3 }))
		}
		total := med(func(d drainResult) float64 { return d.perJob })
		other := total - com("Com_select") - com("Com_update") - com("Com_begin") - com("Com_commit")
		fmt.Fprintf(b, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %.0f%% |\n", s.label,
			rangeOf(r.perJob(s.key, func(d drainResult) float64 { return d.perJob }), func(v float64) string { return fmt.Sprintf("%.2f", v) }),
			com("Com_select"), com("Com_update"), com("Com_begin"), com("Com_commit"), other,
			us(func(d drainResult) time.Duration { return d.jobdCPU }), us(func(d drainResult) time.Duration { return d.launchCPU }),
			us(func(d drainResult) time.Duration { return d.dbCPU }), us(func(d drainResult) time.Duration { return d.restCPU }),
			med(func(d drainResult) float64 { return 100 * d.busy }))
	}
	if len(r.spawnCost.parent) > 0 {
		fmt.Fprintf(b, "\nFor comparison, the raw spawn rate costs %.0f µs of the harness's CPU and %.0f µs of the child's per `/bin/true` (medians of the runs).\n",
			r.spawnCost.parent.median(), r.spawnCost.child.median())
		if len(r.spawnArgChild) > 0 {
			fmt.Fprintf(b, "A `/bin/true 1` child%s costs %.0f µs: GNU true loads the locale when it has an argument to look at.\n",
				r.inShellLocale(), r.spawnArgChild.median())
		}
	}
	// What the CPU per job allows: the machine's cores divided by the CPU
	// a job costs all processes together, against the spawn rate's own.
	b.WriteString("\nThe CPU a job costs, summed over every process, caps the rate on this machine's " + strconv.Itoa(runtime.NumCPU()) + " cores even with every core busy:")
	for _, s := range r.specs {
		med := func(f func(drainResult) time.Duration) float64 {
			return r.perJob(s.key, func(d drainResult) float64 { return float64(f(d)) / 1e3 }).median()
		}
		perJob := med(func(d drainResult) time.Duration { return d.jobdCPU + d.launchCPU + d.dbCPU + d.restCPU })
		if perJob > 0 {
			fmt.Fprintf(b, " %s, %.0f µs → %s jobs/s;", strings.ToLower(s.label[:1])+s.label[1:], perJob, num(float64(runtime.NumCPU())*1e6/perJob))
		}
	}
	if len(r.spawnCost.parent) > 0 {
		spawn := r.spawnCost.parent.median() + r.spawnCost.child.median()
		fmt.Fprintf(b, " the raw spawn rate, %.0f µs → %s spawns/s.", spawn, num(float64(runtime.NumCPU())*1e6/spawn))
	}
	b.WriteString(" Where jobd's part goes, what was changed, and the figures before and after: [PROFILE.md](PROFILE.md).\n")
}

func (r *results) latencyTable(b *strings.Builder) {
	l := r.lat
	if l == nil {
		return
	}
	fmt.Fprintf(b, "\n## Latency\n\nSingle jobs in an idle system, one after the other: %d poked through jobd-master, %d polled straight at jobd. Milliseconds.\n\n", len(l.pokeToStart), len(l.pollToStart))
	b.WriteString("| | p50 | p95 | p99 | max | original jobd 1.12 |\n|---|---|---|---|---|---|\n")
	row := func(what string, s series, orig string) {
		fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f | %.1f | %s |\n", what, s.median(), s.percentile(95), s.percentile(99), s.hi(), orig)
	}
	row("poke (jobd-master) → launcher running", l.pokeToStart, "—")
	row("poke (jobd-master) → row done", l.pokeToDone, "—")
	row("INSERT + poke (jobd-master) → row done", l.insertToDone, "—")
	row("poll (jobd) → launcher running", l.pollToStart, "—")
	row("INSERT + poll (jobd) → row done", l.pollInsertToDone, fmt.Sprintf("p50 %.0f, p95 %.0f", original.p50, original.p95))
	row("of which: the launcher's own start (Go exec → its main)", l.stampStart, "")
}

func (r *results) scaleTable(b *strings.Builder) {
	if len(r.scale) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Claim at scale\n\nWaiting jobs over 10 targets (priorities 0-2), one jobd serving all 10 with concurrency 8. The first batch (80 jobs): %d starts of jobd per table, median (range); the statements' own times from MariaDB's slow query log. Then the drain with `/bin/true {id}`.\n\n", r.opt.claimReps)
	b.WriteString("| waiting rows | jobd start → first row claimed | claim SELECT | rows it examined | claim UPDATE | COMMIT | drain rate | inserting the rows |\n|---|---|---|---|---|---|---|---|\n")
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	f1 := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	for _, s := range r.scale {
		fmt.Fprintf(b, "| %s | %s ms | %s ms | %s | %s ms | %s ms | %s jobs/s (%s in %s) | %s |\n",
			num(float64(s.rows)), rangeOf(s.startToClaim, f1), rangeOf(s.claimSelect, f2), rangeOf(s.claimRows, num),
			rangeOf(s.claimUpdate, f2), rangeOf(s.claimCommit, f2),
			num(s.rate), num(float64(s.drainJobs)), s.drainWindow.Round(10*time.Millisecond), s.insert.Round(100*time.Millisecond))
	}
	if len(r.scale) == 2 {
		a, c := r.scale[0], r.scale[1]
		q := func(x, y series) string { return fmt.Sprintf("%.2f ×", y.median()/x.median()) }
		fmt.Fprintf(b, "| ratio | %s | %s | %s | %s | %s | %.2f × | |\n", q(a.startToClaim, c.startToClaim), q(a.claimSelect, c.claimSelect),
			q(a.claimRows, c.claimRows), q(a.claimUpdate, c.claimUpdate), q(a.claimCommit, c.claimCommit), c.rate/a.rate)
	}
}

func (r *results) memoryTable(b *strings.Builder) {
	if r.mem == nil && r.master == nil {
		return
	}
	b.WriteString("\n## Memory\n\nResident set (VmRSS from /proc/PID/status; VmHWM is the peak of the process's life), MB = 2^20 bytes.\n\n| | jobd | original jobd 1.12 |\n|---|---|---|\n")
	if m := r.mem; m != nil {
		fmt.Fprintf(b, "| jobd idle, a second after start | %s | %.0f MB |\n", mb(m.idle.RSS), original.rssIdle)
		fmt.Fprintf(b, "| jobd while %s jobs are queued and running (concurrency 32), largest VmRSS | %s | — |\n", num(float64(m.jobs)), mb(m.during))
		fmt.Fprintf(b, "| jobd a second after draining them (%s) | %s | %.0f MB |\n", m.elapsed.Round(10*time.Millisecond), mb(m.after.RSS), original.rssAfter)
		fmt.Fprintf(b, "| jobd peak (VmHWM) | %s | — |\n", mb(m.after.HWM))
	}
	if m := r.master; m != nil {
		fmt.Fprintf(b, "| jobd-master idle | %s | — |\n", mb(m.idle.RSS))
		fmt.Fprintf(b, "| jobd-master with %d registered workers, after a poke to all | %s (peak %s) | — |\n", m.workers, mb(m.loaded.RSS), mb(m.loaded.HWM))
		fmt.Fprintf(b, "| jobd-master: poke → all %d workers polled | %.1f ms | — |\n", m.workers, ms(m.fanout))
	}
}

func (r *results) machineSection(b *strings.Builder) {
	m := r.machine
	fmt.Fprintf(b, "\n## Machine\n\n| | |\n|---|---|\n| CPU | %s, %s cores |\n| RAM | %s |\n| OS, kernel | %s, Linux %s |\n| MariaDB | %s |\n| Go | %s |\n| date | %s |\n| jobd | commit %s |\n| load average (1, 5, 15 min) | %s at the start, %s at the end |\n| run time | %s |\n",
		m.CPU, m.Cores, m.RAM, m.OS, m.Kernel, m.MariaDB, m.Go, m.Date, m.Commit, m.LoadBefore, m.LoadAfter, r.total.Round(time.Second))
}

// rangeOf shows a median with the range of the runs: "2,310 (2,250–2,400)".
func rangeOf(s series, f func(float64) string) string {
	switch len(s) {
	case 0:
		return "n/a"
	case 1:
		return f(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.median()), f(s.lo()), f(s.hi()))
}

// num formats a number with thousands separators, no decimals.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}

func msf(v float64) string { return fmt.Sprintf("%.1f ms", v) }

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20)) }

func fmtDur(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(time.Second).String()
}

// chartLink is the chart's path as seen from the document.
func chartLink(chart, doc string) string {
	if rel, err := filepath.Rel(filepath.Dir(doc), chart); err == nil && doc != "" {
		return rel
	}
	return chart
}
