//go:build faults

package jobd_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// Three instances share three targets; 30,000 jobs; several clients poke
// random workers at random. Every job ends done and ran exactly once.
func TestFaultExactlyOnceAcrossInstances(t *testing.T) {
	e := newEnv(t)
	ran := filepath.Join(t.TempDir(), "ran")
	body := fmt.Sprintf(`[launcher]
command = %q
[targets.t1]
concurrency = 8
[targets.t2]
concurrency = 8
[targets.t3]
concurrency = 8
`, "/bin/sh -c 'echo {id} >> "+ran+"'")
	var procs []*jobdtest.Proc
	for _, name := range []string{"w1", "w2", "w3"} {
		procs = append(procs, e.jobd(jobdtest.JobdSpec{Name: name, Plain: true, Top: `poll_interval = "1s"`, Body: body}))
	}
	const total = 30_000
	jobs := make([]store.NewJob, total)
	for i := range jobs {
		jobs[i] = store.NewJob{Target: fmt.Sprintf("t%d", 1+i%3), Priority: i % 4}
	}
	start := time.Now()
	ids := e.insert(jobs...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	pokes := make([]int, 4)
	for c := range 4 {
		var cs []*rpc.Conn
		for _, p := range procs {
			cs = append(cs, jobdtest.Dial(t, p.Addr(), ""))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
				}
				targets := []string{"t1", "t2", "t3"}
				rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if cs[rand.IntN(len(cs))].Poll(ctx, targets[:1+rand.IntN(3)]) == nil {
					pokes[c]++
				}
				cancel()
			}
		}()
	}
	jobdtest.Eventually(t, 10*time.Minute, func() bool { return e.count(store.StatusDone) == total }, "not all %d jobs done", total)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	runs := runCounts(t, ran)
	dups, missing := 0, 0
	for _, id := range ids {
		switch n := runs[id]; {
		case n == 0:
			missing++
		case n > 1:
			dups++
		}
	}
	var perInstance []struct {
		Instance int64 `db:"instance_id"`
		N        int   `db:"n"`
	}
	require.NoError(t, e.st.DB().Select(&perInstance, "SELECT instance_id, COUNT(*) AS n FROM jobs GROUP BY instance_id ORDER BY instance_id"))
	var okCount int
	require.NoError(t, e.st.DB().Get(&okCount, "SELECT COUNT(*) FROM jobs WHERE status = 'done' AND result = 'ok' AND attempts = 1"))
	require.Zero(t, dups, "jobs ran twice")
	require.Zero(t, missing, "jobs never ran")
	require.Len(t, runs, total)
	require.Equal(t, total, okCount)
	require.Len(t, perInstance, 3, "all three instances worked")
	split := ""
	for _, p := range perInstance {
		split += fmt.Sprintf(" %d", p.N)
	}
	report(t, faultRow{Scenario: "3 instances share 3 targets, 30,000 jobs, random pokes from 4 clients", Jobs: total, Duplicates: dups, Lost: missing,
		Recover: "n/a", Notes: fmt.Sprintf("all done in %s (%.0f jobs/s); jobs per instance:%s; %d pokes", seconds(elapsed),
			float64(total)/elapsed.Seconds(), split, pokes[0]+pokes[1]+pokes[2]+pokes[3])})
}

// Stop MariaDB for 20 seconds while 200 jobs run: every job ends done with
// its real outcome. With spool_dir, jobd is also killed and restarted
// during the outage.
func TestFaultDatabaseOutage(t *testing.T)          { testDatabaseOutage(t, false) }
func TestFaultDatabaseOutageWithSpool(t *testing.T) { testDatabaseOutage(t, true) }

