package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jobd/jobd/rpc"
)

// latencyResult holds, per job, milliseconds.
type latencyResult struct {
	// Through jobd-master: INSERT, then poke; until the launcher runs, and
	// until the row is done.
	pokeToStart, pokeToDone, insertToDone series
	// Straight to the worker: INSERT, then poll (the original's figure).
	pollToStart, pollInsertToDone series
	// How long the stamp launcher takes to run when Go starts it (fork,
	// exec, the Go runtime's start): part of every "…ToStart" figure.
	stampStart series
}

// latencyGap spaces the pokes by more than the master's poke throttle, so
// each poke is the first of a quiet period and is sent on at once.
const (
	latencyThrottle = "100ms"
	latencyGap      = 150 * time.Millisecond
)

// latency measures single jobs in an idle system: a jobd-master, one jobd
// registered with it (target "lat", concurrency 8, poll_interval "0"), the
// launcher `stamp DIR {id}`, which writes the time it began to run. For
// each job the harness INSERTs the row, pokes the master, and probes the
// row every millisecond until it is done.
func (e *env) latency(ctx context.Context, pokes, polls int) (latencyResult, error) {
	var r latencyResult
	db, err := e.newDB(ctx, "lat")
	if err != nil {
		return r, err
	}
	defer db.close(e)
	dir := filepath.Join(e.tmp, "stamps")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	master, err := e.startMaster("jobd-master-lat", latencyThrottle)
	if err != nil {
		return r, err
	}
	defer e.stop(master)
	worker, err := e.startJobd(jobdSpec{name: "jobd-lat", dsn: db.dsn, targets: []string{"lat"}, concurrency: 8,
		launcher: e.stampBin + " " + dir + " {id}", master: master.addr, pollInterval: "0"})
	if err != nil {
		return r, err
	}
	defer e.stop(worker)
	mc, err := rpc.Dial(ctx, master.addr, rpc.DialOptions{})
	if err != nil {
		return r, err
	}
	defer mc.Close()
	wc, err := rpc.Dial(ctx, worker.addr, rpc.DialOptions{})
	if err != nil {
		return r, err
	}
	defer wc.Close()
	if err := waitRegistered(ctx, mc, 1); err != nil {
		return r, err
	}
	if r.stampStart, err = e.stampCost(ctx, dir, 50); err != nil {
		return r, err
	}
	poke := func(ctx context.Context) error { return mc.Poke(ctx, []string{"lat"}) }
	poll := func(ctx context.Context) error { return wc.Poll(ctx, []string{"lat"}) }
	// A few jobs first, not counted: connections and caches warm up.
	if _, _, _, err := e.oneJob(ctx, db, dir, poke, 5); err != nil {
		return r, err
	}
	if r.pokeToStart, r.pokeToDone, r.insertToDone, err = e.oneJob(ctx, db, dir, poke, pokes); err != nil {
		return r, err
	}
	r.pollToStart, _, r.pollInsertToDone, err = e.oneJob(ctx, db, dir, poll, polls)
	return r, err
}

// oneJob runs n single jobs one after the other, each asked for by
// notify, and returns per job: notify → launcher running, notify → row
// done, and INSERT → row done, in milliseconds.
func (e *env) oneJob(ctx context.Context, db *benchDB, dir string, notify func(context.Context) error, n int) (toStart, toDone, insertToDone series, err error) {
	for range n {
		t0 := time.Now()
		id, err := db.insertOne(ctx, "lat")
		if err != nil {
			return nil, nil, nil, err
		}
		t1 := time.Now()
		if err := notify(ctx); err != nil {
			return nil, nil, nil, err
		}
		done, err := db.waitStatus(ctx, id, "done", time.Millisecond, 30*time.Second)
		if err != nil {
			return nil, nil, nil, err
		}
		started, err := readStamp(filepath.Join(dir, strconv.FormatInt(id, 10)))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("job %d: the launcher left no stamp: %w", id, err)
		}
		toStart = append(toStart, ms(started.Sub(t1)))
		toDone = append(toDone, ms(done.Sub(t1)))
		insertToDone = append(insertToDone, ms(done.Sub(t0)))
		select {
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		case <-time.After(time.Until(t1.Add(latencyGap))):
		}
	}
	return toStart, toDone, insertToDone, nil
}

// stampCost measures, n times, how long the stamp launcher takes from
// exec.Command(…).Start() in Go to its first instruction of main.
func (e *env) stampCost(ctx context.Context, dir string, n int) (series, error) {
	var out series
	for i := range n {
		name := fmt.Sprintf("cost-%d", i)
		t0 := time.Now()
		if err := exec.CommandContext(ctx, e.stampBin, dir, name).Run(); err != nil {
			return nil, err
		}
		started, err := readStamp(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, ms(started.Sub(t0)))
	}
	return out, nil
}

func readStamp(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ns), nil
}

// waitRegistered waits until the master lists n workers.
func waitRegistered(ctx context.Context, mc *rpc.Conn, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := mc.MasterStatus(ctx, false)
		if err != nil {
			return err
		}
		if len(st.Workers) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workers registered with the master after a minute", len(st.Workers), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
