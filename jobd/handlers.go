package jobd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/rpc"
)

// handlers serves the requests of PROTOCOL.md's jobd table, on jobd's own
// port and on the connection to the master alike.
func (w *Worker) handlers() *rpc.Mux {
	m := rpc.NewMux()
	m.Handle(rpc.ReqPoll, w.handlePoll)
	m.Handle(rpc.ReqPause, w.handlePause)
	m.Handle(rpc.ReqContinue, w.handleContinue)
	m.Handle(rpc.ReqStatus, w.handleStatus)
	m.Handle(rpc.ReqRunManual, w.handleRunManual)
	m.Handle(rpc.ReqSendSignal, w.handleSendSignal)
	m.Handle(rpc.ReqAddTarget, w.handleAddTarget)
	m.Handle(rpc.ReqRemoveTarget, w.handleRemoveTarget)
	m.Handle(rpc.ReqSetTargetConcurrency, w.handleSetConcurrency)
	return m
}

// targetsOf decodes a targets argument and resolves it. w.mu held.
func (w *Worker) targetsOf(req *rpc.Request) ([]*target, error) {
	var args rpc.TargetsArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	return w.resolveTargets(args.Targets)
}

func (w *Worker) handlePoll(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	w.mu.Lock()
	ts, err := w.targetsOf(req)
	if err == nil {
		w.pokeTargets(ts)
	}
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	w.kickClaim()
	return rpc.OK, nil
}

func (w *Worker) handlePause(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts, err := w.targetsOf(req)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		t.paused = true
	}
	w.log.Info("paused", "targets", names(ts))
	return rpc.OK, nil
}

func (w *Worker) handleContinue(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	w.mu.Lock()
	ts, err := w.targetsOf(req)
	if err == nil {
		for _, t := range ts {
			t.paused = false
		}
		w.pokeTargets(ts)
		w.startReadyLocked()
	}
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	w.log.Info("continued", "targets", names(ts))
	w.kickClaim()
	return rpc.OK, nil
}

func (w *Worker) handleStatus(_ context.Context, _ *rpc.Conn, _ *rpc.Request) (any, error) {
	return w.Status(), nil
}

func (w *Worker) handleRunManual(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.RunManualArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	return w.runManual(ctx, args.IDs)
}

func (w *Worker) handleSendSignal(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.SendSignalArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	reply := rpc.SendSignalReply{}
	for id, sig := range args.IDs() {
		w.mu.Lock()
		var proc *launch.Process
		if j, ok := w.jobs[id]; ok {
			proc = j.proc
		}
		w.mu.Unlock()
		delivered := proc != nil && proc.Signal(syscall.Signal(sig))
		reply[strconv.FormatInt(id, 10)] = delivered
		w.log.Info("send-signal", "job", id, "signal", sig, "delivered", delivered)
	}
	return reply, nil
}

func (w *Worker) handleAddTarget(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.TargetConcurrencyArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	if !validTargetName(args.Target) {
		return nil, errors.New("target: a target name must be 1-255 characters, without control characters")
	}
	cfg := w.config()
	w.mu.Lock()
	if t, ok := w.targets[args.Target]; ok && !t.removing {
		w.mu.Unlock()
		return nil, fmt.Errorf("target %q is already served by this worker", args.Target)
	}
	tc := TargetConfig{Concurrency: args.Concurrency}
	tc.fillDefaults()
	if cfg.Launcher.Command == "" {
		w.mu.Unlock()
		return nil, fmt.Errorf("cannot add target %q: no launcher.command in the config to run its jobs", args.Target)
	}
	if t, ok := w.targets[args.Target]; ok {
		// Being removed after a reload, still draining: serve it again.
		t.removing = false
		t.cfg.Concurrency = args.Concurrency
		t.pools[""].limit = args.Concurrency
	} else {
		w.targets[args.Target] = newTarget(args.Target, tc, cfg.LaunchSpec(&tc))
	}
	w.pokeTargets([]*target{w.targets[args.Target]})
	w.mu.Unlock()
	w.log.Info("target added", "target", args.Target, "concurrency", args.Concurrency)
	w.kickClaim()
	w.targetsChanged()
	return rpc.OK, nil
}

func (w *Worker) handleRemoveTarget(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.RemoveTargetArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	w.mu.Lock()
	t, ok := w.targets[args.Target]
	if !ok || t.removing {
		w.mu.Unlock()
		return nil, fmt.Errorf("target %q is not served by this worker", args.Target)
	}
	if running, queued := t.held(); running+queued > 0 {
		w.mu.Unlock()
		return nil, fmt.Errorf("target %q still has %d running and %d queued jobs; pause it and wait for them to finish", args.Target, running, queued)
	}
	delete(w.targets, args.Target)
	w.mu.Unlock()
	w.log.Info("target removed", "target", args.Target)
	w.targetsChanged()
	return rpc.OK, nil
}

func (w *Worker) handleSetConcurrency(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	var args rpc.TargetConcurrencyArgs
	if err := req.Decode(&args); err != nil {
		return nil, err
	}
	w.mu.Lock()
	ts, err := w.resolveTargets([]string{args.Target})
	if err != nil {
		w.mu.Unlock()
		return nil, err
	}
	t := ts[0]
	t.cfg.Concurrency = args.Concurrency
	p := t.pools[""]
	p.limit = args.Concurrency
	p.poke()
	w.startPoolLocked(p)
	w.mu.Unlock()
	w.log.Info("concurrency set", "target", args.Target, "concurrency", args.Concurrency)
	w.kickClaim()
	return rpc.OK, nil
}

func names(ts []*target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}