func testDatabaseOutage(t *testing.T, spool bool) {
	srv := storetest.NewServer(t, storetest.ServerOptions{})
	db := srv.NewDB(t)
	db.Migrate(t, "")
	st := db.Open(t, store.Options{})
	e := &env{t: t, db: db, st: st}
	spoolDir := filepath.Join(t.TempDir(), "spool")
	launcher := jobdtest.Script(t, `sleep 6; echo "out $1"; exit $(( $1 % 2 ))`)
	top := `poll_interval = "1s"` + "\n"
	if spool {
		top += fmt.Sprintf("spool_dir = %q\n", spoolDir)
	}
	spec := jobdtest.JobdSpec{Top: top, MySQL: `wait_at_start = "2m"`,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.t]\nconcurrency = 200\n", launcher+" {id}")}
	d := e.jobd(spec)
	var jobs []store.NewJob
	for range 200 {
		jobs = append(jobs, store.NewJob{Target: "t"})
	}
	ids := e.insert(jobs...)
	c := jobdtest.Dial(t, d.Addr(), "")
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	jobdtest.Eventually(t, 60*time.Second, func() bool { return e.count(store.StatusRunning) == 200 }, "200 running")

	require.NoError(t, srv.Stop())
	stopped := time.Now()
	// jobd notices, keeps its jobs running, and holds their outcomes.
	jobdtest.Eventually(t, 30*time.Second, func() bool {
		s, err := c.Status(jobdtest.Ctx(t, 5*time.Second))
		return err == nil && s.Database != nil && s.Database.State == "down" && s.Database.PendingOutcomes == 200
	}, "status does not show the database down with 200 outcomes pending")
	if spool {
		jobdtest.Eventually(t, 30*time.Second, func() bool {
			entries, _ := os.ReadDir(spoolDir)
			n := 0
			for _, en := range entries {
				if filepath.Ext(en.Name()) == ".json" {
					n++
				}
			}
			return n == 200
		}, "200 outcomes in the spool")
		d.Kill()
		// Restarted while the database is still down: it waits (wait_at_start).
		await := d.Begin()
		time.Sleep(time.Until(stopped.Add(20 * time.Second)))
		require.NoError(t, srv.Start())
		restarted := time.Now()
		require.NoError(t, await())
		e.waitDone(60*time.Second, ids...)
		checkOutcomes(t, e, ids)
		report(t, faultRow{Scenario: "MariaDB stopped 20 s while 200 jobs run; jobd killed and restarted during the outage (spool_dir)",
			Jobs: len(ids), Recover: fmt.Sprintf("%s after the database came back", seconds(time.Since(restarted))),
			Notes: "outcomes written to the spool when the first write failed, replayed by the restarted jobd, fenced on the old instance"})
		return
	}
	time.Sleep(time.Until(stopped.Add(20 * time.Second)))
	require.NoError(t, srv.Start())
	back := time.Now()
	e.waitDone(60*time.Second, ids...)
	recovered := time.Since(back)
	checkOutcomes(t, e, ids)
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		s, err := c.Status(jobdtest.Ctx(t, 5*time.Second))
		return err == nil && s.Database.State == "ok" && s.Database.PendingOutcomes == 0
	}, "status shows the database back")
	// Claiming resumed by itself.
	more := e.insert(store.NewJob{Target: "t"})
	e.waitDone(30*time.Second, more...)
	report(t, faultRow{Scenario: "MariaDB stopped 20 s while 200 jobs run", Jobs: len(ids), Recover: fmt.Sprintf("%s after the database came back", seconds(recovered)),
		Notes: "jobs kept running; outcomes held in memory and written once it was back; claiming resumed by itself"})
}

// checkOutcomes asserts every job is done with the outcome its launcher had.
func checkOutcomes(t *testing.T, e *env, ids []int64) {
	t.Helper()
	var bad []int64
	for _, id := range ids {
		j := e.job(id)
		want := store.ResultOK
		if id%2 == 1 {
			want = store.ResultFail
		}
		if j.Status != store.StatusDone || j.Result != want || j.ReturnCode == nil || *j.ReturnCode != int(id%2) ||
			j.Stdout != fmt.Sprintf("out %d\n", id) {
			bad = append(bad, id)
		}
	}
	sort.Slice(bad, func(a, b int) bool { return bad[a] < bad[b] })
	require.Empty(t, bad, "jobs without their real outcome")
}
