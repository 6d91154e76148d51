package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; reaching it fails the test.
const waitTimeout = 10 * time.Second

// startServer listens on a free loopback port and serves until the test ends.
func startServer(t *testing.T, s *Server) *Server {
	t.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	require.NoError(t, s.Listen())
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-served)
	})
	return s
}

// okMux serves poll with "ok", set-target-concurrency with a validated
// answer, and echo with its data.
func okMux() *Mux {
	m := NewMux()
	m.Handle(ReqPoll, func(ctx context.Context, c *Conn, req *Request) (any, error) {
		var args TargetsArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		return OK, nil
	})
	m.Handle(ReqSetTargetConcurrency, func(ctx context.Context, c *Conn, req *Request) (any, error) {
		var args TargetConcurrencyArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		return OK, nil
	})
	m.Handle("echo", func(ctx context.Context, c *Conn, req *Request) (any, error) {
		return req.Data, nil
	})
	return m
}

// rawConn is a client that speaks bytes, to check the server byte for byte.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	dec *Decoder
}

func dialRaw(t *testing.T, addr net.Addr) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, dec: NewDecoder(nc, 0)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetWriteDeadline(time.Now().Add(waitTimeout)))
	_, err := io.WriteString(r.nc, s)
	require.NoError(r.t, err)
}

// next returns the next frame, EOT included, as a string.
func (r *rawConn) next() string {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	b, err := r.dec.Next()
	require.NoError(r.t, err)
	return string(b) + "\x04"
}

// roundTrip sends s and returns the next frame.
func (r *rawConn) roundTrip(s string) string {
	r.t.Helper()
	r.send(s)
	return r.next()
}

// requireClosed checks that the server closes the connection (after any
// frames still to come, which are returned).
func (r *rawConn) requireClosed() []string {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	var frames []string
	for {
		b, err := r.dec.Next()
		if err != nil {
			var netErr net.Error
			require.False(r.t, errors.As(err, &netErr) && netErr.Timeout(), "connection still open: %v", err)
			return frames
		}
		frames = append(frames, string(b)+"\x04")
	}
}

// requireAlive checks that the connection still answers a ping.
func (r *rawConn) requireAlive() {
	r.t.Helper()
	require.Equal(r.t, "[3]\x04", r.roundTrip("[2]\x04"))
}

// eot replaces ␄ with the EOT byte, so tests read like PROTOCOL.md.
func eot(s string) string { return strings.ReplaceAll(s, "␄", "\x04") }

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, waitTimeout, 5*time.Millisecond, msg)
}
