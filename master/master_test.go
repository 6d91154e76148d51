package master

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

func TestRunFailsWhenThePortIsTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := testConfig()
	cfg.Listen = ln.Addr().String()
	err = New(cfg, Options{}).Run(context.Background())
	require.EqualError(t, err, "listen "+cfg.Listen+": address already in use")
}

func TestShutdownEndsRequestsInFlight(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RequestTimeout = Duration(200 * time.Millisecond)
	m := New(cfg, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready()
	addr := m.Addr().String()
	w := newFake(t, addr, "w", "a")
	started := make(chan struct{})
	w.runManual = func(ctx context.Context, _ []int64) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c := client(t, addr, "")
	type result struct {
		reply *rpc.RunManualReply
		err   error
	}
	callDone := make(chan result, 1)
	go func() {
		r, err := c.MasterRunManual(context.Background(), jobsOf("a", 1))
		callDone <- result{r, err}
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
	// The run-manual ends without its job: the client gets the job's error
	// if its own connection is closed after the worker's, or loses the
	// connection otherwise; it never hangs.
	if r := <-callDone; r.err == nil {
		require.Contains(t, r.reply.Errors["1"], "worker w (127.0.0.1:")
	}
	eventually(t, func() bool {
		select {
		case <-w.conn.Done():
			return true
		default:
			return false
		}
	}, "the worker's connection is still open")
}

func TestReload(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	m := startMaster(t, cfg)
	w := newFake(t, m.addr(), "stuck", "a")
	w.status = func(ctx context.Context) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	next := testConfig()
	next.RequestTimeout = Duration(150 * time.Millisecond)
	next.Listen = "127.0.0.1:1"                    // needs a restart: kept
	next.PingInterval = Duration(10 * time.Minute) // beyond the idle timeout: kept
	next.PokeThrottleInterval = Duration(time.Second)
	m.Reload(next)
	require.Equal(t, cfg.Listen, m.config().Listen)
	require.Equal(t, cfg.PingInterval, m.config().PingInterval)
	require.Equal(t, time.Second, m.config().PokeThrottleInterval.D())
	require.Contains(t, m.logs.String(), "a ping_interval this long needs a restart")
	st := masterStatus(t, m.addr(), true)
	require.Regexp(t, `no answer within request_timeout \(150ms\)$`, st.Workers[0].WorkerStatusError)
	require.Contains(t, m.logs.String(), "listen, password and always_allow_localhost change only at a restart")
}
