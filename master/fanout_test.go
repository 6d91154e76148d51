package master

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// quietFor is how long a test waits to see that nothing more arrives: many
// throttle intervals of testConfig.
const quietFor = 300 * time.Millisecond

func TestPokeReachesTheWorkersServingItsTargets(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w1 := newFake(t, m.addr(), "w1", "a")
	w2 := newFake(t, m.addr(), "w2", "a", "b")
	w3 := newFake(t, m.addr(), "w3", "c")
	c := client(t, m.addr(), "")

	require.NoError(t, c.Poke(ctxFor(t, 5*time.Second), []string{"b"}))
	require.Equal(t, []string{"b"}, w2.waitFor(rpc.ReqPoll, 1)[0].targets)
	w1.quiet(rpc.ReqPoll, 0, quietFor)
	w3.quiet(rpc.ReqPoll, 0, 0)

	require.NoError(t, c.Poke(ctxFor(t, 5*time.Second), []string{"a"}))
	require.Equal(t, []string{"a"}, w1.waitFor(rpc.ReqPoll, 1)[0].targets)
	require.Equal(t, []string{"a"}, w2.waitFor(rpc.ReqPoll, 2)[1].targets)
	w3.quiet(rpc.ReqPoll, 0, quietFor)

	// Each worker is polled for just the targets it serves, never one more.
	require.NoError(t, c.Poke(ctxFor(t, 5*time.Second), []string{"c", "b", "a", "zz"}))
	require.Equal(t, []string{"a", "b"}, w2.waitFor(rpc.ReqPoll, 3)[2].targets)
	require.Equal(t, []string{"a"}, w1.waitFor(rpc.ReqPoll, 2)[1].targets)
	require.Equal(t, []string{"c"}, w3.waitFor(rpc.ReqPoll, 1)[0].targets)

	// d is served by no one: remembered, and delivered to the first worker
	// registering with it.
	require.NoError(t, c.Poke(ctxFor(t, 5*time.Second), []string{"d"}))
	eventually(t, func() bool {
		return slices.Equal(masterStatusRaw(t, m.addr()).RememberedPokes, []string{"d", "zz"})
	}, "d and zz are not remembered")
	w4 := newFake(t, m.addr(), "w4", "x", "d")
	require.Equal(t, []string{"d"}, w4.waitFor(rpc.ReqPoll, 1)[0].targets)
	w5 := newFake(t, m.addr(), "w5", "d")
	w5.quiet(rpc.ReqPoll, 0, quietFor)
	w1.quiet(rpc.ReqPoll, 2, 0)
	w2.quiet(rpc.ReqPoll, 3, 0)
	require.Equal(t, []string{"zz"}, masterStatusRaw(t, m.addr()).RememberedPokes)
}

func TestReRegisterReplacesTargets(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w := newFake(t, m.addr(), "w", "a")
	w.register("b")
	st := masterStatus(t, m.addr(), false)
	require.Len(t, st.Workers, 1, "a re-register is not a second worker")
	require.Equal(t, []string{"b"}, st.Workers[0].Targets)
	require.NoError(t, client(t, m.addr(), "").Poke(ctxFor(t, 5*time.Second), []string{"a"}))
	w.quiet(rpc.ReqPoll, 0, quietFor)
}

func TestWorkersSharingANameAreTwoWorkers(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w1 := newFake(t, m.addr(), "web", "a")
	w2 := newFake(t, m.addr(), "web", "a")
	require.Equal(t, []string{"web", "web"}, workerNames(masterStatus(t, m.addr(), false)))
	require.NoError(t, client(t, m.addr(), "").Poke(ctxFor(t, 5*time.Second), []string{"a"}))
	w1.waitFor(rpc.ReqPoll, 1)
	w2.waitFor(rpc.ReqPoll, 1)
	// One leaving does not take the other along.
	require.NoError(t, w1.conn.Close())
	eventually(t, func() bool { return len(masterStatus(t, m.addr(), false).Workers) == 1 }, "closed worker still registered")
	require.NoError(t, client(t, m.addr(), "").Poke(ctxFor(t, 5*time.Second), []string{"a"}))
	w2.waitFor(rpc.ReqPoll, 2)
}

func TestPauseAndContinueFanOut(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w1 := newFake(t, m.addr(), "w1", "a")
	w2 := newFake(t, m.addr(), "w2", "a", "b")
	w3 := newFake(t, m.addr(), "w3", "c")
	c := client(t, m.addr(), "")
	ctx := ctxFor(t, 10*time.Second)

	// The answer comes once every worker concerned has taken it.
	require.NoError(t, c.Pause(ctx, []string{"b"}))
	require.Equal(t, []string{"b"}, w2.received(rpc.ReqPause)[0].targets)
	require.Empty(t, w1.received(rpc.ReqPause))
	require.Empty(t, w3.received(rpc.ReqPause))

	require.NoError(t, c.Continue(ctx, []string{"c", "a"}))
	require.Equal(t, []string{"a"}, w1.received(rpc.ReqContinue)[0].targets)
	require.Equal(t, []string{"a"}, w2.received(rpc.ReqContinue)[0].targets)
	require.Equal(t, []string{"c"}, w3.received(rpc.ReqContinue)[0].targets)

	// No targets: every worker, with no targets (all of its own).
	require.NoError(t, c.Pause(ctx, nil))
	for _, w := range []*fakeWorker{w1, w2, w3} {
		ps := w.received(rpc.ReqPause)
		require.Nil(t, ps[len(ps)-1].targets, w.name)
		require.JSONEq(t, `{}`, string(ps[len(ps)-1].data), w.name)
	}

	// Targets nobody serves: nothing to do, and that is fine.
	require.NoError(t, c.Pause(ctx, []string{"nobody"}))

	// A worker that refuses is named in the error; the others got it.
	w3.pauseErr = errors.New("not today")
	err := c.Pause(ctx, []string{"a", "c"})
	require.ErrorContains(t, err, "pause reached 2 of 3 workers; worker w3 (127.0.0.1:")
	require.ErrorContains(t, err, "): not today")
	require.Len(t, w1.received(rpc.ReqPause), 2, "all, then a")
}

