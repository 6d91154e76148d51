package master

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jobd/jobd/rpc"
)

// each calls fn for every routed worker at once, waits for all, and
// returns their errors in the order of rs.
func each(ctx context.Context, rs []routed, fn func(ctx context.Context, i int, r routed) error) []error {
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { errs[i] = fn(ctx, i, r) })
	}
	wg.Wait()
	return errs
}

// pokeBurst sends one poll to each worker serving any of targets, naming
// only the targets it serves; targets no worker serves are remembered.
func (m *Master) pokeBurst(targets []string) {
	rs, remembered := m.reg.route(targets)
	m.log.Debug("poke burst", "targets", targets, "workers", len(rs))
	if len(remembered) > 0 {
		m.log.Info("no worker serves the poked targets; remembering the poke for the first that registers", "targets", remembered)
	}
	for _, r := range rs {
		m.sendPoll(r.w, r.targets)
	}
}

// sendPoll sends w a poll for targets without waiting for the answer.
func (m *Master) sendPoll(w *worker, targets []string) {
	m.background(func(ctx context.Context) {
		ctx, cancel := m.callTimeout(ctx)
		defer cancel()
		if err := w.conn.Call(ctx, rpc.ReqPoll, rpc.TargetsArgs{Targets: targets}, nil); err != nil {
			m.log.Warn("poll failed", "worker", w.String(), "targets", targets, "err", err)
		}
	})
}

// pauseContinue forwards pause or continue to the workers serving targets
// (all workers when nil), each with only the targets it serves, and waits
// for their answers up to request_timeout. It fails, naming them, when some
// worker did not take it.
func (m *Master) pauseContinue(ctx context.Context, typ string, targets []string) error {
	rs := m.reg.serving(targets)
	errs := each(ctx, rs, func(ctx context.Context, _ int, r routed) error {
		ctx, cancel := m.callTimeout(ctx)
		defer cancel()
		return r.w.conn.Call(ctx, typ, rpc.TargetsArgs{Targets: r.targets}, nil)
	})
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, m.describe(rs[i].w, err))
		}
	}
	var which any = targets
	if targets == nil {
		which = "all"
	}
	m.log.Info(typ, "targets", which, "workers", len(rs), "failed", len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("%s reached %d of %d workers; %s", typ, len(rs)-len(failed), len(rs), strings.Join(failed, "; "))
	}
	return nil
}
