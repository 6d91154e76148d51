package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/rpc"
)

func (a *app) workerCommands() []*cobra.Command {
	return []*cobra.Command{
		{
			Use:   "status",
			Short: "Show a worker's targets and slots: concurrency, running, queued, paused",
			Long: "Show a worker's targets and slots: concurrency, running, queued, paused.\n" +
				"With --master, show the master's workers (as jobctl workers).",
			Example: "  jobctl status\n  jobctl --host worker2 --json status",
			Args:    needArgs(0, 0, "no arguments"),
			RunE:    a.do(a.status),
		},
		{
			Use:   "poll [TARGET...]",
			Short: "Have the worker claim waiting jobs now (all targets, or these)",
			Long: "Have the worker claim waiting jobs of the targets now (all targets when none is given).\n" +
				"With --master, send poke for the targets (at least one) to the master.",
			Example:           "  jobctl poll\n  jobctl poll mail reports",
			RunE:              a.do(a.poll),
			ValidArgsFunction: a.completeTargets,
		},
		{
			Use:   "pause [TARGET...]",
			Short: "Start no new jobs of the targets (all, or these); running jobs go on",
			Long: "Start no new jobs of the targets (all targets when none is given); running jobs go on.\n" +
				"With --master, pause them on every worker serving them.",
			Example:           "  jobctl pause mail\n  jobctl --master pause",
			RunE:              a.do(a.pauseContinue(rpc.ReqPause)),
			ValidArgsFunction: a.completeTargets,
		},
		{
			Use:   "continue [TARGET...]",
			Short: "Un-pause the targets (all, or these) and poll",
			Long: "Un-pause the targets (all targets when none is given), then poll them.\n" +
				"With --master, continue them on every worker serving them.",
			Example:           "  jobctl continue mail",
			RunE:              a.do(a.pauseContinue(rpc.ReqContinue)),
			ValidArgsFunction: a.completeTargets,
		},
		{
			Use:               "set-concurrency TARGET N",
			Short:             "Change how many jobs of a target the worker runs at once",
			Example:           "  jobctl set-concurrency mail 10",
			Args:              needArgs(2, 2, "TARGET and N"),
			RunE:              a.do(a.targetConcurrency(rpc.ReqSetTargetConcurrency)),
			ValidArgsFunction: a.completeTargets,
		},
		{
			Use:     "add-target TARGET N",
			Short:   "Serve a new target with concurrency N (until the config is reloaded)",
			Example: "  jobctl add-target reports 2",
			Args:    needArgs(2, 2, "TARGET and N"),
			RunE:    a.do(a.targetConcurrency(rpc.ReqAddTarget)),
		},
		{
			Use:               "remove-target TARGET",
			Short:             "Stop serving a target (it must have no queued or running jobs)",
			Example:           "  jobctl pause reports && jobctl remove-target reports",
			Args:              needArgs(1, 1, "TARGET"),
			RunE:              a.do(a.removeTarget),
			ValidArgsFunction: a.completeTargets,
		},
		{
			Use:   "run-manual ID...",
			Short: "Run manual jobs now and wait for them; print their output",
			Long: "Run jobs in status manual now, wait until they finish and print their outcome and output.\n" +
				"With --master, name each job as ID:TARGET (or give --dsn, and jobctl reads the target).\n" +
				"Exits 0 when every job succeeded, 1 otherwise.",
			Example: "  jobctl run-manual 12 13\n  jobctl --master run-manual 12:mail",
			Args:    needArgs(1, -1, "one job ID"),
			RunE:    a.do(a.runManual),
		},
		{
			Use:   "signal ID SIGNAL",
			Short: "Send a signal (TERM, KILL, HUP, 15...) to a running job's process group",
			Long: "Send a signal to a running job's process group: a name (TERM, SIGTERM, kill) or a number.\n" +
				"With --master, name the job as ID:TARGET (or give --dsn, and jobctl reads the target).\n" +
				"Exits 1 when the signal reached no process (the job is not running there).",
			Example: "  jobctl signal 12 TERM\n  jobctl --master signal 12:mail KILL",
			Args:    needArgs(2, 2, "ID and SIGNAL"),
			RunE:    a.do(a.signal),
		},
	}
}

