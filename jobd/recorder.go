package jobd

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/jobd/jobd/store"
)

// recorder writes job starts and outcomes to the database. Whatever arrives
// while a write is in flight goes out together in the next one, and a write
// follows the end of the previous one by at least writeSpacing (unless
// batchTarget events wait): an idle worker writes each event at once, a busy
// one writes batches, one statement for many jobs. When the database is
// down, events wait in memory (and in the spool, when configured) and are
// written, fenced, once it is back; nothing is dropped.
type recorder struct {
	w    *Worker
	wake chan struct{}

	mu         sync.Mutex
	starts     []startReq
	finishes   []finishReq
	requeues   []requeueReq
	closing    bool
	closeBy    time.Time // give up retrying after this, once closing
	maxPending int
	full       bool // warned that maxPending was reached
}

type startReq struct {
	id   int64
	at   time.Time
	then func(applied bool)
}

type finishReq struct {
	out     store.Outcome
	then    func(applied bool)
	spooled bool // also on disk, in spool_dir
}

type requeueReq struct {
	rq   store.Requeue
	then func(applied bool)
}

// writeSpacing is the least time between the end of a write and the next while
// fewer than batchTarget events wait. At a thousand jobs a second it makes
// the batches about twice as large, and MariaDB's CPU per job about 13%
// smaller (docs/PROFILE.md); an event that finds the recorder idle (none
// written for writeSpacing) is written at once.
const (
	writeSpacing = 5 * time.Millisecond
	batchTarget  = 64
)

// spacing is how long to wait before writing pending events, since the
// previous write ended: nothing when idle for writeSpacing, when batchTarget
// events wait, or when closing.
func spacing(since time.Duration, pending int, closing bool) time.Duration {
	if closing || pending >= batchTarget || since >= writeSpacing {
		return 0
	}
	return writeSpacing - since
}

// maxBatch bounds one statement's rows.
const maxBatch = 500

func newRecorder(w *Worker) *recorder {
	return &recorder{w: w, wake: make(chan struct{}, 1), maxPending: w.config().MaxPendingOutcomes}
}

func (r *recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// start records that a job's process started (accepted → running).
func (r *recorder) start(id int64, at time.Time, then func(bool)) {
	r.mu.Lock()
	r.starts = append(r.starts, startReq{id: id, at: at, then: then})
	r.mu.Unlock()
	r.signal()
}

// finish records a job's outcome (running → done).
func (r *recorder) finish(out store.Outcome, then func(bool)) {
	r.mu.Lock()
	r.finishes = append(r.finishes, finishReq{out: out, then: then})
	r.noteFullLocked()
	r.mu.Unlock()
	r.signal()
}

// requeue puts a failed job back to waiting for another attempt.
func (r *recorder) requeue(rq store.Requeue, then func(bool)) {
	r.mu.Lock()
	r.requeues = append(r.requeues, requeueReq{rq: rq, then: then})
	r.noteFullLocked()
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) noteFullLocked() {
	if n := len(r.finishes) + len(r.requeues); n >= r.maxPending && !r.full {
		r.full = true
		r.w.log.Warn("outcomes waiting for the database reached max_pending_outcomes; starting no new job until they are written",
			"pending", n, "max_pending_outcomes", r.maxPending)
	}
}

// accepting reports whether new jobs may start: fewer than
// max_pending_outcomes outcomes wait to be written.
func (r *recorder) accepting() bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.finishes)+len(r.requeues) < r.maxPending
}

// pending counts outcomes not yet written.
func (r *recorder) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.finishes) + len(r.requeues)
}

// close makes run return once everything is written, or after a last
// deadline when the database stays away.
func (r *recorder) close() {
	r.mu.Lock()
	r.closing = true
	r.closeBy = time.Now().Add(max(r.w.config().ShutdownTimeout.D(), 10*time.Second))
	r.mu.Unlock()
	r.signal()
}

// run is the writer loop.
func (r *recorder) run() {
	failures := 0
	var lastWrite time.Time
	for {
		r.mu.Lock()
		for len(r.starts)+len(r.finishes)+len(r.requeues) == 0 && !r.closing {
			r.mu.Unlock()
			<-r.wake
			r.mu.Lock()
		}
		if len(r.starts)+len(r.finishes)+len(r.requeues) == 0 {
			r.mu.Unlock()
			return
		}
		if wait := spacing(time.Since(lastWrite), len(r.starts)+len(r.finishes)+len(r.requeues), r.closing); wait > 0 {
			r.mu.Unlock()
			time.Sleep(wait)
			r.mu.Lock()
		}
		starts := take(&r.starts)
		finishes := take(&r.finishes)
		requeues := take(&r.requeues)
		r.mu.Unlock()

		starts, finishes, requeues, err := r.flush(starts, finishes, requeues)
		lastWrite = time.Now()
		r.w.db.set(err)
		if err == nil {
			failures = 0
			r.afterWrite()
			continue
		}
		// Keep the outcomes on disk too, then put back what was not
		// written, ahead of what came meanwhile.
		r.w.spool.save(r.w.instance(), finishes)
		r.mu.Lock()
		r.starts = append(starts, r.starts...)
		r.finishes = append(finishes, r.finishes...)
		r.requeues = append(requeues, r.requeues...)
		giveUp := r.closing && time.Now().After(r.closeBy)
		r.mu.Unlock()
		if giveUp {
			r.abandon(err)
			return
		}
		failures++
		wait := backoff(failures, 100*time.Millisecond, 5*time.Second)
		r.w.log.Warn("database write failed; keeping the outcomes and retrying", "err", err, "pending", r.pending(), "in", wait)
		time.Sleep(wait)
	}
}

