package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobd/jobd/rpc"
)

// jobdMemory is jobd's resident set around a drain of 10,000 jobs.
type jobdMemory struct {
	jobs    int
	idle    procMem // a second after it started, nothing to do
	during  int64   // the largest VmRSS seen while jobs were queued and running
	after   procMem // a second after the last job was done (HWM: the peak of its life)
	elapsed time.Duration
	repolls int // see waitAllDone
}

// memoryJobd measures one jobd (one target, concurrency 32, /bin/true):
// idle, while `jobs` jobs drain (VmRSS sampled every 50ms), and after.
func (e *env) memoryJobd(ctx context.Context, jobs int) (jobdMemory, error) {
	m := jobdMemory{jobs: jobs}
	db, err := e.newDB(ctx, "mem")
	if err != nil {
		return m, err
	}
	defer db.close(e)
	p, err := e.startJobd(jobdSpec{name: "jobd-mem", dsn: db.dsn, targets: []string{"mem"}, concurrency: 32,
		launcher: "/bin/true {id}", pollInterval: "0"})
	if err != nil {
		return m, err
	}
	defer e.stop(p)
	if err := sleep(ctx, time.Second); err != nil {
		return m, err
	}
	if m.idle, err = readMem(p.pid()); err != nil {
		return m, err
	}
	if _, err := db.insertWaiting(ctx, jobs, []string{"mem"}, 1); err != nil {
		return m, err
	}
	conns, err := dialAll(ctx, []*proc{p})
	if err != nil {
		return m, err
	}
	defer conns[0].Close()
	var peak atomic.Int64
	stop := watchRSS(p.pid(), 50*time.Millisecond, &peak)
	start := time.Now()
	err = conns[0].Poll(ctx, []string{"mem"})
	if err == nil {
		var w watch
		w, err = waitAllDone(ctx, db, start, drainTimeout(jobs), func() error { return conns[0].Poll(ctx, []string{"mem"}) })
		m.elapsed, m.repolls = w.end.Sub(start), w.repolls
	}
	stop()
	if err != nil {
		return m, err
	}
	m.during = peak.Load()
	if err := sleep(ctx, time.Second); err != nil {
		return m, err
	}
	m.after, err = readMem(p.pid())
	return m, err
}

// watchRSS samples a process's VmRSS every interval into peak (the
// largest) until the returned stop is called.
func watchRSS(pid int, interval time.Duration, peak *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := readMem(pid); err == nil && m.RSS > peak.Load() {
				peak.Store(m.RSS)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// masterMemory is jobd-master's resident set with many workers.
type masterMemory struct {
	workers int
	idle    procMem       // a second after it started, no worker
	loaded  procMem       // with every worker registered, after one poke to all
	fanout  time.Duration // poke → the last worker polled
}

// memoryMaster registers `workers` fake workers with a jobd-master, from
// the harness (one rpc.Dial and register-worker each, serving the 4 targets
// a0-a3 and answering every request with nothing), then pokes a target all
// of them serve and times until each was polled.
func (e *env) memoryMaster(ctx context.Context, workers int) (masterMemory, error) {
	m := masterMemory{workers: workers}
	p, err := e.startMaster("jobd-master-mem", "500ms")
	if err != nil {
		return m, err
	}
	defer e.stop(p)
	if err := sleep(ctx, time.Second); err != nil {
		return m, err
	}
	if m.idle, err = readMem(p.pid()); err != nil {
		return m, err
	}
	var polled atomic.Int64
	allPolled := make(chan struct{})
	handler := rpc.HandlerFunc(func(ctx context.Context, c *rpc.Conn, req *rpc.Request) (any, error) {
		if req.Type == rpc.ReqPoll && polled.Add(1) == int64(workers) {
			close(allPolled)
		}
		return rpc.OK, nil
	})
	conns := make([]*rpc.Conn, 0, workers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range workers {
		c, err := rpc.Dial(ctx, p.addr, rpc.DialOptions{Handler: handler})
		if err != nil {
			return m, fmt.Errorf("fake worker %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.RegisterWorker(ctx, fmt.Sprintf("fake-%d", i), names("a", 4)); err != nil {
			return m, fmt.Errorf("fake worker %d: %w", i, err)
		}
	}
	mc, err := rpc.Dial(ctx, p.addr, rpc.DialOptions{})
	if err != nil {
		return m, err
	}
	defer mc.Close()
	if err := waitRegistered(ctx, mc, workers); err != nil {
		return m, err
	}
	start := time.Now()
	if err := mc.Poke(ctx, []string{"a1"}); err != nil {
		return m, err
	}
	select {
	case <-allPolled:
		m.fanout = time.Since(start)
	case <-time.After(30 * time.Second):
		return m, fmt.Errorf("%d of %d workers polled 30s after a poke", polled.Load(), workers)
	}
	m.loaded, err = readMem(p.pid())
	return m, err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
