package jobd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// job is a job held by this worker: queued in its pool, or running.
type job struct {
	store.Job
	pool    *pool
	attempt int             // this run's attempt number, once started
	proc    *launch.Process // set while the process runs
}

// startReadyLocked starts queued jobs wherever a pool has room and its
// target is not paused. w.mu held.
func (w *Worker) startReadyLocked() {
	for _, t := range w.targets {
		for _, p := range t.pools {
			w.startPoolLocked(p)
		}
	}
}

// startPoolLocked starts queued jobs of one pool while it has room. w.mu held.
func (w *Worker) startPoolLocked(p *pool) {
	if w.draining || p.target.paused || len(p.queue) == 0 || !w.mayStart() {
		return
	}
	for p.free() > 0 && len(p.queue) > 0 {
		if !w.rec.accepting() {
			// Too many outcomes wait for the database: start nothing more
			// until they are written (the recorder kicks us then).
			return
		}
		j := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.running++
		w.launchLocked(j, false)
	}
}

// launchLocked starts the job's process in a goroutine of its own; the
// caller has counted it in p.running. claimed: the claim already marked the
// row running. w.mu held.
func (w *Worker) launchLocked(j *job, claimed bool) {
	j.attempt = j.Attempts + 1
	w.runners.Add(1)
	go w.runJob(j, j.pool.target.spec, claimed)
}

// runJob runs one job's process and hands its outcome on. claimed: the row
// was marked running by the claim, so there is no start to record.
func (w *Worker) runJob(j *job, spec launch.Spec, claimed bool) {
	defer w.runners.Done()
	w.mu.Lock()
	draining := w.draining
	w.mu.Unlock()
	if draining {
		// Shutdown began before this job was launched: give it back
		// rather than start something new.
		w.unlaunched(j, claimed)
		return
	}
	started := w.clock.Now()
	res, err := launch.Run(spec, launch.Job{ID: j.ID, Target: j.Target, Slot: j.Slot, Attempt: j.attempt}, func(proc *launch.Process) {
		w.mu.Lock()
		j.proc = proc
		stopNow := w.stopping
		w.mu.Unlock()
		if stopNow {
			// Launched after shutdown stopped the running jobs: stop it too.
			proc.Stop(w.config().Launcher.KillGrace.D())
		}
		w.log.Debug("job started", "job", j.ID, "target", j.Target, "slot", j.Slot, "attempt", j.attempt, "pid", proc.PID())
		if claimed {
			return
		}
		w.rec.start(j.ID, started, func(applied bool) {
			if !applied {
				// Someone else holds the row now (we were presumed dead and
				// the job was recovered): this run must not go on.
				w.log.Warn("job is no longer ours; killing its process", "job", j.ID)
				proc.Signal(syscall.SIGKILL)
			}
		})
	})
	if err != nil {
		w.log.Error("job could not start", "job", j.ID, "target", j.Target, "err", err)
		if !claimed {
			w.rec.start(j.ID, started, nil)
		}
		w.jobEnded(j, launch.Result{Stderr: []byte("jobd: " + err.Error()), Started: started, Ended: w.clock.Now()})
		return
	}
	w.jobEnded(j, res)
}

// unlaunched gives back a job that was never launched: its room, its
// run-manual waiter, and its row (accepted or claimed as running).
func (w *Worker) unlaunched(j *job, claimed bool) {
	w.mu.Lock()
	j.pool.running--
	delete(w.jobs, j.ID)
	w.noteJobEnded()
	w.manualFailedLocked(j.ID, "jobd is shutting down; the job was released before it started")
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if claimed {
		_, err = w.store.JobsUnstart(ctx, w.instance(), []int64{j.ID})
	} else {
		_, err = w.store.JobsRelease(ctx, w.instance(), []int64{j.ID})
	}
	if err != nil {
		w.log.Warn("could not give back a job not launched at shutdown; recovery will", "job", j.ID, "err", err)
	}
}

// jobEnded frees the job's room, answers run-manual waiters, decides
// between recording the outcome and retrying, and starts or claims what the
// room allows.
func (w *Worker) jobEnded(j *job, res launch.Result) {
	out := store.Outcome{
		ID:         j.ID,
		Attempt:    j.attempt,
		Result:     store.ResultFail,
		ReturnCode: res.ExitCode,
		Signal:     res.Signal,
		Stdout:     res.Stdout,
		Stderr:     res.Stderr,
		Finished:   w.clock.Now(),
	}
	if res.OK() {
		out.Result = store.ResultOK
	}
	w.mu.Lock()
	p := j.pool
	p.running--
	j.proc = nil
	delete(w.jobs, j.ID)
	w.noteJobEnded()
	tc := p.target.cfg
	retry := out.Result == store.ResultFail && !j.Manual && j.attempt < tc.MaxAttempts
	if p.want {
		w.kickClaim()
	}
	w.startPoolLocked(p)
	if p.target.removing {
		w.dropRemoved()
	}
	w.mu.Unlock()

	// Each job's outcome is in its row; the log notes failures, and
	// successes at debug level (a line per job costs a busy worker).
	level := w.log.Debug
	if out.Result == store.ResultFail {
		level = w.log.Warn
	}
	level("job finished", "job", j.ID, "target", j.Target, "result", out.Result, "code", intOrNil(out.ReturnCode),
		"signal", out.Signal, "attempt", j.attempt, "duration", res.Ended.Sub(res.Started).Round(time.Millisecond))

	if retry {
		delay := retryDelay(tc, j.attempt)
		out.Stderr = append(out.Stderr, fmt.Sprintf("\njobd: attempt %d of %d failed; retrying in %s", j.attempt, tc.MaxAttempts, delay.Round(time.Second))...)
		// run_at has one-second resolution: round up, never retry early.
		runAt := w.clock.Now().Add(delay + time.Second - time.Nanosecond).Unix()
		w.rec.requeue(store.Requeue{ID: j.ID, Attempt: j.attempt, RunAt: runAt, Output: &out}, func(applied bool) {
			if applied {
				// The retry is a delayed job like any other: look for it when due.
				w.mu.Lock()
				p.poke()
				w.mu.Unlock()
				w.kickClaim()
			}
		})
		return
	}
	// A run-manual client gets its answer once the row holds the outcome.
	result := jobResult(out)
	w.rec.finish(out, func(bool) {
		w.mu.Lock()
		w.manualDone(j.ID, result)
		w.mu.Unlock()
	})
}

// retryDelay is the backoff before attempt+1: exponential from
// retry_backoff, capped at retry_backoff_max, with ±20% jitter.
func retryDelay(tc TargetConfig, attempt int) time.Duration {
	d := tc.RetryBackoff.D() << min(attempt-1, 30)
	if d > tc.RetryBackoffMax.D() || d <= 0 {
		d = tc.RetryBackoffMax.D()
	}
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) * 2
	return d - d/5 + jitter
}

// jobResult is a run-manual answer entry for an outcome.
func jobResult(o store.Outcome) rpc.JobResult {
	r := rpc.JobResult{Result: string(o.Result), Code: o.ReturnCode, Stdout: string(o.Stdout), Stderr: string(o.Stderr)}
	if o.Signal != "" {
		sig := o.Signal
		r.Signal = &sig
	}
	return r
}

func intOrNil(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
