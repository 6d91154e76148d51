package master_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// Three real workers (a; a,b; c) that claim only when polled, with a
// counting in-process worker beside each: a poke reaches exactly the
// workers serving its targets, and a poke no one can take waits for the
// first worker that serves it.
func TestE2EPokeRouting(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Top: masterTop})
	sleep := jobdtest.Script(t, `sleep 1`)
	w1 := e.worker(workerSpec{name: "w1", master: m.Addr(), launcher: sleep, targets: map[string]int{"a": 2}})
	w2 := e.worker(workerSpec{name: "w2", master: m.Addr(), launcher: sleep, targets: map[string]int{"a": 2, "b": 2}})
	e.worker(workerSpec{name: "w3", master: m.Addr(), launcher: sleep, targets: map[string]int{"c": 2}})
	f1 := newPollCounter(t, m.Addr(), "f1", "a")
	f2 := newPollCounter(t, m.Addr(), "f2", "a", "b")
	f3 := newPollCounter(t, m.Addr(), "f3", "c")
	waitRegistered(t, 30*time.Second, m.Addr(), "", "w1", "w2", "w3", "f1", "f2", "f3")
	i1, i2 := instanceOf(t, w1), instanceOf(t, w2)
	c := jobdtest.Dial(t, m.Addr(), "")

	// b: only the second.
	ids := e.insert(store.NewJob{Target: "b"}, store.NewJob{Target: "b"})
	require.NoError(t, c.Poke(jobdtest.Ctx(t, 5*time.Second), []string{"b"}))
	e.waitStatus(30*time.Second, store.StatusDone, ids...)
	require.Equal(t, []int64{i2}, e.claimers(ids...))
	jobdtest.Eventually(t, 5*time.Second, func() bool { return len(f2.polls()) == 1 }, "f2 was not polled")
	require.Equal(t, [][]string{{"b"}}, f2.polls())
	require.Empty(t, f1.polls())
	require.Empty(t, f3.polls())

	// a: the first two. With room for 2 each and 1s jobs, four jobs are
	// claimed by both at once; had only one been polled, it alone would
	// have run all four.
	ids = e.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	require.NoError(t, c.Poke(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	e.waitStatus(30*time.Second, store.StatusDone, ids...)
	claimers := e.claimers(ids...)
	require.ElementsMatch(t, []int64{i1, i2}, claimers)
	jobdtest.Eventually(t, 5*time.Second, func() bool { return len(f1.polls()) == 1 && len(f2.polls()) == 2 }, "f1 and f2 not polled")
	require.Equal(t, [][]string{{"a"}}, f1.polls())
	require.Equal(t, [][]string{{"b"}, {"a"}}, f2.polls())
	require.Empty(t, f3.polls())

	// d: nobody serves it yet; the poke waits for the first worker that does.
	id := e.insert(store.NewJob{Target: "d"})[0]
	require.NoError(t, c.Poke(jobdtest.Ctx(t, 5*time.Second), []string{"d"}))
	jobdtest.Eventually(t, 5*time.Second, func() bool { return slices.Equal(rememberedPokes(t, m.Addr()), []string{"d"}) },
		"the poke of d is not remembered")
	w4 := e.worker(workerSpec{name: "w4", master: m.Addr(), launcher: sleep, targets: map[string]int{"d": 1}})
	e.waitStatus(30*time.Second, store.StatusDone, id)
	require.Equal(t, []int64{instanceOf(t, w4)}, e.claimers(id))
	require.True(t, m.LogContains(`"msg":"polling a new worker for pokes no worker could take before","worker":"w4 (127.0.0.1:`), m.Logs())
	require.Empty(t, rememberedPokes(t, m.Addr()))
	require.Empty(t, f3.polls())
}

// 1,000 pokes within about a second: each worker gets a bounded number of
// polls (one per throttle interval, plus the first), and every job inserted
// meanwhile still runs.
func TestE2EPokeCoalescing(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	const throttle = 100 * time.Millisecond
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Top: `ping_interval = "1s"
poke_throttle_interval = "100ms"`})
	fast := jobdtest.Script(t, `exit 0`)
	e.worker(workerSpec{name: "w1", master: m.Addr(), launcher: fast, targets: map[string]int{"a": 4}})
	e.worker(workerSpec{name: "w2", master: m.Addr(), launcher: fast, targets: map[string]int{"a": 4, "b": 1}})
	f1 := newPollCounter(t, m.Addr(), "f1", "a")
	f2 := newPollCounter(t, m.Addr(), "f2", "b", "a")
	waitRegistered(t, 30*time.Second, m.Addr(), "", "w1", "w2", "f1", "f2")

	var (
		mu  sync.Mutex
		ids []int64
	)
	inserted := make(chan struct{})
	go func() {
		defer close(inserted)
		for range 10 {
			batch := make([]store.NewJob, 10)
			for i := range batch {
				batch[i] = store.NewJob{Target: "a"}
			}
			got, err := e.st.JobsInsert(jobdtest.Ctx(t, 30*time.Second), batch)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, got...)
			mu.Unlock()
			time.Sleep(80 * time.Millisecond)
		}
	}()
	c := jobdtest.Dial(t, m.Addr(), "")
	start := time.Now()
	for i := range 1000 {
		if i == 999 {
			<-inserted // the last poke comes after the last job
		}
		require.NoError(t, c.Poke(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
		if i%10 == 9 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	require.Len(t, ids, 100)
	e.waitStatus(60*time.Second, store.StatusDone, ids...)
	time.Sleep(3 * throttle) // a trailing burst lands
	limit := 1 + int(elapsed/throttle) + 1
	for _, f := range []*pollCounter{f1, f2} {
		polls := f.polls()
		t.Logf("%s: %d polls for 1000 pokes in %s (limit %d)", f.name, len(polls), elapsed.Round(time.Millisecond), limit)
		require.LessOrEqual(t, len(polls), limit, f.name)
		require.GreaterOrEqual(t, len(polls), 2, "%s: pokes over %s came as a single poll", f.name, elapsed)
		for _, p := range polls {
			require.Equal(t, []string{"a"}, p, "%s polled for a target it was not poked for", f.name)
		}
	}
}

// status with poll_workers lists every worker with its targets and its own
// status; a frozen worker cannot hold the answer beyond request_timeout.
func TestE2EStatusPollWorkers(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Top: `ping_interval = "10s"
request_timeout = "1s"`})
	sleep := jobdtest.Script(t, `sleep 1`)
	w1 := e.worker(workerSpec{name: "w1", master: m.Addr(), launcher: sleep, targets: map[string]int{"a": 2}})
	w2 := e.worker(workerSpec{name: "w2", master: m.Addr(), launcher: sleep, targets: map[string]int{"b": 3, "c": 1}})
	waitRegistered(t, 30*time.Second, m.Addr(), "", "w1", "w2")

	byName := func(st *rpc.MasterStatus) map[string]rpc.WorkerInfo {
		out := map[string]rpc.WorkerInfo{}
		for _, w := range st.Workers {
			out[w.Name] = w
		}
		return out
	}
	st := byName(status(t, m.Addr(), "", true))
	require.Equal(t, []string{"a"}, st["w1"].Targets)
	require.ElementsMatch(t, []string{"b", "c"}, st["w2"].Targets)
	require.Equal(t, "127.0.0.1", st["w1"].RemoteAddr)
	require.NotZero(t, st["w1"].RemotePort)
	require.Equal(t, instanceOf(t, w1), st["w1"].WorkerStatus.InstanceID)
	require.Equal(t, instanceOf(t, w2), st["w2"].WorkerStatus.InstanceID)
	require.Equal(t, 2, st["w1"].WorkerStatus.Targets["a"].Concurrency)
	require.Equal(t, 3, st["w2"].WorkerStatus.Targets["b"].Concurrency)
	require.Empty(t, st["w1"].WorkerStatusError)

	w2.Signal(syscall.SIGSTOP)
	defer w2.Signal(syscall.SIGCONT)
	waitStopped(t, w2.PID())
	start := time.Now()
	// The call's own deadline is request_timeout and some slack: an answer
	// held by the frozen worker fails it.
	ms, err := jobdtest.Dial(t, m.Addr(), "").MasterStatus(jobdtest.Ctx(t, 4*time.Second), true)
	require.NoError(t, err)
	t.Logf("status with a frozen worker answered in %s", time.Since(start).Round(time.Millisecond))
	st = byName(ms)
	require.Nil(t, st["w2"].WorkerStatus)
	require.Regexp(t, `^worker w2 \(127\.0\.0\.1:\d+\): no answer within request_timeout \(1s\)$`, st["w2"].WorkerStatusError)
	require.NotNil(t, st["w1"].WorkerStatus, "the other worker's status is there")
	w2.Signal(syscall.SIGCONT)
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return byName(status(t, m.Addr(), "", true))["w2"].WorkerStatus != nil
	}, "w2 does not answer after SIGCONT")
}