// workerOnly refuses a request jobd-master does not serve.
func (a *app) workerOnly(cmd *cobra.Command) error {
	if a.set.master {
		return usageErr("%s talks to a jobd worker; jobd-master does not serve it (drop --master and give the worker's --host)", cmd.Name())
	}
	return nil
}

// okAnswer is the JSON of a control request that succeeded.
type okAnswer struct {
	OK          bool     `json:"ok"`
	Request     string   `json:"request"`
	Daemon      string   `json:"daemon"`
	Targets     []string `json:"targets,omitempty"`
	Target      string   `json:"target,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
}

// reportOK prints the outcome of a control request.
func (a *app) reportOK(ans okAnswer, detail string) error {
	ans.OK = true
	if a.set.json {
		return a.printJSON(ans)
	}
	_, err := fmt.Fprintf(a.stdout, "%s: ok (%s)\n", ans.Request, detail)
	return err
}

// statusAnswer is a worker's status with the keys this jobctl reads.
type statusAnswer struct {
	rpc.WorkerStatus
	Workers json.RawMessage `json:"workers"` // set: it is a master
}

func (a *app) status(ctx context.Context, cmd *cobra.Command, _ []string) error {
	if a.set.master {
		return a.workers(ctx, cmd, nil)
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.call(ctx, false, func(ctx context.Context) error { return c.conn.Call(ctx, rpc.ReqStatus, nil, &raw) }); err != nil {
		return err
	}
	var st statusAnswer
	if err := json.Unmarshal(raw, &st); err != nil {
		return failed("%s: unexpected status answer: %v", c.p, err)
	}
	if st.Workers != nil {
		return usageErr("%s is a jobd-master, not a worker: use --master (jobctl --master workers)", c.p.addr)
	}
	if a.set.json {
		return a.printRawJSON(raw)
	}
	fmt.Fprintln(a.stdout, workerSummary(&st.WorkerStatus))
	if len(st.Targets) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no targets")
		return err
	}
	t := newTable(a.stdout, "TARGET", "SLOT", "PAUSED", "CONCURRENCY", "RUNNING", "QUEUED")
	for _, r := range targetRows(st.Targets) {
		t.row(r...)
	}
	return t.flush()
}

// workerSummary is the line above a worker's table: who it is and how it
// is. An original jobd reports only its memory and run-manual waits.
func workerSummary(st *rpc.WorkerStatus) string {
	var parts []string
	if st.Name != "" {
		parts = append(parts, "worker "+st.Name)
	}
	if st.InstanceID != 0 {
		parts = append(parts, "instance "+strconv.FormatInt(st.InstanceID, 10))
	}
	if st.Version != "" {
		parts = append(parts, "version "+st.Version)
	}
	if st.UptimeSeconds > 0 {
		parts = append(parts, "up "+fmtDuration(time.Duration(st.UptimeSeconds*float64(time.Second))))
	}
	if db := st.Database; db != nil {
		s := "database " + db.State
		if db.PendingOutcomes > 0 {
			s += fmt.Sprintf(" (%s kept until it is back)", plural(db.PendingOutcomes, "outcome"))
		}
		if db.State != "ok" && db.Error != "" {
			s += ": " + db.Error
		}
		parts = append(parts, s)
	}
	if st.MemoryUsage.RSS > 0 {
		parts = append(parts, "memory "+fmtBytes(st.MemoryUsage.RSS))
	}
	parts = append(parts, plural(st.JobPromisesCount, "run-manual job")+" waited for")
	return strings.Join(parts, ", ")
}

// targetRows are the table rows of a worker's targets: one per target (its
// own pool) and one per slot, sorted. A target's own pool shows what its
// slots do not hold. For an original jobd, which reports only length,
// running and queued are "-".
func targetRows(targets map[string]rpc.TargetStatus) [][]string {
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	sort.Strings(names)
	var rows [][]string
	for _, n := range names {
		ts := targets[n]
		running, queued := "-", "-"
		if ts.Running != nil && ts.Queued != nil {
			r, q := *ts.Running, *ts.Queued
			for _, s := range ts.Slots {
				r -= s.Running
				q -= s.Queued
			}
			running, queued = strconv.Itoa(r), strconv.Itoa(q)
		}
		paused := yesNo(ts.Paused)
		rows = append(rows, []string{n, "-", paused, strconv.Itoa(ts.Concurrency), running, queued})
		slots := make([]string, 0, len(ts.Slots))
		for s := range ts.Slots {
			slots = append(slots, s)
		}
		sort.Strings(slots)
		for _, s := range slots {
			ss := ts.Slots[s]
			rows = append(rows, []string{n, s, paused, strconv.Itoa(ss.Concurrency), strconv.Itoa(ss.Running), strconv.Itoa(ss.Queued)})
		}
	}
	return rows
}

func (a *app) poll(ctx context.Context, cmd *cobra.Command, targets []string) error {
	if err := checkTargets(targets); err != nil {
		return err
	}
	if a.set.master {
		if len(targets) == 0 {
			return usageErr("with --master, poll sends poke, which needs at least one TARGET")
		}
		return a.poke(ctx, cmd, targets)
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.call(ctx, false, func(ctx context.Context) error { return c.conn.Poll(ctx, nilIfEmpty(targets)) }); err != nil {
		return err
	}
	return a.reportOK(okAnswer{Request: rpc.ReqPoll, Daemon: c.p.kind, Targets: targets}, targetList(targets))
}

func (a *app) pauseContinue(req string) action {
	return func(ctx context.Context, _ *cobra.Command, targets []string) error {
		if err := checkTargets(targets); err != nil {
			return err
		}
		c, err := a.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		err = c.call(ctx, false, func(ctx context.Context) error {
			if req == rpc.ReqPause {
				return c.conn.Pause(ctx, nilIfEmpty(targets))
			}
			return c.conn.Continue(ctx, nilIfEmpty(targets))
		})
		if err != nil {
			return err
		}
		return a.reportOK(okAnswer{Request: req, Daemon: c.p.kind, Targets: targets}, targetList(targets))
	}
}

func (a *app) targetConcurrency(req string) action {
	return func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := a.workerOnly(cmd); err != nil {
			return err
		}
		target := args[0]
		if err := checkTargets([]string{target}); err != nil {
			return err
		}
		n, err := parseConcurrency(args[1])
		if err != nil {
			return err
		}
		c, err := a.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		err = c.call(ctx, false, func(ctx context.Context) error {
			if req == rpc.ReqAddTarget {
				return c.conn.AddTarget(ctx, target, n)
			}
			return c.conn.SetTargetConcurrency(ctx, target, n)
		})
		if err != nil {
			return err
		}
		return a.reportOK(okAnswer{Request: req, Daemon: c.p.kind, Target: target, Concurrency: n},
			fmt.Sprintf("target: %s, concurrency: %d", target, n))
	}
}

func (a *app) removeTarget(ctx context.Context, cmd *cobra.Command, args []string) error {
	if err := a.workerOnly(cmd); err != nil {
		return err
	}
	if err := checkTargets(args); err != nil {
		return err
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.call(ctx, false, func(ctx context.Context) error { return c.conn.RemoveTarget(ctx, args[0]) }); err != nil {
		return err
	}
	return a.reportOK(okAnswer{Request: rpc.ReqRemoveTarget, Daemon: c.p.kind, Target: args[0]}, "target: "+args[0])
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// completeTargets completes target names from the daemon's status; quietly
// nothing when it cannot be asked.
func (a *app) completeTargets(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	if a.flags.passwordPrompt {
		return nil, cobra.ShellCompDirectiveNoFileComp // no prompting while completing
	}
	s, err := a.resolve(cmd)
	if err != nil || s.master {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	a.set = s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := a.dial(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	st, err := c.conn.Status(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(st.Targets))
	for n := range st.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}
