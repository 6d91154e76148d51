package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/store"
)

// jobsFlags are the flags of the jobs subcommands.
type jobsFlags struct {
	// list
	statuses []string
	targets  []string
	since    string
	limit    int
	// add
	target   string
	slot     string
	priority int
	delay    time.Duration
	manual   bool
	set      []string
	wait     bool
	// cancel
	reason string
	// retry: manual
}

func (a *app) jobsCommand() *cobra.Command {
	f := &a.jobs
	jobs := &cobra.Command{
		Use:   "jobs",
		Short: "Inspect, add, cancel and retry jobs in the jobs table",
		Long: "Inspect, add, cancel and retry jobs in the jobs table. The database comes from --dsn,\n" +
			envDSN + ", dsn in ~/.jobctl.toml, or the jobd config given with --jobd-config.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return errors.New(msg)
			}
			return nil
		},
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Example: "  jobctl jobs list --status running,waiting\n" +
			"  jobctl jobs list --target mail --since 2h --limit 20\n" +
			"  jobctl jobs list --status done --since 2024-05-01 --json",
		Args: needArgs(0, 0, "no arguments (filters are flags)"),
		RunE: a.do(a.jobsList),
	}
	list.Flags().StringSliceVar(&f.statuses, "status", nil, "only jobs in these statuses (waiting, manual, accepted, running, done, ignored); repeat or separate with commas")
	list.Flags().StringSliceVar(&f.targets, "target", nil, "only jobs of these targets; repeat or separate with commas")
	list.Flags().StringVar(&f.since, "since", "", "only jobs created since: a duration back from now (30m, 2h, 3d, 1w) or a date (2024-05-01, \"2024-05-01 14:00\")")
	list.Flags().IntVar(&f.limit, "limit", 50, "at most this many jobs")

	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show every column of a job, its whole output included",
		Example: "  jobctl jobs show 12\n  jobctl jobs show 12 --json | jq -r .stdout",
		Args:    needArgs(1, 1, "a job ID"),
		RunE:    a.do(a.jobsShow),
	}

	add := &cobra.Command{
		Use:   "add --target TARGET",
		Short: "Insert a job, print its id and poke the master (or worker); --wait for its outcome",
		Long: `Insert one job and print its id. It pokes the master when one is configured
(--master, master = true in ~/.jobctl.toml, or the [master] of --jobd-config), else
the worker named with --host/--port (or --jobd-config); else it only inserts, and a
worker claims the job at its next poll.

With --wait, jobctl waits until the job has finished, prints its stdout and stderr
on its own stdout and stderr, and exits with the job's exit code (128+N when signal
N killed it; 1 when it was ignored or could not start). A --manual job is run
through run-manual, on the master or the worker. Ctrl-C stops waiting; the job
goes on.`,
		Example: "  jobctl jobs add --target mail --set job_name=welcome --set job_data='{\"user\":7}'\n" +
			"  jobctl jobs add --target reports --priority 10 --delay 10m\n" +
			"  jobctl jobs add --target mail --manual --wait",
		Args: needArgs(0, 0, "no arguments (the job is given with flags)"),
		RunE: a.do(a.jobsAdd),
	}
	add.Flags().StringVar(&f.target, "target", "", "the job's target (required)")
	add.Flags().StringVar(&f.slot, "slot", "", "the slot of the target to run in")
	add.Flags().IntVar(&f.priority, "priority", 0, "higher runs first")
	add.Flags().DurationVar(&f.delay, "delay", 0, "run no earlier than this long from now (10m, 2h)")
	add.Flags().BoolVar(&f.manual, "manual", false, "insert as manual: run only by run-manual")
	add.Flags().StringArrayVar(&f.set, "set", nil, "set an application column: COLUMN=VALUE (repeatable)")
	add.Flags().BoolVar(&f.wait, "wait", false, "wait for the job, print its output and exit with its exit code")
	_ = add.MarkFlagRequired("target")

	cancel := &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel waiting or manual jobs (they become ignored, with the reason)",
		Long: "Cancel jobs that have not started: waiting or manual jobs become ignored, with the reason\n" +
			"in stderr. A running job is refused: signal it instead (jobctl signal ID TERM).\n" +
			"Exits 1 when any job could not be cancelled.",
		Example: "  jobctl jobs cancel 12 13 --reason 'wrong recipient list'",
		Args:    needArgs(1, -1, "one job ID"),
		RunE:    a.do(a.jobsCancel),
	}
	cancel.Flags().StringVar(&f.reason, "reason", "", "why, kept in the job's stderr")

	retry := &cobra.Command{
		Use:   "retry ID...",
		Short: "Put finished (done or ignored) jobs back to waiting, as new",
		Long: "Put done or ignored jobs back to waiting (or manual, with --manual), as if new: result, exit\n" +
			"code, signal, output and times are cleared, attempts start again at 0; target, slot,\n" +
			"priority, creation time and the application's columns are kept. Pokes like jobs add.\n" +
			"Exits 1 when any job could not be retried.",
		Example: "  jobctl jobs retry 12 13",
		Args:    needArgs(1, -1, "one job ID"),
		RunE:    a.do(a.jobsRetry),
	}
	retry.Flags().BoolVar(&f.manual, "manual", false, "back to manual instead of waiting")

	jobs.AddCommand(list, show, add, cancel, retry)
	return jobs
}

