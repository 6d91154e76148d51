package jobd

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jobd/jobd/store"
)

// claimTimeout bounds one round of claiming (a claim, its probes, the look
// for delayed jobs).
const claimTimeout = 30 * time.Second

// sweepEvery is how often, at most, pokes make a target look for its
// waiting jobs of unknown slots. A poke that comes sooner defers its sweep
// to sweepEvery after the last one: such a job is ignored within about
// sweepEvery of being poked, and a stream of pokes costs one sweep per
// sweepEvery, not one per poke. The poll_interval tick always sweeps.
const sweepEvery = time.Second

// shortClaimRetry is how soon a pool claims again after a claim came back
// short while eligible rows were left (held by another claimer then).
const shortClaimRetry = 20 * time.Millisecond

// kickClaim asks the claim loop to look for room and wanting pools.
func (w *Worker) kickClaim() {
	select {
	case w.claimKick <- struct{}{}:
	default:
	}
}

// pokeTargets marks every pool of the targets as wanting jobs, and asks for
// a sweep of their unknown-slot jobs: at the next claim, or, when one ran
// less than sweepEvery ago, once sweepEvery has passed (applications poke
// after every insert: sweeping each time would cost more than the claim).
// w.mu held.
func (w *Worker) pokeTargets(ts []*target) {
	for _, t := range ts {
		for _, p := range t.pools {
			p.poke()
		}
		if time.Since(t.lastSweep) >= sweepEvery {
			t.sweep = true
		} else {
			t.sweepLater = true
		}
	}
}

// nextSweep is when the earliest deferred sweep is due, or zero when none
// is.
func (w *Worker) nextSweep() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var at time.Time
	for _, t := range w.targets {
		if t.sweepLater && !t.removing {
			if due := t.lastSweep.Add(sweepEvery); at.IsZero() || due.Before(at) {
				at = due
			}
		}
	}
	return at
}

// dueSweeps turns the deferred sweeps whose time has come into sweeps at
// the next claim.
func (w *Worker) dueSweeps() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.targets {
		if t.sweepLater && time.Since(t.lastSweep) >= sweepEvery {
			t.sweepLater, t.sweep = false, true
		}
	}
}

