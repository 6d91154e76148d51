package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// jobs add: insert, poke, and with --wait follow the job to its end.

// addAnswer is the JSON of jobs add.
type addAnswer struct {
	ID     int64  `json:"id"`
	Poked  string `json:"poked,omitempty"`
	Status string `json:"status,omitempty"`
	// With --wait: the outcome.
	Result     *string `json:"result,omitempty"`
	ReturnCode *int    `json:"return_code,omitempty"`
	Sig        *string `json:"sig,omitempty"`
	Stdout     *string `json:"stdout,omitempty"`
	Stderr     *string `json:"stderr,omitempty"`
	Error      string  `json:"error,omitempty"`
}

func (a *app) jobsAdd(ctx context.Context, _ *cobra.Command, _ []string) error {
	f := &a.jobs
	if err := checkTargets([]string{f.target}); err != nil {
		return err
	}
	cols, err := parseSet(f.set)
	if err != nil {
		return err
	}
	if f.delay < 0 {
		return usageErr("--delay %s: must not be negative", f.delay)
	}
	if f.manual && f.delay > 0 {
		return usageErr("--delay has no effect on a --manual job: run-manual runs it when asked")
	}
	nj := store.NewJob{Target: f.target, Slot: f.slot, Priority: f.priority, Manual: f.manual, Columns: cols}
	if f.delay > 0 {
		nj.RunAt = a.now().Add(f.delay).Unix()
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	// A manual job to wait for is run by run-manual: connect first, so a
	// job nobody can run is not inserted.
	var runner *client
	if f.manual && f.wait {
		if runner, err = a.connect(ctx, a.runManualPeer()); err != nil {
			return err
		}
		defer runner.Close()
	}
	ids, err := st.JobsInsert(ctx, []store.NewJob{nj})
	if err != nil {
		return a.dbErr(ctx, err, "adding the job")
	}
	id := ids[0]
	ans := addAnswer{ID: id}
	if !f.manual {
		ans.Poked = a.pokeFor(ctx, id, []string{f.target})
	}
	if !f.wait {
		if a.set.json {
			return a.printJSON(ans)
		}
		_, err := fmt.Fprintln(a.stdout, id)
		return err
	}
	if f.manual {
		return a.waitManual(ctx, runner, id, f.target, ans)
	}
	return a.waitBackground(ctx, st, id, ans)
}

// runManualPeer is the daemon that runs a manual job for jobs add --wait:
// the master if one is configured, else the worker.
func (a *app) runManualPeer() peer {
	if !a.set.master && a.set.jobdMaster != "" {
		return peer{kind: "jobd-master", addr: a.set.jobdMaster, password: a.set.jobdMasterPassword}
	}
	return a.peer()
}

// pokeTarget is the daemon jobs add and retry poke, if any: the master if
// one is configured, else a named worker.
func (a *app) pokeTarget() (peer, bool) {
	switch {
	case a.set.master:
		return a.peer(), true
	case a.set.jobdMaster != "":
		return peer{kind: "jobd-master", addr: a.set.jobdMaster, password: a.set.jobdMasterPassword}, true
	case a.set.daemonNamed:
		return a.peer(), true
	}
	return peer{}, false
}

// pokeFor tells the master (or worker) that jobs of targets wait, and
// returns whom it told. A failure is a warning: the jobs are in the table
// and a worker claims them at its next poll anyway.
func (a *app) pokeFor(ctx context.Context, id int64, targets []string) string {
	p, ok := a.pokeTarget()
	if !ok {
		fmt.Fprintf(a.stderr, "jobctl: job %d added; no master or worker is configured to poke, so a worker claims it at its next poll\n", id)
		return ""
	}
	c, err := a.connect(ctx, p)
	if err == nil {
		defer c.Close()
		err = c.call(ctx, false, func(ctx context.Context) error {
			if p.kind == "jobd-master" {
				return c.conn.Poke(ctx, targets)
			}
			return c.conn.Poll(ctx, targets)
		})
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "jobctl: warning: job %d added, but poking %s failed (%s); a worker claims it at its next poll\n", id, p, oneLine(err.Error()))
		return ""
	}
	return p.String()
}