// run-manual over two workers: all results merged; with one worker killed
// mid-run, the other's results come back and the lost jobs are errors.
func TestE2ERunManual(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Top: masterTop})
	quick := jobdtest.Script(t, `echo "out $1"; sleep 0.2`)
	slow := jobdtest.Script(t, `sleep 4; echo "slow $1"`)
	extra := fmt.Sprintf("[targets.slow]\nconcurrency = 3\nlauncher = %q\n", slow+" {id}")
	w1 := e.worker(workerSpec{name: "w1", master: m.Addr(), launcher: quick, targets: map[string]int{"m": 3}, extra: extra})
	w2 := e.worker(workerSpec{name: "w2", master: m.Addr(), launcher: quick, targets: map[string]int{"m": 3}, extra: extra})
	waitRegistered(t, 30*time.Second, m.Addr(), "", "w1", "w2")
	i1, i2 := instanceOf(t, w1), instanceOf(t, w2)
	c := jobdtest.Dial(t, m.Addr(), "")

	manual := func(target string, n int) ([]int64, []rpc.ManualJob) {
		jobs := make([]store.NewJob, n)
		for i := range jobs {
			jobs[i] = store.NewJob{Target: target, Manual: true}
		}
		ids := e.insert(jobs...)
		var mj []rpc.ManualJob
		for _, id := range ids {
			mj = append(mj, rpc.ManualJob{ID: id, Target: target})
		}
		return ids, mj
	}

	ids, jobs := manual("m", 6)
	reply, err := c.MasterRunManual(jobdtest.Ctx(t, 60*time.Second), jobs)
	require.NoError(t, err)
	require.Empty(t, reply.Errors)
	require.Len(t, reply.Jobs, 6)
	for _, id := range ids {
		r := reply.Jobs[fmt.Sprint(id)]
		require.Equal(t, "ok", r.Result)
		require.Equal(t, fmt.Sprintf("out %d\n", id), r.Stdout)
	}
	require.Equal(t, []int64{i1, i2}, sortedPair(e.claimers(ids...)), "the six jobs were spread over both workers")

	// Kill a worker while its jobs run.
	ids, jobs = manual("slow", 6)
	type result struct {
		reply *rpc.RunManualReply
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.MasterRunManual(jobdtest.Ctx(t, 60*time.Second), jobs)
		done <- result{r, err}
	}()
	e.waitStatus(30*time.Second, store.StatusRunning, ids...)
	var lost, kept []string
	for _, id := range ids {
		if e.job(id).InstanceID == i2 {
			lost = append(lost, fmt.Sprint(id))
		} else {
			kept = append(kept, fmt.Sprint(id))
		}
	}
	require.Len(t, lost, 3, "three jobs on each worker")
	w2.Kill()
	r := <-done
	require.NoError(t, r.err)
	require.Len(t, r.reply.Jobs, 3)
	for _, id := range kept {
		require.Equal(t, "ok", r.reply.Jobs[id].Result)
		require.Equal(t, "slow "+id+"\n", r.reply.Jobs[id].Stdout)
	}
	require.Len(t, r.reply.Errors, 3)
	for _, id := range lost {
		require.Regexp(t, `^worker w2 \(127\.0\.0\.1:\d+\): run-manual: connection closed by peer`, r.reply.Errors[id])
	}
}

