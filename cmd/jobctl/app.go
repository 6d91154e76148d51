package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/cmd/internal/daemon"
)

// app is one run of jobctl: its environment, flags and resolved settings.
type app struct {
	env
	flags      globalFlags
	configPath string // the jobctl config file looked at, for messages
	set        *settings
	jobs       jobsFlags
	noStatus   bool // workers --no-status
	started    bool // a command's own code ran: errors before are usage errors
	now        func() time.Time
	// pollEvery is how often --wait looks at the job's row.
	pollEvery time.Duration
}

func newApp(e env) *app {
	return &app{env: e, now: time.Now, pollEvery: 100 * time.Millisecond}
}

// execute parses args, runs the command and returns the exit code, having
// printed any error as one line on stderr.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var s silentExit
	if errors.As(err, &s) {
		return int(s)
	}
	code := exitCode(err)
	if !a.started {
		// Cobra's own errors (unknown command or flag, bad flag value,
		// wrong number of arguments, a required flag missing) are usage
		// errors: one line and where to look.
		code = exitUsage
		err = errors.New(cobraMessage(err))
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(a.stderr, "jobctl: %s (see %s --help)\n", oneLine(err.Error()), cmd.CommandPath())
		return code
	}
	fmt.Fprintf(a.stderr, "jobctl: %s\n", oneLine(err.Error()))
	return code
}

var (
	suggestionRE  = regexp.MustCompile(`(?s)\s*Did you mean this\?\s*(.*)$`)
	parseNumberRE = regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": (invalid syntax|value out of range)`)
	parseDurRE    = regexp.MustCompile(`time: (invalid|unknown unit .* in) duration .*$`)
)

// cobraMessage rewrites cobra's error texts into one line.
func cobraMessage(err error) string {
	msg := err.Error()
	if m := suggestionRE.FindStringSubmatch(msg); m != nil {
		msg = strings.TrimSpace(msg[:len(msg)-len(m[0])])
		sugg := strings.Fields(m[1])
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(sugg, " or "))
	}
	msg = strings.Replace(msg, ` for "jobctl"`, "", 1)
	msg = parseNumberRE.ReplaceAllString(msg, "not a number")
	msg = parseDurRE.ReplaceAllString(msg, "not a duration like 30s, 10m or 2h")
	return msg
}

// action is the body of a command, run with the settings resolved.
type action func(ctx context.Context, cmd *cobra.Command, args []string) error

// do wraps an action for cobra: from here on errors are the command's own;
// the settings are resolved and --timeout bounds the whole command.
func (a *app) do(fn action) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		s, err := a.resolve(cmd)
		if err != nil {
			return err
		}
		a.set = s
		ctx := cmd.Context()
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.timeout)
			defer cancel()
		}
		return fn(ctx, cmd, args)
	}
}

// stopped turns the end of ctx into the error to exit with: interrupted
// (Ctrl-C, exit 130) or timed out (exit 124), saying what was going on.
// It returns nil while ctx is live.
func (a *app) stopped(ctx context.Context, doing string) error {
	switch {
	case ctx.Err() == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &exitError{code: exitTimeout, err: fmt.Errorf("timed out after %s %s", a.set.timeout, doing)}
	default:
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted %s", doing)}
	}
}

const rootLong = `jobctl controls jobd workers and jobd-master, and inspects the jobs table.

Worker commands talk to a jobd (default 127.0.0.1:7080); with --master the
same commands, and workers and poke, talk to jobd-master (default port 7081).
The jobs commands talk to the database (--dsn, JOBD_MYSQL_DSN, dsn in
~/.jobctl.toml, or --jobd-config /etc/jobd.toml).

Settings come from flags, then the environment (JOBD_PASSWORD,
JOBD_MYSQL_DSN), then ~/.jobctl.toml (or --config FILE) with the flags' long
names as keys (host, port, master, password, dsn, table, jobd_config,
timeout), then the jobd config given with --jobd-config.

Exit codes: 0 ok; 1 the request failed; 2 usage error; 3 cannot connect or
wrong password; 124 timed out; 130 interrupted. jobs add --wait exits with
the job's own exit code (128+N when signal N killed it).`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "jobctl",
		Short:         "Control jobd workers and jobd-master, and inspect the jobs table",
		Long:          rootLong,
		Version:       daemon.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("jobctl {{.Version}}\n")
	a.flags.register(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddGroup(
		&cobra.Group{ID: "worker", Title: "Worker commands (with --master: the master's pause, continue, run-manual, signal):"},
		&cobra.Group{ID: "master", Title: "Master commands (imply --master):"},
		&cobra.Group{ID: "jobs", Title: "Database commands:"},
	)
	for _, c := range a.workerCommands() {
		c.GroupID = "worker"
		root.AddCommand(c)
	}
	for _, c := range a.masterCommands() {
		c.GroupID = "master"
		root.AddCommand(c)
	}
	jobs := a.jobsCommand()
	jobs.GroupID = "jobs"
	root.AddCommand(jobs)
	return root
}

// needArgs checks the number of arguments with a message naming them.
func needArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min && min == max:
			return fmt.Errorf("%s needs %s", cmd.Name(), names)
		case len(args) < min:
			return fmt.Errorf("%s needs at least %s", cmd.Name(), names)
		case max >= 0 && len(args) > max:
			return fmt.Errorf("%s takes %s, got %d arguments", cmd.Name(), names, len(args))
		}
		return nil
	}
}