// waitBackground waits until job id has finished, looking at its row, then
// prints its outcome and exits with its exit code.
func (a *app) waitBackground(ctx context.Context, st *store.Store, id int64, ans addAnswer) error {
	tick := time.NewTicker(a.pollEvery)
	defer tick.Stop()
	// One wording whether Ctrl-C or --timeout comes between reads or cuts
	// one short.
	doing := fmt.Sprintf("waiting for job %d; it goes on (jobctl jobs show %d)", id, id)
	for {
		j, err := st.JobGet(ctx, id)
		if err != nil {
			return a.dbErr(ctx, err, doing)
		}
		if j.Status == store.StatusDone || j.Status == store.StatusIgnored {
			return a.reportFinished(j, ans)
		}
		select {
		case <-ctx.Done():
			return a.stopped(ctx, doing)
		case <-tick.C:
		}
	}
}

// reportFinished prints a finished job's output (stdout to stdout, stderr
// to stderr) and returns its exit code as the error to exit with.
func (a *app) reportFinished(j store.Job, ans addAnswer) error {
	code := exitCodeOf(string(j.Result), j.ReturnCode, j.Sig)
	ignored := j.Status == store.StatusIgnored
	if ignored {
		code = exitFailed
	}
	if a.set.json {
		ans.Status = string(j.Status)
		if j.Result != "" {
			r := string(j.Result)
			ans.Result = &r
		}
		ans.ReturnCode = j.ReturnCode
		if j.Sig != "" {
			ans.Sig = &j.Sig
		}
		ans.Stdout, ans.Stderr = &j.Stdout, &j.Stderr
		if err := a.printJSON(ans); err != nil {
			return err
		}
		return exitWith(code)
	}
	if ignored {
		return failed("job %d was ignored: %s", j.ID, strings.TrimSpace(j.Stderr))
	}
	fmt.Fprint(a.stdout, j.Stdout)
	fmt.Fprint(a.stderr, j.Stderr)
	return exitWith(code)
}

// waitManual runs a manual job through run-manual and reports it like a
// background one.
func (a *app) waitManual(ctx context.Context, c *client, id int64, target string, ans addAnswer) error {
	// The master needs each job's target; a worker takes ids.
	saved := a.set.master
	a.set.master = c.p.kind == "jobd-master"
	raw, err := a.callRunManual(ctx, c, []jobRef{{id: id, target: target}})
	a.set.master = saved
	if err != nil {
		if ee := (*exitError)(nil); errors.As(err, &ee) && ee.code == exitInterrupted {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted waiting for job %d; it goes on (jobctl jobs show %d)", id, id)}
		}
		return err
	}
	var reply rpc.RunManualReply
	if err := json.Unmarshal(raw, &reply); err != nil {
		return failed("unexpected run-manual answer: %v", err)
	}
	key := fmt.Sprint(id)
	res, ok := reply.Jobs[key]
	if !ok {
		why := reply.Errors[key]
		if why == "" {
			why = "no answer for the job"
		}
		if a.set.json {
			ans.Error = why
			ans.Status = string(store.StatusManual)
			if err := a.printJSON(ans); err != nil {
				return err
			}
			return exitWith(exitFailed)
		}
		return failed("job %d did not run: %s", id, why)
	}
	sig := ""
	if res.Signal != nil {
		sig = *res.Signal
	}
	return a.reportFinished(store.Job{ID: id, Status: store.StatusDone, Result: store.Result(res.Result), ReturnCode: res.Code,
		Sig: sig, Stdout: res.Stdout, Stderr: res.Stderr}, ans)
}

// exitWith ends the command with code and no message.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return silentExit(code)
}