// openStore connects to the jobs table.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	if a.set.dsn == "" {
		return nil, usageErr("no database: give --dsn, set %s, put dsn in ~/%s, or give --jobd-config /etc/jobd.toml", envDSN, configName)
	}
	if _, err := store.ParseDSN(a.set.dsn); err != nil {
		return nil, usageErr("%s: %v", a.set.dsnSource, err)
	}
	st, err := store.Open(ctx, a.set.dsn, store.Options{Table: a.set.table, MaxOpenConns: 2})
	if err != nil {
		return nil, a.dbErr(ctx, err, "")
	}
	return st, nil
}

// dbErr turns a database error into the error to exit with.
func (a *app) dbErr(ctx context.Context, err error, doing string) error {
	if stop := a.stopped(ctx, doing); stop != nil {
		return stop
	}
	if doing != "" {
		err = fmt.Errorf("%s: %w", doing, err)
	}
	if store.IsConnectError(err) {
		return &exitError{code: exitConnect, err: err}
	}
	return &exitError{code: exitFailed, err: err}
}

// jobJSON is a job in jobs list --json (jobs show --json has every column).
type jobJSON struct {
	ID           int64   `json:"id"`
	Target       string  `json:"target"`
	Slot         string  `json:"slot"`
	Status       string  `json:"status"`
	Priority     int     `json:"priority"`
	RunAt        int64   `json:"run_at"`
	Attempts     int     `json:"attempts"`
	InstanceID   int64   `json:"instance_id"`
	Manual       bool    `json:"manual"`
	TimeCreated  int64   `json:"time_created"`
	TimeStarted  int64   `json:"time_started"`
	TimeFinished int64   `json:"time_finished"`
	Result       *string `json:"result"`
	ReturnCode   *int    `json:"return_code"`
	Sig          *string `json:"sig"`
}

func toJobJSON(j store.Job) jobJSON {
	out := jobJSON{ID: j.ID, Target: j.Target, Slot: j.Slot, Status: string(j.Status), Priority: j.Priority,
		RunAt: j.RunAt, Attempts: j.Attempts, InstanceID: j.InstanceID, Manual: j.Manual,
		TimeCreated: j.TimeCreated, TimeStarted: j.TimeStarted, TimeFinished: j.TimeFinished, ReturnCode: j.ReturnCode}
	if j.Result != "" {
		r := string(j.Result)
		out.Result = &r
	}
	if j.Sig != "" {
		out.Sig = &j.Sig
	}
	return out
}

