package rpc

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDialErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = Dial(t.Context(), addr, DialOptions{})
	require.EqualError(t, err, "connect to "+addr+": connection refused")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Dial(ctx, addr, DialOptions{Timeout: time.Second})
	require.ErrorIs(t, err, context.Canceled)
}

// recorder is a peer that notes each request and answers from a table.
type recorder struct {
	mu      sync.Mutex
	got     []string // "type data"
	answers map[string]any
}

func (r *recorder) ServeRPC(ctx context.Context, c *Conn, req *Request) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req.Type+" "+string(req.Data))
	if a, ok := r.answers[req.Type]; ok {
		return json.RawMessage(a.(string)), nil
	}
	return OK, nil
}

func (r *recorder) last(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.got)
	return r.got[len(r.got)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func TestTypedCalls(t *testing.T) {
	t.Parallel()
	rec := &recorder{answers: map[string]any{
		ReqStatus:     `{"targets":{"t1":{"paused":false,"concurrency":5,"length":2}},"jobPromisesCount":0,"memoryUsage":{"rss":12345678}}`,
		ReqRunManual:  `{"jobs":{"1":{"result":"ok","code":0,"signal":null,"stdout":"hi","stderr":""}},"errors":{"2":"job 2 not found"}}`,
		ReqSendSignal: `{"5":true}`,
	}}
	s := startServer(t, &Server{Handler: rec})
	c, err := Dial(t.Context(), s.ListenAddr().String(), DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()

	require.NoError(t, c.Poll(ctx, nil))
	require.Equal(t, "poll ", rec.last(t), "all targets: data omitted")
	require.NoError(t, c.Poll(ctx, []string{"a", "b"}))
	require.Equal(t, `poll {"targets":["a","b"]}`, rec.last(t))
	require.NoError(t, c.Pause(ctx, []string{"a"}))
	require.Equal(t, `pause {"targets":["a"]}`, rec.last(t))
	require.NoError(t, c.Continue(ctx, nil))
	require.Equal(t, "continue ", rec.last(t))

	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, "status ", rec.last(t))
	require.Equal(t, &WorkerStatus{
		Targets:     map[string]TargetStatus{"t1": {Concurrency: 5, Length: 2}},
		MemoryUsage: MemoryUsage{RSS: 12345678},
	}, st, "an original jobd's answer decodes")

	rm, err := c.RunManual(ctx, []int64{1, 2})
	require.NoError(t, err)
	require.Equal(t, `run-manual {"ids":[1,2]}`, rec.last(t))
	zero := 0
	require.Equal(t, &RunManualReply{
		Jobs:   map[string]JobResult{"1": {Result: "ok", Code: &zero, Stdout: "hi"}},
		Errors: map[string]string{"2": "job 2 not found"},
	}, rm)

	sig, err := c.SendSignal(ctx, map[int64]int{5: 15})
	require.NoError(t, err)
	require.Equal(t, `send-signal {"jobs":{"5":15}}`, rec.last(t))
	require.Equal(t, SendSignalReply{"5": true}, sig)

	require.NoError(t, c.AddTarget(ctx, "a", 2))
	require.Equal(t, `add-target {"target":"a","concurrency":2}`, rec.last(t))
	require.NoError(t, c.RemoveTarget(ctx, "a"))
	require.Equal(t, `remove-target {"target":"a"}`, rec.last(t))
	require.NoError(t, c.SetTargetConcurrency(ctx, "a", 7))
	require.Equal(t, `set-target-concurrency {"target":"a","concurrency":7}`, rec.last(t))

	require.NoError(t, c.RegisterWorker(ctx, "web-3", nil))
	require.Equal(t, `register-worker {"targets":[],"name":"web-3"}`, rec.last(t))
	require.NoError(t, c.Poke(ctx, []string{"a"}))
	require.Equal(t, `poke {"targets":["a"]}`, rec.last(t))

	rec.answers[ReqStatus] = `{"workers":[{"name":"w","remoteAddr":"10.0.0.1","remotePort":4000,"targets":["a"],"workerStatusError":"timeout"}],"memoryUsage":{"rss":1}}`
	ms, err := c.MasterStatus(ctx, false)
	require.NoError(t, err)
	require.Equal(t, "status ", rec.last(t))
	require.Equal(t, &MasterStatus{
		Workers:     []WorkerInfo{{Name: "w", RemoteAddr: "10.0.0.1", RemotePort: 4000, Targets: []string{"a"}, WorkerStatusError: "timeout"}},
		MemoryUsage: MemoryUsage{RSS: 1},
	}, ms)
	_, err = c.MasterStatus(ctx, true)
	require.NoError(t, err)
	require.Equal(t, `status {"poll_workers":true}`, rec.last(t))

	_, err = c.MasterRunManual(ctx, []ManualJob{{ID: 1, Target: "a"}})
	require.NoError(t, err)
	require.Equal(t, `run-manual {"jobs":[{"id":1,"target":"a"}]}`, rec.last(t))
	_, err = c.MasterSendSignal(ctx, []SignalJob{{ID: 1, Signal: 9, Target: "a"}})
	require.NoError(t, err)
	require.Equal(t, `send-signal {"jobs":[{"id":1,"signal":9,"target":"a"}]}`, rec.last(t))
}

// Bad arguments fail before anything is sent, with the serving side's words.
func TestTypedCallsValidateFirst(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := startServer(t, &Server{Handler: rec})
	c, err := Dial(t.Context(), s.ListenAddr().String(), DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{c.AddTarget(ctx, "a", 0), "concurrency must be a positive integer"},
		{c.SetTargetConcurrency(ctx, "", 1), "target must be a non-empty string"},
		{c.RemoveTarget(ctx, ""), "target must be a non-empty string"},
		{c.Poll(ctx, []string{}), "targets must not be empty"},
		{c.Pause(ctx, []string{""}), "targets must not contain an empty name"},
		{c.Poke(ctx, nil), "targets must not be empty"},
		{c.RegisterWorker(ctx, "w", []string{""}), "targets must not contain an empty name"},
		{second(c.RunManual(ctx, nil)), "ids must not be empty"},
		{second(c.SendSignal(ctx, map[int64]int{1: 0})), "job 1: signal must be an integer from 1 to 64, got 0"},
		{second(c.MasterRunManual(ctx, nil)), "jobs must not be empty"},
		{second(c.MasterSendSignal(ctx, []SignalJob{{ID: 1, Signal: 9}})), "job 1: target must be a non-empty string"},
	} {
		require.EqualError(t, tc.err, tc.want)
	}
	require.Zero(t, rec.count(), "nothing was sent")
}

func second[T any](_ T, err error) error { return err }