// waitStopped waits until the process is stopped (SIGSTOP is delivered
// asynchronously).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		// pid (comm) state ...: the state follows the last ")".
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		return strings.HasPrefix(strings.TrimSpace(rest), "T")
	}, "process %d is not stopped", pid)
}

func sortedPair(ids []int64) []int64 {
	slices.Sort(ids)
	return ids
}

// A worker killed with SIGKILL leaves the registry within two ping
// intervals; after a master restart every worker is back within its
// reconnect interval, and pokes work again.
func TestE2EWorkersLeaveAndReturn(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	const pingInterval = time.Second
	addr := jobdtest.FreeAddr(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Listen: addr, Top: masterTop})
	quick := jobdtest.Script(t, `exit 0`)
	w1 := e.worker(workerSpec{name: "w1", master: addr, launcher: quick, targets: map[string]int{"a": 1}})
	w2 := e.worker(workerSpec{name: "w2", master: addr, launcher: quick, targets: map[string]int{"a": 1, "b": 1}})
	w3 := e.worker(workerSpec{name: "w3", master: addr, launcher: quick, targets: map[string]int{"c": 1}})
	waitRegistered(t, 30*time.Second, addr, "", "w1", "w2", "w3")

	w3.Kill()
	waitRegistered(t, 2*pingInterval, addr, "", "w1", "w2")

	require.Equal(t, 0, m.Stop())
	m.Restart()
	back := time.Now()
	// jobd notices at once (the connection ends) and dials again after
	// reconnect_interval (1s); a dial that comes before the new master
	// listens is retried one interval later.
	waitRegistered(t, 2*time.Second+500*time.Millisecond, addr, "", "w1", "w2")
	t.Logf("workers back %s after the master restarted", time.Since(back).Round(time.Millisecond))

	ids := e.insert(store.NewJob{Target: "b"})
	require.NoError(t, jobdtest.Dial(t, addr, "").Poke(jobdtest.Ctx(t, 5*time.Second), []string{"b"}))
	e.waitStatus(30*time.Second, store.StatusDone, ids...)
	require.Equal(t, []int64{instanceOf(t, w2)}, e.claimers(ids...))
	_ = w1
}