func (a *app) jobsList(ctx context.Context, _ *cobra.Command, _ []string) error {
	f := &a.jobs
	p := store.JobsListParams{Limit: f.limit}
	var err error
	if p.Statuses, err = parseStatuses(f.statuses); err != nil {
		return err
	}
	p.Targets = f.targets
	if err := checkTargets(p.Targets); err != nil {
		return err
	}
	if f.since != "" {
		t, err := parseSince(f.since, a.now())
		if err != nil {
			return err
		}
		p.Since = max(t.Unix(), 1)
	}
	if f.limit < 1 {
		return usageErr("--limit %d: must be at least 1", f.limit)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	jobs, err := st.JobsList(ctx, p)
	if err != nil {
		return a.dbErr(ctx, err, "listing jobs")
	}
	if a.set.json {
		out := make([]jobJSON, len(jobs))
		for i, j := range jobs {
			out[i] = toJobJSON(j)
		}
		return a.printJSON(out)
	}
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no jobs")
		return err
	}
	now := a.now().Unix()
	t := newTable(a.stdout, "ID", "TARGET", "SLOT", "STATUS", "RESULT", "PRIORITY", "ATTEMPTS", "CREATED", "STARTED", "FINISHED")
	for _, j := range jobs {
		status := string(j.Status)
		if j.Status == store.StatusWaiting && j.RunAt > now {
			status += " until " + fmtUnix(j.RunAt)
		}
		t.row(fmt.Sprint(j.ID), j.Target, dash(j.Slot), status, resultCell(j), fmt.Sprint(j.Priority), fmt.Sprint(j.Attempts),
			fmtUnix(j.TimeCreated), fmtUnix(j.TimeStarted), fmtUnix(j.TimeFinished))
	}
	return t.flush()
}

// resultCell shows a finished job's result: ok, fail (3), fail (SIGTERM).
func resultCell(j store.Job) string {
	switch {
	case j.Result == "":
		return "-"
	case j.ReturnCode != nil && *j.ReturnCode != 0:
		return fmt.Sprintf("%s (%d)", j.Result, *j.ReturnCode)
	case j.Sig != "":
		return fmt.Sprintf("%s (%s)", j.Result, j.Sig)
	}
	return string(j.Result)
}

// timeColumns are shown with their date as well.
var timeColumns = map[string]bool{"time_created": true, "time_started": true, "time_finished": true, "run_at": true}

func (a *app) jobsShow(ctx context.Context, _ *cobra.Command, args []string) error {
	id, err := parseID(args[0])
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	cols, err := st.JobRow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return failed("job %d not found", id)
	}
	if err != nil {
		return a.dbErr(ctx, err, "")
	}
	if a.set.json {
		return a.printRow(cols)
	}
	width := 0
	for _, c := range cols {
		width = max(width, len(c.Name))
	}
	indent := strings.Repeat(" ", width+2)
	var b strings.Builder
	for _, c := range cols {
		v := showValue(c)
		lines := strings.Split(strings.TrimSuffix(v, "\n"), "\n")
		fmt.Fprintf(&b, "%-*s  %s\n", width, c.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "%s%s\n", indent, l)
		}
	}
	_, err = fmt.Fprint(a.stdout, b.String())
	return err
}

