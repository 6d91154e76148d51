package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// withRoom makes a fake worker report concurrency and length for targets.
func withRoom(f *fakeWorker, concurrency, length int, paused bool, targets ...string) {
	f.status = func(context.Context) (any, error) {
		ts := map[string]rpc.TargetStatus{}
		for _, t := range targets {
			ts[t] = rpc.TargetStatus{Concurrency: concurrency, Length: length, Paused: paused}
		}
		return rpc.WorkerStatus{Targets: ts}, nil
	}
}

// manualIDs lists the ids of the run-manual requests a fake received.
func manualIDs(t *testing.T, f *fakeWorker) []int64 {
	t.Helper()
	var out []int64
	for _, c := range f.received(rpc.ReqRunManual) {
		var args rpc.RunManualArgs
		require.NoError(t, json.Unmarshal(c.data, &args))
		out = append(out, args.IDs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func jobsOf(target string, ids ...int64) []rpc.ManualJob {
	var out []rpc.ManualJob
	for _, id := range ids {
		out = append(out, rpc.ManualJob{ID: id, Target: target})
	}
	return out
}

func TestRunManualSpreadsAndMerges(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w1 := newFake(t, m.addr(), "w1", "a")
	w2 := newFake(t, m.addr(), "w2", "a", "b")
	withRoom(w1, 3, 0, false, "a")
	withRoom(w2, 3, 0, false, "a", "b")
	c := client(t, m.addr(), "")

	jobs := append(jobsOf("a", 1, 2, 3, 4, 5, 6), jobsOf("b", 7)...)
	jobs = append(jobs, jobsOf("zz", 8)...)
	jobs = append(jobs, rpc.ManualJob{ID: 1, Target: "a"}) // listed twice: run once
	reply, err := c.MasterRunManual(ctxFor(t, 10*time.Second), jobs)
	require.NoError(t, err)
	require.Len(t, reply.Jobs, 7)
	for id := 1; id <= 7; id++ {
		require.Equal(t, "ok", reply.Jobs[fmt.Sprint(id)].Result, "job %d", id)
	}
	require.Equal(t, map[string]string{"8": `no worker serves target "zz"`}, reply.Errors)
	require.Equal(t, []int64{1, 3, 5}, manualIDs(t, w1), "equal room: the jobs alternate")
	require.Equal(t, []int64{2, 4, 6, 7}, manualIDs(t, w2))
	require.Len(t, w1.received(rpc.ReqRunManual), 1, "one request per worker")
	require.Equal(t, "w2", reply.Jobs["7"].Stdout)
}

func TestRunManualPrefersTheWorkerWithMostRoom(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	full := newFake(t, m.addr(), "full", "a")
	roomy := newFake(t, m.addr(), "roomy", "a")
	paused := newFake(t, m.addr(), "paused", "a")
	withRoom(full, 3, 3, false, "a")
	withRoom(roomy, 4, 2, false, "a")
	withRoom(paused, 10, 0, true, "a")
	reply, err := client(t, m.addr(), "").MasterRunManual(ctxFor(t, 10*time.Second), jobsOf("a", 1, 2, 3))
	require.NoError(t, err)
	require.Len(t, reply.Jobs, 3)
	// roomy: room 2 → takes 1 and 2; then full and roomy both have 0 and
	// full has fewer jobs here; a paused target only as a last resort.
	require.Equal(t, []int64{1, 2}, manualIDs(t, roomy))
	require.Equal(t, []int64{3}, manualIDs(t, full))
	require.Empty(t, manualIDs(t, paused))
}

func TestRunManualSkipsAWorkerThatDoesNotAnswerStatus(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RequestTimeout = Duration(200 * time.Millisecond)
	m := startMaster(t, cfg)
	mute := newFake(t, m.addr(), "mute", "a")
	mute.status = func(ctx context.Context) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ok := newFake(t, m.addr(), "ok", "a")
	withRoom(ok, 1, 1, false, "a")
	reply, err := client(t, m.addr(), "").MasterRunManual(ctxFor(t, 10*time.Second), jobsOf("a", 1, 2))
	require.NoError(t, err)
	require.Len(t, reply.Jobs, 2)
	require.Equal(t, []int64{1, 2}, manualIDs(t, ok), "a worker that cannot say its room is used only when no other can")
}

func TestRunManualWorkerFailures(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	good := newFake(t, m.addr(), "good", "a")
	dies := newFake(t, m.addr(), "dies", "b")
	refuses := newFake(t, m.addr(), "refuses", "c")
	forgets := newFake(t, m.addr(), "forgets", "d")
	started := make(chan struct{})
	dies.runManual = func(ctx context.Context, ids []int64) (any, error) {
		close(started)
		<-ctx.Done() // runs until its connection goes
		return nil, ctx.Err()
	}
	refuses.runManual = func(context.Context, []int64) (any, error) { return nil, errors.New("database: down") }
	forgets.runManual = func(_ context.Context, ids []int64) (any, error) {
		return map[string]any{"errors": map[string]string{fmt.Sprint(ids[0]): "job 40 is not manual"}}, nil
	}
	c := client(t, m.addr(), "")
	type result struct {
		reply *rpc.RunManualReply
		err   error
	}
	done := make(chan result, 1)
	go func() {
		jobs := append(jobsOf("a", 10, 11), jobsOf("b", 20, 21)...)
		jobs = append(jobs, jobsOf("c", 30)...)
		jobs = append(jobs, jobsOf("d", 40, 41)...)
		r, err := c.MasterRunManual(context.Background(), jobs)
		done <- result{r, err}
	}()
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("run-manual never reached the worker")
	}
	select {
	case r := <-done:
		t.Fatalf("answered before the dying worker's jobs ended: %+v %v", r.reply, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, dies.conn.Close()) // the worker goes away mid-run
	var r result
	select {
	case r = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("no answer after the worker went away")
	}
	require.NoError(t, r.err)
	require.Len(t, r.reply.Jobs, 2)
	require.Contains(t, r.reply.Jobs, "10")
	require.Contains(t, r.reply.Jobs, "11")
	require.Len(t, r.reply.Errors, 5)
	for _, id := range []string{"20", "21"} {
		require.Regexp(t, `^worker dies \(127\.0\.0\.1:\d+\): run-manual: connection closed by peer`, r.reply.Errors[id])
	}
	require.Regexp(t, `^worker refuses \(127\.0\.0\.1:\d+\): database: down$`, r.reply.Errors["30"])
	require.Equal(t, "job 40 is not manual", r.reply.Errors["40"], "the worker's own error passes through")
	require.Regexp(t, `^worker forgets \(127\.0\.0\.1:\d+\) answered without job 41$`, r.reply.Errors["41"])
	_ = good
}

func TestRunManualAnswerShape(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w := newFake(t, m.addr(), "w", "a")
	w.runManual = func(context.Context, []int64) (any, error) {
		return json.RawMessage(`{"jobs":{"5":{"result":"fail","code":null,"signal":"SIGTERM","stdout":"","stderr":"x","extra":1}}}`), nil
	}
	data := rawCall(t, m.addr(), `[0,{"no":1,"type":"run-manual","data":{"jobs":[{"id":5,"target":"a"}]}}]`)
	require.JSONEq(t, `{"jobs":{"5":{"result":"fail","code":null,"signal":"SIGTERM","stdout":"","stderr":"x","extra":1}}}`, string(data),
		"a worker's entry passes through as it came, and an empty errors is left out")
	data = rawCall(t, m.addr(), `[0,{"no":1,"type":"run-manual","data":{"jobs":[{"id":6,"target":"none"}]}}]`)
	require.JSONEq(t, `{"errors":{"6":"no worker serves target \"none\""}}`, string(data))
	require.False(t, strings.Contains(string(data), `"jobs"`))
}
