package jobd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// manualWaits is the one client waiting for a run-manual job's result.
type manualWaits struct {
	result chan rpc.JobResult // buffered: the result is delivered once
	failed chan string        // the job will not run after all, and why
}

// runManual claims manual jobs by id, runs them ahead of background jobs
// (within their pool's concurrency, and not while their target is paused),
// and waits until every one has finished.
func (w *Worker) runManual(ctx context.Context, ids []int64) (*rpc.RunManualReply, error) {
	reply := &rpc.RunManualReply{Jobs: map[string]rpc.JobResult{}, Errors: map[string]string{}}
	ids = dedupe(ids)

	w.mu.Lock()
	if w.draining {
		w.mu.Unlock()
		return nil, errors.New("jobd is shutting down")
	}
	var mine []int64
	waits := map[int64]*manualWaits{}
	for _, id := range ids {
		if _, busy := w.waiters[id]; busy {
			reply.Errors[key(id)] = fmt.Sprintf("job %d is already being waited for by another client", id)
			continue
		}
		mw := &manualWaits{result: make(chan rpc.JobResult, 1), failed: make(chan string, 1)}
		w.waiters[id] = mw
		waits[id] = mw
		mine = append(mine, id)
	}
	served := w.servedSlots()
	w.mu.Unlock()

	unwait := func(ids ...int64) {
		w.mu.Lock()
		for _, id := range ids {
			if w.waiters[id] == waits[id] {
				delete(w.waiters, id)
			}
		}
		w.mu.Unlock()
	}
	if len(mine) == 0 {
		return reply, nil
	}
	claims, err := w.store.JobsClaimManual(ctx, store.ManualClaimParams{InstanceID: w.instance(), IDs: mine, Targets: served})
	w.db.set(err)
	if err != nil {
		unwait(mine...)
		return nil, fmt.Errorf("database: %w", err)
	}
	var running []int64
	var orphans []int64
	w.mu.Lock()
	for _, c := range claims {
		if c.Err != nil {
			reply.Errors[key(c.ID)] = manualError(c)
			if w.waiters[c.ID] == waits[c.ID] {
				delete(w.waiters, c.ID)
			}
			continue
		}
		p := w.poolFor(*c.Job)
		if p == nil || w.draining {
			orphans = append(orphans, c.ID)
			reply.Errors[key(c.ID)] = fmt.Sprintf("target %q was removed while job %d was being claimed", c.Job.Target, c.ID)
			delete(w.waiters, c.ID)
			continue
		}
		j := &job{Job: *c.Job, pool: p}
		w.jobs[j.ID] = j
		p.push(j)
		w.startPoolLocked(p)
		running = append(running, c.ID)
	}
	w.mu.Unlock()
	if len(orphans) > 0 {
		_, _ = w.store.JobsRelease(context.Background(), w.instance(), orphans)
	}

	for _, id := range running {
		select {
		case res := <-waits[id].result:
			reply.Jobs[key(id)] = res
		case why := <-waits[id].failed:
			reply.Errors[key(id)] = why
		case <-ctx.Done():
			// The client went away or we are stopping: the jobs still run
			// and their outcomes are recorded; nobody waits any more.
			unwait(running...)
			return nil, ctx.Err()
		}
	}
	return reply, nil
}

// manualDone hands a finished job's result to its waiter. w.mu held.
func (w *Worker) manualDone(id int64, res rpc.JobResult) {
	if mw, ok := w.waiters[id]; ok {
		delete(w.waiters, id)
		mw.result <- res
	}
}

// manualFailed tells a waiter its job will not run.
func (w *Worker) manualFailed(id int64, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.manualFailedLocked(id, why)
}

// manualFailedLocked is manualFailed with w.mu held.
func (w *Worker) manualFailedLocked(id int64, why string) {
	if mw, ok := w.waiters[id]; ok {
		delete(w.waiters, id)
		mw.failed <- why
	}
}

func manualError(c store.ManualClaim) string {
	switch {
	case errors.Is(c.Err, store.ErrNotFound):
		return fmt.Sprintf("job %d not found", c.ID)
	case errors.Is(c.Err, store.ErrNotManual), errors.Is(c.Err, store.ErrNotServed), errors.Is(c.Err, store.ErrUnknownSlot):
		return c.Err.Error()
	default:
		return fmt.Sprintf("job %d: %v", c.ID, c.Err)
	}
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

func dedupe(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
