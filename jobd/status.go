package jobd

import (
	"errors"
	"sync"
	"time"

	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// dbState is the database's health as the last operation saw it.
type dbState struct {
	mu    sync.Mutex
	down  bool
	err   string
	since time.Time
}

// set records the result of a database operation. Only unavailability
// errors count as the database being down.
func (d *dbState) set(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	down := err != nil && errors.Is(err, store.ErrUnavailable)
	if down != d.down || d.since.IsZero() {
		d.since = time.Now()
	}
	d.down = down
	if err != nil {
		d.err = err.Error()
	} else {
		d.err = ""
	}
}

// healthySince returns since when the database has been reachable, or
// false when it is down.
func (d *dbState) healthySince() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.since, !d.down
}

func (d *dbState) status() (state, errText string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return "down", d.err
	}
	return "ok", d.err
}

// Status is the answer to the status request: the original keys (targets
// with paused, concurrency and length; jobPromisesCount; memoryUsage) and
// jobd's additions.
func (w *Worker) Status() *rpc.WorkerStatus {
	cfg := w.config()
	w.mu.Lock()
	st := &rpc.WorkerStatus{
		Targets:          make(map[string]rpc.TargetStatus, len(w.targets)),
		JobPromisesCount: len(w.waiters),
		Name:             cfg.Name,
		InstanceID:       w.instance(),
		Version:          w.version,
		UptimeSeconds:    w.clock.Now().Sub(w.started).Seconds(),
	}
	for name, t := range w.targets {
		running, queued := t.held()
		ts := rpc.TargetStatus{
			Paused:      t.paused,
			Concurrency: t.pools[""].limit,
			Length:      running + queued,
			Running:     &running,
			Queued:      &queued,
		}
		for _, slot := range t.slotNames() {
			p := t.pools[slot]
			if ts.Slots == nil {
				ts.Slots = map[string]rpc.SlotStatus{}
			}
			ts.Slots[slot] = rpc.SlotStatus{Concurrency: p.limit, Running: p.running, Queued: len(p.queue)}
		}
		st.Targets[name] = ts
	}
	w.mu.Unlock()
	state, errText := w.db.status()
	pending := 0
	if w.rec != nil {
		pending = w.rec.pending()
	}
	st.Database = &rpc.DatabaseStatus{State: state, Error: errText, PendingOutcomes: pending}
	st.MemoryUsage = rpc.ReadMemoryUsage()
	return st
}
