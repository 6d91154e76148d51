package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobd/jobd/rpc"
)

// impliesMaster marks commands that only jobd-master serves: they talk to
// it without --master.
const impliesMaster = "implies-master"

func (a *app) masterCommands() []*cobra.Command {
	workers := &cobra.Command{
		Use:         "workers",
		Short:       "List the workers registered with the master, their targets and status",
		Long:        "List the workers registered with jobd-master, their targets and, asked of each worker, their status.",
		Example:     "  jobctl workers\n  jobctl --host master1 workers --no-status",
		Args:        needArgs(0, 0, "no arguments"),
		Annotations: map[string]string{impliesMaster: "yes"},
		RunE:        a.do(a.workers),
	}
	workers.Flags().BoolVar(&a.noStatus, "no-status", false, "list the workers without asking each one for its status")
	return []*cobra.Command{
		workers,
		{
			Use:         "poke TARGET...",
			Short:       "Have the workers serving the targets claim waiting jobs now",
			Example:     "  jobctl poke mail reports",
			Args:        needArgs(1, -1, "one TARGET"),
			Annotations: map[string]string{impliesMaster: "yes"},
			RunE:        a.do(a.poke),
		},
	}
}

// masterStatus is the master's status with the keys this jobctl reads.
type masterStatus struct {
	rpc.MasterStatus
	RememberedPokes []string        `json:"rememberedPokes"`
	Targets         json.RawMessage `json:"targets"` // set: it is a worker
}

func (a *app) workers(ctx context.Context, _ *cobra.Command, _ []string) error {
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	args := rpc.MasterStatusArgs{PollWorkers: !a.noStatus}
	if err := c.call(ctx, false, func(ctx context.Context) error { return c.conn.Call(ctx, rpc.ReqStatus, args, &raw) }); err != nil {
		return err
	}
	var st masterStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return failed("%s: unexpected status answer: %v", c.p, err)
	}
	if st.Targets != nil && st.Workers == nil {
		return usageErr("%s is a jobd worker, not a jobd-master: drop --master, or give the master's --host and --port", c.p.addr)
	}
	if a.set.json {
		return a.printRawJSON(raw)
	}
	ws := st.Workers
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].Name != ws[j].Name {
			return ws[i].Name < ws[j].Name
		}
		return workerAddr(ws[i]) < workerAddr(ws[j])
	})
	if len(ws) == 0 {
		fmt.Fprintln(a.stdout, "no workers registered")
	} else if a.noStatus {
		t := newTable(a.stdout, "WORKER", "ADDRESS", "TARGETS")
		for _, w := range ws {
			t.row(dash(w.Name), workerAddr(w), dash(strings.Join(w.Targets, ", ")))
		}
		if err := t.flush(); err != nil {
			return err
		}
	} else {
		t := newTable(a.stdout, "WORKER", "ADDRESS", "TARGET", "SLOT", "PAUSED", "CONCURRENCY", "RUNNING", "QUEUED")
		var problems []string
		for _, w := range ws {
			name, addr := dash(w.Name), workerAddr(w)
			switch {
			case w.WorkerStatus != nil && len(w.WorkerStatus.Targets) > 0:
				for _, r := range targetRows(w.WorkerStatus.Targets) {
					t.row(append([]string{name, addr}, r...)...)
				}
			case w.WorkerStatus != nil:
				t.row(name, addr, "-", "-", "-", "-", "-", "-")
			default:
				for _, tg := range w.Targets {
					t.row(name, addr, tg, "?", "?", "?", "?", "?")
				}
				if len(w.Targets) == 0 {
					t.row(name, addr, "-", "?", "?", "?", "?", "?")
				}
				why := w.WorkerStatusError
				if why == "" {
					why = "no status"
				}
				problems = append(problems, fmt.Sprintf("worker %s at %s: %s", name, addr, why))
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintln(a.stdout, p)
		}
	}
	if len(st.RememberedPokes) > 0 {
		fmt.Fprintf(a.stdout, "pokes waiting for a worker to serve: %s\n", strings.Join(st.RememberedPokes, ", "))
	}
	return nil
}

func workerAddr(w rpc.WorkerInfo) string {
	if w.RemoteAddr == "" {
		return "-"
	}
	return net.JoinHostPort(w.RemoteAddr, strconv.Itoa(w.RemotePort))
}

func (a *app) poke(ctx context.Context, _ *cobra.Command, targets []string) error {
	if err := checkTargets(targets); err != nil {
		return err
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.call(ctx, false, func(ctx context.Context) error { return c.conn.Poke(ctx, targets) }); err != nil {
		return err
	}
	return a.reportOK(okAnswer{Request: rpc.ReqPoke, Daemon: c.p.kind, Targets: targets}, targetList(targets))
}
