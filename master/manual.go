package master

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/jobd/jobd/rpc"
)

// manualAnswer is a run-manual answer: rpc.RunManualReply's shape, with the
// workers' entries passed through as they came.
type manualAnswer struct {
	Jobs   map[string]json.RawMessage `json:"jobs,omitempty"`
	Errors map[string]json.RawMessage `json:"errors,omitempty"`
}

func (a *manualAnswer) setError(id int64, msg string) {
	b, _ := json.Marshal(msg) // a string always encodes
	a.Errors[strconv.FormatInt(id, 10)] = b
}

// has reports whether the answer has an entry for id.
func (a *manualAnswer) has(id int64) bool {
	k := strconv.FormatInt(id, 10)
	_, ok := a.Jobs[k]
	_, bad := a.Errors[k]
	return ok || bad
}

// assignment is the jobs one worker is asked to run.
type assignment struct {
	w   *worker
	ids []int64
}

// Room given to a worker whose room for a target is not known: it is
// chosen only when no other worker serving the target answered.
const (
	roomPaused  = -1 << 20 // the target is paused there: run-manual would wait
	roomUnknown = -1 << 30 // its status failed: likely gone
)

// runManual runs manual jobs on the workers serving their targets: jobs are
// grouped by worker (for each job the worker with the most free room for its
// target), the groups are sent at once, and the answers are merged. Every
// job gets an entry: its result, the worker's error for it, or why it could
// not be run (no worker serves its target; its worker failed or went away).
// There is no time limit, as jobs may run for long; a worker that dies is
// dropped by its connection or its missed pongs, which ends its part.
func (m *Master) runManual(ctx context.Context, jobs []rpc.ManualJob) *manualAnswer {
	ans := &manualAnswer{Jobs: map[string]json.RawMessage{}, Errors: map[string]json.RawMessage{}}
	plan := m.planManual(ctx, jobs, ans)
	m.log.Info("run-manual", "jobs", len(jobs), "workers", len(plan), "unserved", len(ans.Errors))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range plan {
		wg.Go(func() {
			var reply manualAnswer
			err := a.w.conn.Call(ctx, rpc.ReqRunManual, rpc.RunManualArgs{IDs: a.ids}, &reply)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				m.log.Warn("run-manual failed on a worker", "worker", a.w.String(), "ids", a.ids, "err", err)
				for _, id := range a.ids {
					ans.setError(id, m.describe(a.w, err))
				}
				return
			}
			for k, v := range reply.Jobs {
				ans.Jobs[k] = v
			}
			for k, v := range reply.Errors {
				ans.Errors[k] = v
			}
			for _, id := range a.ids {
				if !ans.has(id) {
					ans.setError(id, fmt.Sprintf("worker %s answered without job %d", a.w, id))
				}
			}
		})
	}
	wg.Wait()
	return ans
}

// planManual assigns each job (once per id) to a worker serving its target,
// preferring the one with the most free room (concurrency - length in its
// status, less the jobs already given to it here), then the one given
// fewer jobs, then the earliest registered. Jobs of unserved targets get
// their error in ans.
func (m *Master) planManual(ctx context.Context, jobs []rpc.ManualJob, ans *manualAnswer) []*assignment {
	ws := m.reg.list()
	candidates := map[string][]*worker{}
	for _, j := range jobs {
		if _, done := candidates[j.Target]; done {
			continue
		}
		var cs []*worker
		for _, w := range ws {
			if w.serves[j.Target] {
				cs = append(cs, w)
			}
		}
		candidates[j.Target] = cs
	}
	room := m.manualRoom(ctx, candidates)

	byWorker := map[*worker]*assignment{}
	var plan []*assignment
	seen := map[int64]bool{}
	for _, j := range jobs {
		if seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		cs := candidates[j.Target]
		if len(cs) == 0 {
			ans.setError(j.ID, fmt.Sprintf("no worker serves target %q", j.Target))
			continue
		}
		best := cs[0]
		for _, w := range cs[1:] {
			rw, rb := room[roomKey{w, j.Target}], room[roomKey{best, j.Target}]
			if rw > rb || rw == rb && assigned(byWorker[w]) < assigned(byWorker[best]) {
				best = w
			}
		}
		room[roomKey{best, j.Target}]--
		a := byWorker[best]
		if a == nil {
			a = &assignment{w: best}
			byWorker[best] = a
			plan = append(plan, a)
		}
		a.ids = append(a.ids, j.ID)
	}
	return plan
}

type roomKey struct {
	w      *worker
	target string
}

func assigned(a *assignment) int {
	if a == nil {
		return 0
	}
	return len(a.ids)
}

// manualRoom learns the free room of the workers that share a target with
// another, asking them for their status at once (up to request_timeout).
func (m *Master) manualRoom(ctx context.Context, candidates map[string][]*worker) map[roomKey]int {
	room := map[roomKey]int{}
	var ask []routed
	asked := map[*worker]bool{}
	for _, cs := range candidates {
		if len(cs) < 2 {
			continue
		}
		for _, w := range cs {
			if !asked[w] {
				asked[w] = true
				ask = append(ask, routed{w: w})
			}
		}
	}
	statuses := make([]*rpc.WorkerStatus, len(ask))
	each(ctx, ask, func(ctx context.Context, i int, r routed) error {
		var st rpc.WorkerStatus
		if err := m.workerStatus(ctx, r.w, &st); err != nil {
			m.log.Warn("run-manual: no status from a worker; giving it jobs only if no other can take them",
				"worker", r.w.String(), "err", err)
			return err
		}
		statuses[i] = &st
		return nil
	})
	for i, r := range ask {
		for _, t := range r.w.targets {
			k := roomKey{r.w, t}
			ts, ok := targetStatusOf(statuses[i], t)
			switch {
			case !ok:
				room[k] = roomUnknown
			case ts.Paused:
				room[k] = roomPaused
			default:
				room[k] = ts.Concurrency - ts.Length
			}
		}
	}
	return room
}

// targetStatusOf returns a target's entry in a worker's status.
func targetStatusOf(st *rpc.WorkerStatus, target string) (rpc.TargetStatus, bool) {
	if st == nil {
		return rpc.TargetStatus{}, false
	}
	ts, ok := st.Targets[target]
	return ts, ok
}
