package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// run-manual and signal, on a worker by ID or through the master by
// ID:TARGET.

func (a *app) runManual(ctx context.Context, _ *cobra.Command, args []string) error {
	refs := make([]jobRef, len(args))
	for i, s := range args {
		r, err := a.parseRef(s)
		if err != nil {
			return err
		}
		refs[i] = r
	}
	if a.set.master {
		if err := a.fillTargets(ctx, refs); err != nil {
			return err
		}
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := a.callRunManual(ctx, c, refs)
	if err != nil {
		return err
	}
	return a.reportRunManual(refs, raw)
}

// callRunManual runs jobs through a worker's or the master's run-manual
// and returns the raw answer.
func (a *app) callRunManual(ctx context.Context, c *client, refs []jobRef) (json.RawMessage, error) {
	var raw json.RawMessage
	var args any
	if a.set.master {
		jobs := make([]rpc.ManualJob, len(refs))
		for i, r := range refs {
			jobs[i] = rpc.ManualJob{ID: r.id, Target: r.target}
		}
		args = rpc.MasterRunManualArgs{Jobs: jobs}
	} else {
		ids := make([]int64, len(refs))
		for i, r := range refs {
			ids[i] = r.id
		}
		args = rpc.RunManualArgs{IDs: ids}
	}
	err := c.call(ctx, true, func(ctx context.Context) error { return c.conn.Call(ctx, rpc.ReqRunManual, args, &raw) })
	if err != nil {
		if stop := a.stopped(ctx, "waiting for run-manual (the jobs go on)"); stop != nil {
			return nil, stop
		}
		return nil, err
	}
	return raw, nil
}

// reportRunManual prints the outcome of each job, in the order asked.
func (a *app) reportRunManual(refs []jobRef, raw json.RawMessage) error {
	var reply rpc.RunManualReply
	if err := json.Unmarshal(raw, &reply); err != nil {
		return failed("unexpected run-manual answer: %v", err)
	}
	bad := 0
	seen := map[int64]bool{}
	for _, r := range refs {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		key := strconv.FormatInt(r.id, 10)
		if res, ok := reply.Jobs[key]; ok {
			if res.Result != "ok" {
				bad++
			}
			if !a.set.json {
				sig := ""
				if res.Signal != nil {
					sig = *res.Signal
				}
				fmt.Fprintf(a.stdout, "job %d: %s\n", r.id, describeOutcome(res.Result, res.Code, sig))
				printOutput(a.stdout, "stdout", res.Stdout)
				printOutput(a.stdout, "stderr", res.Stderr)
			}
			continue
		}
		bad++
		why, ok := reply.Errors[key]
		if !ok {
			why = "no answer for this job"
		}
		if !a.set.json {
			fmt.Fprintf(a.stdout, "job %d: not run: %s\n", r.id, why)
		}
	}
	if a.set.json {
		if err := a.printRawJSON(raw); err != nil {
			return err
		}
	}
	if bad > 0 {
		return failed("%d of %s did not succeed", bad, plural(len(seen), "job"))
	}
	return nil
}

// printOutput prints a job's output under a heading, indented; nothing when
// it is empty.
func printOutput(w interface{ Write([]byte) (int, error) }, name, text string) {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return
	}
	if !strings.Contains(text, "\n") {
		fmt.Fprintf(w, "  %s: %s\n", name, text)
		return
	}
	fmt.Fprintf(w, "  %s:\n", name)
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// signalAnswer is the JSON of signal.
type signalAnswer struct {
	ID        int64  `json:"id"`
	Target    string `json:"target,omitempty"`
	Signal    string `json:"signal"`
	Number    int    `json:"number"`
	Delivered bool   `json:"delivered"`
}

func (a *app) signal(ctx context.Context, _ *cobra.Command, args []string) error {
	ref, err := a.parseRef(args[0])
	if err != nil {
		return err
	}
	sig, err := parseSignal(args[1])
	if err != nil {
		return err
	}
	refs := []jobRef{ref}
	if a.set.master {
		if err := a.fillTargets(ctx, refs); err != nil {
			return err
		}
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var reply rpc.SendSignalReply
	err = c.call(ctx, false, func(ctx context.Context) (err error) {
		if a.set.master {
			reply, err = c.conn.MasterSendSignal(ctx, []rpc.SignalJob{{ID: ref.id, Signal: int(sig), Target: refs[0].target}})
		} else {
			reply, err = c.conn.SendSignal(ctx, map[int64]int{ref.id: int(sig)})
		}
		return err
	})
	if err != nil {
		return err
	}
	name := launch.SignalName(sig)
	ans := signalAnswer{ID: ref.id, Target: refs[0].target, Signal: name, Number: int(sig),
		Delivered: reply[strconv.FormatInt(ref.id, 10)]}
	if a.set.json {
		if err := a.printJSON(ans); err != nil {
			return err
		}
	} else if ans.Delivered {
		fmt.Fprintf(a.stdout, "job %d: %s delivered\n", ref.id, name)
	}
	if !ans.Delivered {
		where := "on " + c.p.String()
		if a.set.master {
			where = fmt.Sprintf("on any worker serving %q", refs[0].target)
		}
		return failed("job %d: %s not delivered: the job is not running %s", ref.id, name, where)
	}
	return nil
}

// parseRef reads a job argument: ID for a worker, ID or ID:TARGET for the
// master.
func (a *app) parseRef(s string) (jobRef, error) {
	if !a.set.master {
		if _, _, ok := strings.Cut(s, ":"); ok {
			return jobRef{}, usageErr("job %q: a worker takes job IDs; ID:TARGET is for --master", s)
		}
		id, err := parseID(s)
		return jobRef{id: id}, err
	}
	return parseJobRef(s)
}

// fillTargets reads the target of jobs named without one from the
// database, for the master's run-manual and send-signal.
func (a *app) fillTargets(ctx context.Context, refs []jobRef) error {
	var missing []int64
	for _, r := range refs {
		if r.target == "" {
			missing = append(missing, r.id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if a.set.dsn == "" {
		return usageErr("with --master, name each job as ID:TARGET (job %d has no target), or give --dsn so jobctl can read it", missing[0])
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, r := range refs {
		if r.target != "" {
			continue
		}
		j, err := st.JobGet(ctx, r.id)
		if errors.Is(err, store.ErrNotFound) {
			return failed("job %d not found", r.id)
		}
		if err != nil {
			return a.dbErr(ctx, err, fmt.Sprintf("reading job %d", r.id))
		}
		refs[i].target = j.Target
	}
	return nil
}
