package master

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/rpc/rpctest"
)

// waitTimeout bounds every wait for something that should happen.
const waitTimeout = 15 * time.Second

// testConfig is a config for an in-process master on a free port, with
// short intervals.
func testConfig() *Config {
	c := DefaultConfig()
	c.path = "test.toml"
	c.Listen = "127.0.0.1:0"
	c.PingInterval = Duration(time.Second)
	c.PokeThrottleInterval = Duration(50 * time.Millisecond)
	c.RequestTimeout = Duration(time.Second)
	return c
}

// testMaster is a master running in-process.
type testMaster struct {
	*Master
	logs *jobdtest.SyncBuffer
}

// startMaster runs a master until the test ends, and prints its log when
// the test failed.
func startMaster(t testing.TB, cfg *Config) *testMaster {
	t.Helper()
	logs := &jobdtest.SyncBuffer{}
	m := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Version: "test"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("master did not start: %v", err)
	case <-time.After(waitTimeout):
		cancel()
		t.Fatal("master did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("master did not stop")
		}
		if t.Failed() {
			t.Logf("--- master log ---\n%s", logs.String())
		}
	})
	return &testMaster{Master: m, logs: logs}
}

func (m *testMaster) addr() string { return m.Addr().String() }

// client dials the master as a client (jobctl, PHP) would.
func client(t testing.TB, addr, password string) *rpc.Conn {
	t.Helper()
	c, err := rpc.Dial(context.Background(), addr, rpc.DialOptions{Password: password, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// ctxFor is a context for one call.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10ms until it holds, or fails the test.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{waitTimeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call is one request a fake worker received.
type call struct {
	typ     string
	targets []string // poll, pause, continue: nil for "all"
	data    json.RawMessage
}

// fakeWorker is a worker in the test process: it dials the master,
// registers, records every request the master sends, and answers them like
// jobd would, or as its hooks say.
type fakeWorker struct {
	t    *testing.T
	name string
	conn *rpc.Conn

	mu    sync.Mutex
	calls []call

	// Hooks; nil: the default answer. Set them before the master can call.
	status     func(ctx context.Context) (any, error)
	runManual  func(ctx context.Context, ids []int64) (any, error)
	sendSignal func(ctx context.Context, jobs map[int64]int) (any, error)
	pauseErr   error
}

// newFake dials the master and registers with targets.
func newFake(t *testing.T, addr, name string, targets ...string) *fakeWorker {
	t.Helper()
	f := dialFake(t, addr, name)
	f.register(targets...)
	return f
}

// dialFake dials the master without registering.
func dialFake(t *testing.T, addr, name string) *fakeWorker {
	t.Helper()
	f := &fakeWorker{t: t, name: name}
	c, err := rpc.Dial(context.Background(), addr, rpc.DialOptions{Handler: rpc.HandlerFunc(f.serve), Timeout: 5 * time.Second})
	require.NoError(t, err)
	f.conn = c
	t.Cleanup(func() { c.Close() })
	return f
}

func (f *fakeWorker) register(targets ...string) {
	f.t.Helper()
	if targets == nil {
		targets = []string{}
	}
	require.NoError(f.t, f.conn.RegisterWorker(ctxFor(f.t, 5*time.Second), f.name, targets))
}

func (f *fakeWorker) serve(ctx context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
	c := call{typ: req.Type, data: append(json.RawMessage(nil), req.Data...)}
	switch req.Type {
	case rpc.ReqPoll, rpc.ReqPause, rpc.ReqContinue:
		var args rpc.TargetsArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		c.targets = args.Targets
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	switch req.Type {
	case rpc.ReqPoll:
		return rpc.OK, nil
	case rpc.ReqPause, rpc.ReqContinue:
		if f.pauseErr != nil {
			return nil, f.pauseErr
		}
		return rpc.OK, nil
	case rpc.ReqStatus:
		if f.status != nil {
			return f.status(ctx)
		}
		return map[string]any{"targets": map[string]any{}, "jobPromisesCount": 0, "memoryUsage": map[string]int{"rss": 1}, "name": f.name}, nil
	case rpc.ReqRunManual:
		var args rpc.RunManualArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		if f.runManual != nil {
			return f.runManual(ctx, args.IDs)
		}
		jobs := map[string]any{}
		for _, id := range args.IDs {
			jobs[fmt.Sprint(id)] = map[string]any{"result": "ok", "code": 0, "signal": nil, "stdout": f.name, "stderr": ""}
		}
		return map[string]any{"jobs": jobs}, nil
	case rpc.ReqSendSignal:
		var args rpc.SendSignalArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		if f.sendSignal != nil {
			return f.sendSignal(ctx, args.IDs())
		}
		out := map[string]bool{}
		for id := range args.IDs() {
			out[fmt.Sprint(id)] = false
		}
		return out, nil
	}
	return nil, rpc.UnknownTypeError(req.Type)
}

// received returns the requests of type typ received so far.
func (f *fakeWorker) received(typ string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.typ == typ {
			out = append(out, c)
		}
	}
	return out
}

// waitFor waits until n requests of type typ have arrived.
func (f *fakeWorker) waitFor(typ string, n int) []call {
	f.t.Helper()
	eventually(f.t, func() bool { return len(f.received(typ)) >= n }, "%s: %d %s requests expected, got %d", f.name, n, typ, len(f.received(typ)))
	return f.received(typ)
}

// quiet checks that no request of type typ beyond n arrives for a while
// (long enough for a burst in flight to land: several throttle intervals).
func (f *fakeWorker) quiet(typ string, n int, d time.Duration) {
	f.t.Helper()
	time.Sleep(d)
	require.Len(f.t, f.received(typ), n, "%s: unexpected %s requests", f.name, typ)
}

// masterStatus asks the master for its status as a client sees it.
func masterStatus(t *testing.T, addr string, pollWorkers bool) *rpc.MasterStatus {
	t.Helper()
	st, err := client(t, addr, "").MasterStatus(ctxFor(t, 10*time.Second), pollWorkers)
	require.NoError(t, err)
	return st
}

// workerNames lists the registered workers' names, sorted.
func workerNames(st *rpc.MasterStatus) []string {
	var out []string
	for _, w := range st.Workers {
		out = append(out, w.Name)
	}
	slices.Sort(out)
	return out
}

// connPair returns an rpc.Conn (the master's end) and its peer.
func connPair(t *testing.T) (*rpc.Conn, *rpc.Conn) {
	t.Helper()
	a, b := rpctest.TCPPair(t)
	ca, cb := rpc.NewConn(a, rpc.ConnOptions{}), rpc.NewConn(b, rpc.ConnOptions{})
	t.Cleanup(func() {
		ca.Close()
		cb.Close()
	})
	return ca, cb
}
