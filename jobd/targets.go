package jobd

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/store"
)

// target is one served queue with its own pool and its slots' pools.
type target struct {
	name       string
	cfg        TargetConfig // concurrency here may be changed at run time
	spec       launch.Spec
	paused     bool
	removing   bool // removed from the config by a reload; dropped when empty
	sweep      bool // look for its waiting jobs of unknown slots at the next claim
	sweepLater bool // and at lastSweep+sweepEvery (a poke came too soon)
	lastSweep  time.Time
	pools      map[string]*pool // "" is the target's own pool
}

// pool is a concurrency-limited group of jobs: a target's own, or a slot's.
type pool struct {
	target  *target
	slot    string
	limit   int
	running int
	// reserved is room a claim in flight will start jobs into at once.
	reserved int
	queue    []*job // accepted, waiting for room to start; run-manual jobs first
	// want: the table may hold eligible jobs for this pool. gen counts the
	// reasons to want, so a claim that raced with a poll does not clear it.
	want bool
	gen  uint64
	// cursor: where the last claim, which filled its room, stopped. The
	// next claim for freed room resumes there; any poke starts from the
	// head of the queue again (see store.Bucket.After).
	cursor *store.Cursor
}

func newTarget(name string, cfg TargetConfig, spec launch.Spec) *target {
	t := &target{name: name, cfg: cfg, spec: spec, pools: map[string]*pool{}, sweep: true}
	t.pools[""] = &pool{target: t, limit: cfg.Concurrency, want: true}
	for slot, n := range cfg.Slots {
		t.pools[slot] = &pool{target: t, slot: slot, limit: n, want: true}
	}
	return t
}

// slotNames are the configured slots, sorted.
func (t *target) slotNames() []string {
	var out []string
	for s := range t.pools {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// held counts the target's queued and running jobs (the original's
// "length").
func (t *target) held() (running, queued int) {
	for _, p := range t.pools {
		running += p.running
		queued += len(p.queue)
	}
	return running, queued
}

// room is how many more jobs the pool may claim.
func (p *pool) room(prefetch int) int {
	return p.limit + prefetch - p.running - p.reserved - len(p.queue)
}

// free is how many more jobs the pool may start now.
func (p *pool) free() int {
	return max(0, p.limit-p.running-p.reserved)
}

// poke marks the pool as wanting jobs, from the head of the queue.
func (p *pool) poke() {
	p.want = true
	p.gen++
	p.cursor = nil
}

func (p *pool) push(j *job) {
	if j.Manual {
		// Someone is waiting for it: ahead of background jobs.
		i := 0
		for i < len(p.queue) && p.queue[i].Manual {
			i++
		}
		p.queue = slices.Insert(p.queue, i, j)
		return
	}
	p.queue = append(p.queue, j)
}

// applyTargets reconciles the served targets with the config: new targets
// are added, changed ones updated in place (running jobs untouched), removed
// ones stop claiming and go once empty. Called with w.mu held.
func (w *Worker) applyTargets(cfg *Config) {
	for name, tc := range cfg.Targets {
		spec := cfg.LaunchSpec(tc)
		t, ok := w.targets[name]
		if !ok {
			w.targets[name] = newTarget(name, *tc, spec)
			continue
		}
		t.cfg, t.spec, t.removing = *tc, spec, false
		t.pools[""].limit = tc.Concurrency
		for slot, n := range tc.Slots {
			if p, ok := t.pools[slot]; ok {
				p.limit = n
			} else {
				t.pools[slot] = &pool{target: t, slot: slot, limit: n, want: true}
			}
		}
		for slot, p := range t.pools {
			if _, ok := tc.Slots[slot]; slot != "" && !ok && p.running == 0 && len(p.queue) == 0 {
				delete(t.pools, slot)
			}
		}
	}
	for name, t := range w.targets {
		if _, ok := cfg.Targets[name]; !ok {
			t.removing = true
		}
	}
	w.dropRemoved()
}

// dropRemoved forgets removed targets that hold no job any more.
func (w *Worker) dropRemoved() {
	for name, t := range w.targets {
		if r, q := t.held(); t.removing && r == 0 && q == 0 {
			delete(w.targets, name)
		}
	}
}

// targetNames lists the served targets (not those being removed), sorted.
func (w *Worker) targetNames() []string {
	out := make([]string, 0, len(w.targets))
	for name, t := range w.targets {
		if !t.removing {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// servedSlots maps each served target to its slots, for run-manual claims.
func (w *Worker) servedSlots() map[string][]string {
	out := map[string][]string{}
	for name, t := range w.targets {
		if !t.removing {
			out[name] = t.slotNames()
		}
	}
	return out
}

// resolveTargets turns a request's targets (nil: all) into served targets,
// or an error naming the first one not served here.
func (w *Worker) resolveTargets(names []string) ([]*target, error) {
	if names == nil {
		names = w.targetNames()
	}
	out := make([]*target, 0, len(names))
	for _, n := range names {
		t, ok := w.targets[n]
		if !ok || t.removing {
			return nil, fmt.Errorf("target %q is not served by this worker", n)
		}
		out = append(out, t)
	}
	return out, nil
}

// poolFor finds the pool for a claimed job.
func (w *Worker) poolFor(j store.Job) *pool {
	t, ok := w.targets[j.Target]
	if !ok {
		return nil
	}
	return t.pools[j.Slot]
}
