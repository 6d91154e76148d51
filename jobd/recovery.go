package jobd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/store"
)

// mayStart reports whether the instance has proved itself alive recently
// enough to start a job. After a freeze (SIGSTOP, a paused VM) or a long
// database outage another instance may have declared it lost and recovered
// its jobs; starting one of them again would run it twice. So nothing
// starts until a heartbeat has confirmed the instance is still alive.
func (w *Worker) mayStart() bool {
	if w.mayStartQuiet() {
		return true
	}
	select {
	case w.beatNow <- struct{}{}:
	default:
	}
	return false
}

// mayStartQuiet is mayStart without asking for a heartbeat.
func (w *Worker) mayStartQuiet() bool {
	return time.Since(time.Unix(0, w.lastBeat.Load())) < w.config().LostAfter.D()/2
}

// heartbeatLoop proves the instance alive every heartbeat_interval and, as
// any live instance may, recovers the jobs of instances that stopped
// proving it.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	cfg := w.config()
	t := time.NewTicker(cfg.HeartbeatInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.beatNow:
		}
		stale := !w.mayStartQuiet()
		w.mu.Lock()
		targets := w.targetNames()
		w.mu.Unlock()
		hctx, cancel := context.WithTimeout(ctx, cfg.HeartbeatInterval.D())
		err := w.store.InstanceHeartbeat(hctx, store.InstanceHeartbeatParams{ID: w.instance(), Targets: targets})
		cancel()
		w.db.set(err)
		switch {
		case errors.Is(err, store.ErrInstanceLost):
			w.declaredLost(ctx)
		case err != nil:
			w.log.Warn("heartbeat failed", "err", err)
		default:
			w.lastBeat.Store(time.Now().UnixNano())
			if stale {
				// Jobs and claims held back by mayStart may go now.
				w.mu.Lock()
				w.startReadyLocked()
				w.mu.Unlock()
				w.kickClaim()
			}
			w.recoverDead(ctx)
		}
	}
}

// recoverDead recovers the jobs of instances whose heartbeat is older than
// lost_after. It waits until this instance itself has seen the database
// healthy for lost_after, so that after an outage every instance has had
// the time to heartbeat again before anyone is judged.
func (w *Worker) recoverDead(ctx context.Context) {
	cfg := w.config()
	lostAfter := cfg.LostAfter.D()
	if since, ok := w.db.healthySince(); !ok || time.Since(since) < lostAfter {
		return
	}
	stale, err := w.store.InstancesStale(ctx, lostAfter, w.instance())
	if err != nil {
		w.log.Warn("looking for dead instances failed", "err", err)
		return
	}
	for _, in := range stale {
		if won, err := w.store.InstanceMarkLost(ctx, in.ID); err == nil && won {
			w.log.Warn("instance declared lost: no heartbeat", "instance", in.ID, "name", in.Name, "host", in.Host,
				"last_heartbeat", in.HeartbeatAt.Format(time.RFC3339), "lost_after", lostAfter)
		}
	}
	jobs, err := w.store.JobsHeldByDead(ctx, lostAfter, w.instance(), 1000)
	if err != nil {
		w.log.Warn("looking for jobs of dead instances failed", "err", err)
		return
	}
	if len(jobs) > 0 {
		w.recoverJobs(ctx, jobs, "its jobd instance stopped heartbeating")
	}
}

// recoverJobs settles jobs held by a dead instance: a job that never started
// goes back to waiting (or manual); a running one is failed with the reason
// in stderr, or put back to waiting when its target sets retry_lost and it
// has attempts left. Every write is fenced on the dead holder, so two
// recoverers never both apply, and the dead instance can no longer write.
func (w *Worker) recoverJobs(ctx context.Context, jobs []store.Job, why string) {
	cfg := w.config()
	type group struct {
		accepted []store.Requeue
		retry    []store.Requeue
		failed   []store.Outcome
	}
	by := map[int64]*group{}
	now := w.clock.Now()
	for _, j := range jobs {
		g := by[j.InstanceID]
		if g == nil {
			g = &group{}
			by[j.InstanceID] = g
		}
		switch j.Status {
		case store.StatusAccepted:
			g.accepted = append(g.accepted, store.Requeue{ID: j.ID, RunAt: j.RunAt})
		case store.StatusRunning:
			maxAttempts, retryLost := 1, false
			if tc, ok := cfg.Targets[j.Target]; ok {
				maxAttempts, retryLost = tc.MaxAttempts, tc.RetryLost
			}
			msg := fmt.Sprintf("jobd: job lost: %s (instance %d) while attempt %d was running; its outcome is unknown", why, j.InstanceID, j.Attempts)
			if retryLost && !j.Manual && j.Attempts < maxAttempts {
				g.retry = append(g.retry, store.Requeue{ID: j.ID, Attempt: j.Attempts, RunAt: 0,
					Output: &store.Outcome{Result: store.ResultFail, Stderr: []byte(msg + "; retrying")}})
			} else {
				g.failed = append(g.failed, store.Outcome{ID: j.ID, Attempt: j.Attempts, Result: store.ResultFail,
					Stderr: []byte(msg), Finished: now})
			}
		}
	}
	for inst, g := range by {
		requeued, retried, failed := 0, 0, 0
		if len(g.accepted) > 0 {
			ok, err := w.store.JobsRequeue(ctx, store.RequeueParams{InstanceID: inst, From: store.StatusAccepted, Jobs: g.accepted})
			requeued, err = count(ok, err)
			w.logRecoveryErr(err)
		}
		if len(g.retry) > 0 {
			ok, err := w.store.JobsRequeue(ctx, store.RequeueParams{InstanceID: inst, From: store.StatusRunning, Jobs: g.retry})
			retried, err = count(ok, err)
			w.logRecoveryErr(err)
		}
		if len(g.failed) > 0 {
			ok, err := w.store.JobsFinish(ctx, store.FinishParams{InstanceID: inst, Outcomes: g.failed, RecordedBy: w.instance()})
			failed, err = count(ok, err)
			w.logRecoveryErr(err)
		}
		if requeued+retried+failed > 0 {
			w.log.Warn("recovered the jobs of a dead instance", "instance", inst, "reason", why,
				"requeued", requeued, "retried", retried, "failed", failed)
			w.mu.Lock()
			w.pokeTargets(w.allTargets())
			w.mu.Unlock()
			w.kickClaim()
		}
	}
}