// showValue shows one column's value to people: NULL, "" for an empty
// string, dates beside unix times, hex for binary data.
func showValue(c store.Column) string {
	switch v := c.Value.(type) {
	case nil:
		return "NULL"
	case string:
		if v == "" {
			return `""`
		}
		return v
	case []byte:
		return fmt.Sprintf("0x%x", v)
	case int64:
		if timeColumns[c.Name] && v > 0 {
			return fmt.Sprintf("%d (%s)", v, fmtUnix(v))
		}
		return fmt.Sprint(v)
	case uint64:
		if timeColumns[c.Name] && v > 0 {
			return fmt.Sprintf("%d (%s)", v, fmtUnix(int64(v)))
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprint(c.Value)
}

// printRow prints a row as a JSON object with its columns in table order.
func (a *app) printRow(cols []store.Column) error {
	var b strings.Builder
	b.WriteString("{\n")
	for i, c := range cols {
		k, _ := json.Marshal(c.Name)
		v, err := marshalNoEscape(c.Value)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s: %s", k, v)
		if i < len(cols)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	_, err := fmt.Fprint(a.stdout, b.String())
	return err
}

func marshalNoEscape(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// changeJSON is one job in the JSON of jobs cancel and retry.
type changeJSON struct {
	ID      int64  `json:"id"`
	Applied bool   `json:"applied"`
	Status  string `json:"status,omitempty"` // before the change
	Error   string `json:"error,omitempty"`
}

func (a *app) jobsCancel(ctx context.Context, _ *cobra.Command, args []string) error {
	ids, err := parseIDs(args)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	reason := "jobctl: cancelled by " + a.user()
	if r := strings.TrimSpace(a.jobs.reason); r != "" {
		reason += ": " + r
	}
	res, err := st.JobsCancel(ctx, store.JobsCancelParams{IDs: ids, Reason: reason})
	if err != nil {
		return a.dbErr(ctx, err, "cancelling")
	}
	return a.reportChanges(res, "cancelled", func(c store.JobChange) string {
		hint := ""
		if c.Status == store.StatusRunning || c.Status == store.StatusAccepted {
			hint = fmt.Sprintf(" (to stop it: jobctl signal %d TERM)", c.ID)
		}
		return fmt.Sprintf("job %d is %s; only waiting or manual jobs can be cancelled%s", c.ID, c.Status, hint)
	})
}

func (a *app) jobsRetry(ctx context.Context, _ *cobra.Command, args []string) error {
	ids, err := parseIDs(args)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.JobsRetry(ctx, store.JobsRetryParams{IDs: ids, Manual: a.jobs.manual})
	if err != nil {
		return a.dbErr(ctx, err, "retrying")
	}
	to := "waiting"
	if a.jobs.manual {
		to = "manual"
	}
	var targets []string
	first := int64(0)
	for _, c := range res {
		if c.Err == nil && !a.jobs.manual {
			if first == 0 {
				first = c.ID
			}
			if !slices.Contains(targets, c.Target) {
				targets = append(targets, c.Target)
			}
		}
	}
	err = a.reportChanges(res, to+" again", func(c store.JobChange) string {
		return fmt.Sprintf("job %d is %s; only done or ignored jobs can be retried", c.ID, c.Status)
	})
	if len(targets) > 0 {
		a.pokeFor(ctx, first, targets)
	}
	return err
}

// reportChanges prints what cancel or retry did, one line per job; the
// refusals go to stderr and make the exit code 1.
func (a *app) reportChanges(res []store.JobChange, did string, refusal func(store.JobChange) string) error {
	bad := 0
	out := make([]changeJSON, len(res))
	for i, c := range res {
		out[i] = changeJSON{ID: c.ID, Applied: c.Err == nil, Status: string(c.Status)}
		switch {
		case c.Err == nil:
			if !a.set.json {
				fmt.Fprintf(a.stdout, "job %d: %s (was %s)\n", c.ID, did, c.Status)
			}
			continue
		case errors.Is(c.Err, store.ErrNotFound):
			out[i].Error = fmt.Sprintf("job %d not found", c.ID)
		default:
			out[i].Error = refusal(c)
		}
		bad++
		fmt.Fprintf(a.stderr, "jobctl: %s\n", out[i].Error)
	}
	if a.set.json {
		if err := a.printJSON(out); err != nil {
			return err
		}
	}
	if bad > 0 {
		return silentExit(exitFailed)
	}
	return nil
}

// user names who ran jobctl, for the reason of a cancel.
func (a *app) user() string {
	for _, k := range []string{"USER", "LOGNAME"} {
		if u := a.getenv(k); u != "" {
			return u
		}
	}
	return "unknown user"
}