// The master's password, for workers and clients, and bad input over a real
// socket.
func TestE2EPasswordAndBadInput(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Password: "s3cret", Top: masterTop})
	quick := jobdtest.Script(t, `exit 0`)
	e.worker(workerSpec{name: "good", master: m.Addr(), password: "s3cret", launcher: quick, targets: map[string]int{"a": 1}})
	bad := e.worker(workerSpec{name: "bad", master: m.Addr(), password: "guess", launcher: quick, targets: map[string]int{"a": 1}})
	waitRegistered(t, 30*time.Second, m.Addr(), "s3cret", "good")
	jobdtest.Eventually(t, 10*time.Second, func() bool { return bad.LogContains("invalid password") },
		"the worker with the wrong password was not told")
	require.Equal(t, []string{"good"}, registered(t, m.Addr(), "s3cret"))

	require.Equal(t, `[1,{"no":1,"error":"invalid password"}]`+"\x04",
		jobdtest.Exchange(t, m.Addr(), `[0,{"no":1,"type":"status"}]`+"\x04", 1))
	out := jobdtest.Exchange(t, m.Addr(), strings.Join([]string{
		`[0,{"no":1,"type":"poke","data":{"targets":["a"]},"password":"s3cret"}]`,
		`{"oops"`,
		`[0,{"no":2,"type":"poke","data":{"targets":[]}}]`,
		`[0,{"no":3,"type":"explode"}]`,
		`[0,{"no":4,"type":"run-manual","data":{"jobs":[{"id":"7","target":"a"}]}}]`,
		`[0,{"no":5,"type":"send-signal","data":{"jobs":[{"id":7,"signal":0,"target":"a"}]}}]`,
		`[2]`,
		"",
	}, "\x04"), 7)
	require.Equal(t, strings.Join([]string{
		`[1,{"no":1,"data":"ok"}]`,
		`[1,{"no":0,"error":"malformed message: invalid JSON (unexpected end of JSON input): {\"oops\""}]`,
		`[1,{"no":2,"error":"targets must not be empty"}]`,
		`[1,{"no":3,"error":"unknown request type: 'explode'"}]`,
		`[1,{"no":4,"error":"job id must be a positive integer, got \"7\""}]`,
		`[1,{"no":5,"error":"job 7: signal must be an integer from 1 to 64, got 0"}]`,
		`[3]`,
		"",
	}, "\x04"), sortAnswers(out))
}

// sortAnswers puts the answers in the order of their requests: they may
// come in any order, as requests are served concurrently. The no:0 error
// answers the second message, the pong the last.
func sortAnswers(out string) string {
	msgs := strings.Split(strings.TrimSuffix(out, "\x04"), "\x04")
	key := func(s string) int {
		if s == "[3]" {
			return 1000
		}
		var n int
		_, _ = fmt.Sscanf(s, `[1,{"no":%d`, &n)
		if n == 0 {
			return 15 // between no 1 and no 2
		}
		return 10 * n
	}
	slices.SortStableFunc(msgs, func(a, b string) int { return key(a) - key(b) })
	return strings.Join(msgs, "\x04") + "\x04"
}