func (w *Worker) logRecoveryErr(err error) {
	if err != nil {
		w.log.Warn("recovery write failed; will retry at the next heartbeat", "err", err)
	}
}

func count(ok []bool, err error) (int, error) {
	n := 0
	for _, b := range ok {
		if b {
			n++
		}
	}
	return n, err
}

// startup runs once the store is open, before claiming: it writes the
// outcomes spooled by a previous run, then recovers at once the jobs of
// this jobd's previous incarnation (same name and host) if it is still
// marked alive, instead of waiting lost_after for someone to notice.
func (w *Worker) startup(ctx context.Context) {
	if n, err := w.spool.replay(ctx, w.store); err != nil {
		w.log.Error("could not write spooled outcomes; they stay in spool_dir for the next start", "err", err)
	} else if n > 0 {
		w.log.Info("wrote outcomes spooled during a database outage", "outcomes", n)
	}
	cfg := w.config()
	prev, err := w.store.InstancesPrevious(ctx, cfg.Name, w.host, w.instance())
	if err != nil {
		w.log.Warn("looking for a previous incarnation failed", "err", err)
		return
	}
	for _, in := range prev {
		if won, err := w.store.InstanceMarkLost(ctx, in.ID); err != nil || !won {
			continue
		}
		jobs, err := w.store.JobsHeldBy(ctx, in.ID)
		if err != nil {
			w.log.Warn("looking for the previous incarnation's jobs failed", "instance", in.ID, "err", err)
			continue
		}
		w.log.Warn("previous incarnation of this jobd did not stop cleanly; recovering its jobs", "instance", in.ID,
			"pid", in.PID, "jobs", len(jobs))
		w.recoverJobs(ctx, jobs, "jobd was restarted")
	}
}

// declaredLost handles finding out that another instance declared this one
// lost (it was frozen, or cut off from the database, for longer than
// lost_after): its jobs were recovered, so the processes still running are
// killed (their outcomes would not be accepted), the queued ones forgotten,
// and the worker registers anew.
func (w *Worker) declaredLost(ctx context.Context) {
	cfg := w.config()
	w.mu.Lock()
	var procs []*launch.Process
	for _, t := range w.targets {
		for _, p := range t.pools {
			for _, j := range p.queue {
				delete(w.jobs, j.ID)
				w.manualFailedLocked(j.ID, "this jobd was declared lost; the job was recovered by another instance")
			}
			p.queue = nil
			p.poke()
		}
	}
	for _, j := range w.jobs {
		if j.proc != nil {
			procs = append(procs, j.proc)
		}
	}
	targets := w.targetNames()
	w.mu.Unlock()
	w.log.Error("this instance was declared lost by another (frozen or cut off longer than lost_after); its jobs were recovered elsewhere. Killing what still runs and registering anew",
		"instance", w.instance(), "running", len(procs))
	for _, p := range procs {
		p.Stop(0)
	}
	id, err := w.store.InstanceRegister(ctx, store.InstanceRegisterParams{
		Name: cfg.Name, Host: w.host, PID: pid(), Version: w.version, Targets: targets,
	})
	if err != nil {
		w.log.Error("registering anew failed; will retry at the next heartbeat", "err", err)
		return
	}
	w.setInstanceID(id)
	w.lastBeat.Store(time.Now().UnixNano())
	w.log.Info("registered anew", "instance", id)
	w.kickClaim()
}

// finalizeInstance marks the instance stopped after a clean shutdown. With
// outcomes still unwritten (the database is down) it stays "alive", so that
// the next start of this jobd writes them from the spool before the jobs
// are recovered.
func (w *Worker) finalizeInstance() {
	if w.rec.pending() > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.store.InstanceStop(ctx, w.instance()); err != nil {
		w.log.Warn("could not mark the instance stopped", "err", err)
	}
}