func TestStatus(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RequestTimeout = Duration(300 * time.Millisecond)
	m := startMaster(t, cfg)
	w1 := newFake(t, m.addr(), "w1", "a", "b")
	w1.status = func(ctx context.Context) (any, error) {
		return json.RawMessage(`{"targets":{"a":{"paused":false,"concurrency":2,"length":1}},"jobPromisesCount":0,` +
			`"memoryUsage":{"rss":5,"external":7},"futureKey":[1,2]}`), nil
	}
	stuck := newFake(t, m.addr(), "stuck", "c")
	stuck.status = func(ctx context.Context) (any, error) {
		<-ctx.Done() // never answers while the connection lives
		return nil, ctx.Err()
	}
	broken := newFake(t, m.addr(), "broken")
	broken.status = func(context.Context) (any, error) { return nil, errors.New("disk on fire") }

	st := masterStatus(t, m.addr(), false)
	require.Equal(t, []string{"broken", "stuck", "w1"}, workerNames(st))
	require.Equal(t, "w1", st.Workers[0].Name, "in registration order")
	require.Equal(t, "127.0.0.1", st.Workers[0].RemoteAddr)
	require.Equal(t, w1.conn.LocalAddr().(*net.TCPAddr).Port, st.Workers[0].RemotePort)
	require.Equal(t, []string{"a", "b"}, st.Workers[0].Targets)
	require.Equal(t, []string{}, st.Workers[2].Targets)
	for _, w := range st.Workers {
		require.Nil(t, w.WorkerStatus)
		require.Empty(t, w.WorkerStatusError)
	}
	require.Positive(t, st.MemoryUsage.HeapUsed)
	require.Empty(t, w1.received(rpc.ReqStatus), "without poll_workers no worker is asked")

	// poll_workers: each worker's own answer, passed through as it came;
	// the stuck one cannot hold the answer beyond request_timeout.
	raw := rawCall(t, m.addr(), `[0,{"no":5,"type":"status","data":{"poll_workers":true}}]`)
	var ans struct {
		Workers []struct {
			Name              string          `json:"name"`
			WorkerStatus      json.RawMessage `json:"workerStatus"`
			WorkerStatusError string          `json:"workerStatusError"`
		} `json:"workers"`
	}
	require.NoError(t, json.Unmarshal(raw, &ans))
	require.Len(t, ans.Workers, 3)
	require.JSONEq(t, `{"targets":{"a":{"paused":false,"concurrency":2,"length":1}},"jobPromisesCount":0,`+
		`"memoryUsage":{"rss":5,"external":7},"futureKey":[1,2]}`, string(ans.Workers[0].WorkerStatus))
	require.Empty(t, ans.Workers[0].WorkerStatusError)
	require.Nil(t, ans.Workers[1].WorkerStatus)
	require.Regexp(t, `^worker stuck \(127\.0\.0\.1:\d+\): no answer within request_timeout \(300ms\)$`, ans.Workers[1].WorkerStatusError)
	require.Regexp(t, `^worker broken \(127\.0\.0\.1:\d+\): disk on fire$`, ans.Workers[2].WorkerStatusError)

	// The typed client reads it too.
	st = masterStatus(t, m.addr(), true)
	require.Equal(t, 2, st.Workers[0].WorkerStatus.Targets["a"].Concurrency)
}

// rawCall sends one request as raw bytes and returns the data of its answer.
func rawCall(t *testing.T, addr, request string) json.RawMessage {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte(request + "\x04"))
	require.NoError(t, err)
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	msg, err := bufio.NewReader(nc).ReadString(rpc.EOT)
	require.NoError(t, err)
	var resp []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSuffix(msg, "\x04")), &resp), msg)
	require.Len(t, resp, 2)
	var body struct {
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	}
	require.NoError(t, json.Unmarshal(resp[1], &body))
	require.Empty(t, body.Error)
	return body.Data
}

// masterStatusRaw reads the status with the extensions rpc.MasterStatus
// leaves out.
func masterStatusRaw(t *testing.T, addr string) *statusAnswer {
	t.Helper()
	var ans statusAnswer
	require.NoError(t, json.Unmarshal(rawCall(t, addr, `[0,{"no":1,"type":"status"}]`), &ans))
	return &ans
}
