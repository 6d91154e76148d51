package main

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// spawnResult is one run of the raw spawn rate.
type spawnResult struct {
	rate          float64       // processes per second
	parent, child time.Duration // CPU per process: the harness's, the child's
}

// spawnRate measures the ceiling for everything else: how many /bin/true
// processes per second Go can start and reap on this machine, with
// `workers` goroutines each running exec.Command("/bin/true", args...).Run()
// in a loop for d. env is added to the harness's environment.
func spawnRate(ctx context.Context, workers int, d time.Duration, env []string, args ...string) (spawnResult, error) {
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	self0, children0, err := cpuTime(os.Getpid())
	if err != nil {
		return spawnResult{}, err
	}
	var environ []string // nil: the harness's own
	if env != nil {
		environ = append(os.Environ(), env...)
	}
	start := time.Now()
	stop := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				cmd := exec.Command("/bin/true", args...)
				cmd.Env = environ
				if err := cmd.Run(); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return spawnResult{}, first
	}
	self1, children1, err := cpuTime(os.Getpid())
	if err != nil {
		return spawnResult{}, err
	}
	count := time.Duration(max(n.Load(), 1))
	return spawnResult{
		rate:   float64(n.Load()) / elapsed.Seconds(),
		parent: (self1 - self0) / count,
		child:  (children1 - children0) / count,
	}, ctx.Err()
}