// claimLoop claims jobs for pools that want them and have room: when kicked
// (a poll request, a job ending with more waiting, a continue, a reload), at
// every poll_interval, and when a delayed job comes due. One claim runs at a
// time; what frees up meanwhile is claimed by the next, in one batch.
func (w *Worker) claimLoop(ctx context.Context) {
	var (
		ticker   *time.Ticker
		tick     <-chan time.Time
		interval time.Duration
		due      = time.NewTimer(time.Hour)
		dueAt    time.Time
		failures int
	)
	due.Stop()
	defer due.Stop()
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		// poll_interval may change with a reload.
		if pi := w.config().PollInterval.D(); pi != interval {
			if ticker != nil {
				ticker.Stop()
				ticker, tick = nil, nil
			}
			if interval = pi; pi > 0 {
				ticker = time.NewTicker(pi)
				tick = ticker.C
			}
		}
		// The claim's statements get a context of their own: cancelling the
		// loop must not cut a claim short, or it could commit in the server
		// while jobd takes it for failed. The loop stops between claims.
		dbCtx, cancel := context.WithTimeout(context.Background(), claimTimeout)
		drained, retry, err := w.claimOnce(dbCtx)
		if err != nil {
			cancel()
			failures++
			wait := backoff(failures, 100*time.Millisecond, 5*time.Second)
			w.log.Warn("claiming failed; retrying", "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		failures = 0
		if len(drained) > 0 {
			if at, ok := w.nextDue(dbCtx, drained); ok && (dueAt.IsZero() || at.Before(dueAt)) {
				dueAt = at
				due.Reset(time.Until(at))
			}
		}
		cancel()
		var again, sweepDue <-chan time.Time
		if retry {
			again = time.After(shortClaimRetry)
		}
		if at := w.nextSweep(); !at.IsZero() {
			sweepDue = time.After(time.Until(at))
		}
		select {
		case <-ctx.Done():
			return
		case <-again:
		case <-sweepDue:
			w.dueSweeps()
		case <-w.claimKick:
		case <-tick:
			w.mu.Lock()
			for _, t := range w.allTargets() {
				t.sweep = true
			}
			w.pokeTargets(w.allTargets())
			w.mu.Unlock()
		case <-due.C:
			dueAt = time.Time{}
			w.mu.Lock()
			w.pokeTargets(w.allTargets())
			w.mu.Unlock()
		}
	}
}

// allTargets lists every target not being removed. w.mu held.
func (w *Worker) allTargets() []*target {
	out := make([]*target, 0, len(w.targets))
	for _, t := range w.targets {
		if !t.removing {
			out = append(out, t)
		}
	}
	return out
}

// claimOnce claims for every pool that wants jobs and has room, queues what
// it got and starts what may start. It returns the targets it found drained
// (a pool got less than it asked for), to look for delayed jobs.
func (w *Worker) claimOnce(ctx context.Context) (drained []string, retry bool, err error) {
	cfg := w.config()
	w.mu.Lock()
	// Not while another instance may have declared this one lost: what it
	// claimed would be recovered from under it.
	if w.draining || !w.rec.accepting() || !w.mayStart() {
		w.mu.Unlock()
		return nil, false, nil
	}
	var (
		buckets []store.Bucket
		pools   []*pool
		gens    []uint64
		sweep   []*target
	)
	for _, t := range w.targets {
		if t.removing {
			continue
		}
		if t.sweep {
			t.sweep, t.sweepLater = false, false
			t.lastSweep = time.Now()
			sweep = append(sweep, t)
		}
		if t.paused {
			continue
		}
		for _, p := range t.pools {
			if r := p.room(cfg.Prefetch); p.want && r > 0 {
				// Jobs that can start at once are claimed as running, and
				// their room reserved until the claim is back.
				start := 0
				if len(p.queue) == 0 {
					start = min(p.free(), r)
				}
				p.reserved += start
				buckets = append(buckets, store.Bucket{Target: t.name, Slot: p.slot, Limit: r, Start: start, After: p.cursor})
				pools = append(pools, p)
				gens = append(gens, p.gen)
			}
		}
	}
	w.mu.Unlock()

	for _, t := range sweep {
		w.sweepUnknownSlots(ctx, t)
	}
	if len(buckets) == 0 {
		return nil, false, nil
	}
	claimed, err := w.store.JobsClaim(ctx, store.ClaimParams{InstanceID: w.instance(), Buckets: buckets})
	w.db.set(err)
	w.mu.Lock()
	for i, p := range pools {
		p.reserved -= buckets[i].Start
	}
	if err != nil {
		w.mu.Unlock()
		return nil, false, err
	}

	var orphans, unstart []int64
	for _, sj := range claimed.Jobs {
		p := w.poolFor(sj)
		if p == nil || w.draining {
			// Its target was removed while the claim ran, or we are stopping.
			if sj.Status == store.StatusRunning {
				unstart = append(unstart, sj.ID)
			} else {
				orphans = append(orphans, sj.ID)
			}
			continue
		}
		j := &job{Job: sj, pool: p}
		w.jobs[sj.ID] = j
		if sj.Status == store.StatusRunning {
			p.running++
			w.launchLocked(j, true)
		} else {
			p.push(j)
		}
	}
	var short []int
	for i, p := range pools {
		if p.gen != gens[i] {
			continue // poked meanwhile: the next claim starts from the head
		}
		if p.cursor = claimed.Next[i]; p.cursor == nil {
			short = append(short, i)
		}
	}
	w.startReadyLocked()
	w.mu.Unlock()

	// A short claim means an empty queue only if nothing eligible is left:
	// rows another instance held locked were skipped, and it may have let
	// some of them go. Then try again shortly instead of giving up.
	seen := map[string]bool{}
	for _, i := range short {
		p, b := pools[i], buckets[i]
		left, err := w.store.JobsEligible(ctx, b.Target, b.Slot)
		w.mu.Lock()
		if p.gen == gens[i] {
			if err == nil && !left {
				p.want = false
			} else {
				retry = true
			}
		}
		w.mu.Unlock()
		if !seen[b.Target] {
			seen[b.Target] = true
			drained = append(drained, b.Target)
		}
	}

	if len(orphans) > 0 {
		if _, err := w.store.JobsRelease(ctx, w.instance(), orphans); err != nil {
			w.log.Warn("could not release jobs claimed for a removed target; recovery will", "jobs", orphans, "err", err)
		}
	}
	if len(unstart) > 0 {
		if _, err := w.store.JobsUnstart(ctx, w.instance(), unstart); err != nil {
			w.log.Warn("could not take back jobs claimed while stopping; recovery will", "jobs", unstart, "err", err)
		}
	}
	if n := len(claimed.Jobs); n > 0 {
		w.log.Debug("claimed", "jobs", n, "buckets", len(buckets))
	}
	return drained, retry, nil
}

// sweepUnknownSlots marks waiting jobs of t whose slot it does not have as
// ignored, so they do not wait forever.
func (w *Worker) sweepUnknownSlots(ctx context.Context, t *target) {
	w.mu.Lock()
	slots := t.slotNames()
	w.mu.Unlock()
	ids, err := w.store.JobsIgnoreUnknownSlots(ctx, store.IgnoreSlotsParams{Target: t.name, Slots: slots})
	if err != nil {
		w.log.Warn("could not check for jobs of unknown slots", "target", t.name, "err", err)
		return
	}
	if len(ids) > 0 {
		w.log.Warn("ignored jobs naming a slot the target does not have", "target", t.name, "jobs", ids, "slots", slots)
	}
}

// nextDue finds when the next delayed job of the targets comes due.
func (w *Worker) nextDue(ctx context.Context, targets []string) (time.Time, bool) {
	at, ok, err := w.store.JobsNextDue(ctx, targets)
	if err != nil {
		w.log.Warn("could not look for delayed jobs", "err", err)
		return time.Time{}, false
	}
	if !ok {
		return time.Time{}, false
	}
	// run_at has one-second resolution: wake just after the second begins.
	return time.Unix(at, 0).Add(5 * time.Millisecond), true
}

// backoff is exponential with full jitter, capped.
func backoff(failures int, base, limit time.Duration) time.Duration {
	d := base << min(failures-1, 20)
	if d > limit || d <= 0 {
		d = limit
	}
	return d/2 + rand.N(d/2+1)
}