// take removes up to maxBatch items from the front of *q.
func take[T any](q *[]T) []T {
	n := min(len(*q), maxBatch)
	out := (*q)[:n:n]
	*q = (*q)[n:]
	if len(*q) == 0 {
		*q = nil
	}
	return out
}

// flush writes starts, then outcomes, then requeues, and returns what it
// could not write with the error.
func (r *recorder) flush(starts []startReq, finishes []finishReq, requeues []requeueReq) ([]startReq, []finishReq, []requeueReq, error) {
	st := r.w.store
	inst := r.w.instance()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Starts, one statement per second of start time (time_started has
	// one-second resolution), in order.
	sort.SliceStable(starts, func(a, b int) bool { return starts[a].at.Unix() < starts[b].at.Unix() })
	for len(starts) > 0 {
		n := 1
		for n < len(starts) && starts[n].at.Unix() == starts[0].at.Unix() {
			n++
		}
		ids := make([]int64, n)
		for i := range n {
			ids[i] = starts[i].id
		}
		applied, err := st.JobsStart(ctx, store.StartParams{InstanceID: inst, IDs: ids, Started: starts[0].at})
		if err != nil {
			return starts, finishes, requeues, err
		}
		for i := range n {
			if starts[i].then != nil {
				starts[i].then(applied[i])
			} else if !applied[i] {
				r.w.log.Warn("job start not recorded: the job is no longer held by this instance", "job", ids[i])
			}
		}
		starts = starts[n:]
	}

	if len(finishes) > 0 {
		outs := make([]store.Outcome, len(finishes))
		for i, f := range finishes {
			outs[i] = f.out
		}
		applied, err := st.JobsFinish(ctx, store.FinishParams{InstanceID: inst, Outcomes: outs})
		if err != nil {
			return nil, finishes, requeues, err
		}
		for i, f := range finishes {
			if !applied[i] {
				r.w.log.Warn("outcome not recorded: the job was recovered by another instance meanwhile", "job", f.out.ID)
			}
			if f.then != nil {
				f.then(applied[i])
			}
		}
		r.w.spool.remove(finishes)
	}

	if len(requeues) > 0 {
		rqs := make([]store.Requeue, len(requeues))
		for i, q := range requeues {
			rqs[i] = q.rq
		}
		applied, err := st.JobsRequeue(ctx, store.RequeueParams{InstanceID: inst, From: store.StatusRunning, Jobs: rqs})
		if err != nil {
			return nil, nil, requeues, err
		}
		for i, q := range requeues {
			if !applied[i] {
				r.w.log.Warn("retry not recorded: the job was recovered by another instance meanwhile", "job", q.rq.ID)
			}
			if q.then != nil {
				q.then(applied[i])
			}
		}
	}
	return nil, nil, nil, nil
}

// afterWrite lets jobs start again once the backlog is below the limit.
func (r *recorder) afterWrite() {
	r.mu.Lock()
	wasFull := r.full && len(r.finishes)+len(r.requeues) < r.maxPending
	if wasFull {
		r.full = false
	}
	r.mu.Unlock()
	if wasFull {
		r.w.log.Info("outcome backlog written; starting jobs again")
		r.w.mu.Lock()
		r.w.startReadyLocked()
		r.w.mu.Unlock()
		r.w.kickClaim()
	}
}

// abandon gives up on the database at shutdown: outcomes stay in the spool
// when there is one (the next start writes them), else they are logged.
func (r *recorder) abandon(err error) {
	r.mu.Lock()
	finishes := r.finishes
	r.mu.Unlock()
	if r.w.spool.enabled() {
		r.w.log.Error("database unreachable at shutdown; outcomes stay in the spool for the next start",
			"outcomes", len(finishes), "err", err)
		return
	}
	for _, f := range finishes {
		r.w.log.Error("database unreachable at shutdown; outcome NOT recorded (set spool_dir to keep such outcomes)",
			"job", f.out.ID, "result", f.out.Result, "code", intOrNil(f.out.ReturnCode), "signal", f.out.Signal, "err", err)
	}
}
