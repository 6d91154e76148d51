package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example exchanges of PROTOCOL.md, byte for byte, over TCP.
func TestServerProtocolExamples(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux()})
	c := dialRaw(t, s.ListenAddr())

	require.Equal(t, eot(`[1,{"no":7,"data":"ok"}]␄`),
		c.roundTrip(eot(`[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]␄`)))
	require.Equal(t, eot(`[1,{"no":8,"error":"concurrency must be a positive integer"}]␄`),
		c.roundTrip(eot(`[0,{"no":8,"type":"set-target-concurrency","data":{"target":"any","concurrency":0}}]␄`)))
	got := c.roundTrip(eot(`{"oops"␄`))
	require.True(t, strings.HasPrefix(got, `[1,{"no":0,"error":"malformed message: `), got)
	require.Equal(t, eot(`[1,{"no":0,"error":"malformed message: invalid JSON (unexpected end of JSON input): {\"oops\""}]␄`), got)
	require.Equal(t, eot(`[3]␄`), c.roundTrip(eot(`[2]␄`)))
}

// The same exchanges sent in one write come back as the same frames (the two
// requests are served concurrently, so their answers may swap).
func TestServerProtocolExamplesInOneWrite(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux()})
	c := dialRaw(t, s.ListenAddr())
	c.send(eot(`[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]␄` +
		`[0,{"no":8,"type":"set-target-concurrency","data":{"target":"any","concurrency":0}}]␄` +
		`{"oops"␄[2]␄`))
	var got []string
	for range 4 {
		got = append(got, c.next())
	}
	require.ElementsMatch(t, []string{
		eot(`[1,{"no":7,"data":"ok"}]␄`),
		eot(`[1,{"no":8,"error":"concurrency must be a positive integer"}]␄`),
		eot(`[1,{"no":0,"error":"malformed message: invalid JSON (unexpected end of JSON input): {\"oops\""}]␄`),
		eot(`[3]␄`),
	}, got)
}

func TestServerBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux()})
	other := dialRaw(t, s.ListenAddr())
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", `hello␄`, `[1,{"no":0,"error":"malformed message: invalid JSON (invalid character 'h' looking for beginning of value): hello"}]␄`},
		{"empty message", `␄`, `[1,{"no":0,"error":"malformed message: empty message"}]␄`},
		{"object, not an array", `{"no":1}␄`, `[1,{"no":0,"error":"malformed message: expected a JSON array, got {\"no\":1}"}]␄`},
		{"string, not an array", `"x"␄`, `[1,{"no":0,"error":"malformed message: expected a JSON array, got \"x\""}]␄`},
		{"null", `null␄`, `[1,{"no":0,"error":"malformed message: expected a JSON array, got null"}]␄`},
		{"empty array", `[]␄`, `[1,{"no":0,"error":"malformed message: empty array"}]␄`},
		{"unknown message type", `[9]␄`, `[1,{"no":0,"error":"malformed message: unknown message type 9"}]␄`},
		{"message type not a number", `["0"]␄`, `[1,{"no":0,"error":"malformed message: message type must be an integer, got \"0\""}]␄`},
		{"request without body", `[0]␄`, `[1,{"no":0,"error":"malformed message: a request is [0,{...}], got [0]"}]␄`},
		{"request without no", `[0,{"type":"poll"}]␄`, `[1,{"no":0,"error":"malformed message: request without \"no\": {\"type\":\"poll\"}"}]␄`},
		{"request with a string no", `[0,{"no":"7","type":"poll"}]␄`, `[1,{"no":0,"error":"malformed message: request \"no\" must be a non-zero integer, got \"7\""}]␄`},
		{"request with no 0", `[0,{"no":0,"type":"poll"}]␄`, `[1,{"no":0,"error":"malformed message: request \"no\" must be a non-zero integer, got 0"}]␄`},
		{"request without type", `[0,{"no":5}]␄`, `[1,{"no":5,"error":"malformed message: request without \"type\""}]␄`},
		{"request with a numeric type", `[0,{"no":5,"type":3}]␄`, `[1,{"no":5,"error":"malformed message: request \"type\" must be a non-empty string, got 3"}]␄`},
		{"data an array", `[0,{"no":6,"type":"poll","data":[1,2]}]␄`, `[1,{"no":6,"error":"malformed message: request \"data\" must be an object, got [1,2]"}]␄`},
		{"data a string", `[0,{"no":6,"type":"poll","data":"x"}]␄`, `[1,{"no":6,"error":"malformed message: request \"data\" must be an object, got \"x\""}]␄`},
		{"unknown request type", `[0,{"no":4,"type":"nope"}]␄`, `[1,{"no":4,"error":"unknown request type: 'nope'"}]␄`},
		{"bad arguments", `[0,{"no":3,"type":"poll","data":{"targets":"a"}}]␄`, `[1,{"no":3,"error":"targets must be an array of target names, got \"a\""}]␄`},
		{"response without no", `[1,{"data":1}]␄`, `[1,{"no":0,"error":"malformed message: response without \"no\": {\"data\":1}"}]␄`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.ListenAddr())
			require.Equal(t, eot(tc.want), c.roundTrip(eot(tc.in)))
			c.requireAlive()
			require.Equal(t, eot(`[1,{"no":1,"data":"ok"}]␄`), c.roundTrip(eot(`[0,{"no":1,"type":"poll"}]␄`)))
			other.requireAlive()
		})
	}
}

func TestServerMessageTooLarge(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux()})
	other := dialRaw(t, s.ListenAddr())
	c := dialRaw(t, s.ListenAddr())

	const size = 20 << 20
	sent := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("1"), 64<<10)
		var err error
		for n := 0; n < size && err == nil; n += len(chunk) {
			_, err = c.nc.Write(chunk)
		}
		sent <- err
	}()
	frames := c.requireClosed()
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"message too large: more than 16777216 bytes without an end-of-message byte"}]␄`)}, frames)
	_ = c.nc.Close()
	<-sent // the write fails or finishes; either way the goroutine is done
	other.requireAlive()
}

func TestServerIdleClientIsClosed(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux(), IdleTimeout: 200 * time.Millisecond})
	start := time.Now()
	c := dialRaw(t, s.ListenAddr())
	frames := c.requireClosed()
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"idle timeout: nothing received for 200ms"}]␄`)}, frames)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	dialRaw(t, s.ListenAddr()).requireAlive()
}

// A client waiting for a slow answer (run-manual can take minutes) sends
// nothing meanwhile; it is not idle until it has its answer.
func TestServerIdleTimeoutWaitsForSlowHandler(t *testing.T) {
	t.Parallel()
	const idle = 100 * time.Millisecond
	m := NewMux()
	m.Handle("slow", func(ctx context.Context, c *Conn, req *Request) (any, error) {
		select {
		case <-time.After(4 * idle): // the work
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	s := startServer(t, &Server{Handler: m, IdleTimeout: idle})
	c := dialRaw(t, s.ListenAddr())
	require.Equal(t, eot(`[1,{"no":1,"data":"done"}]␄`), c.roundTrip(eot(`[0,{"no":1,"type":"slow"}]␄`)))
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"idle timeout: nothing received for 100ms"}]␄`)}, c.requireClosed())
}

func TestServerIdleTimeoutCountsEveryMessage(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux(), IdleTimeout: 300 * time.Millisecond})
	c := dialRaw(t, s.ListenAddr())
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		c.requireAlive()
		time.Sleep(50 * time.Millisecond) // the client's pace, not a wait for the server
	}
}

func TestServerThousandConnections(t *testing.T) {
	t.Parallel()
	var open, peak atomic.Int32
	s := startServer(t, &Server{
		Handler: okMux(),
		OnConnect: func(*Conn) {
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		},
		OnDisconnect: func(*Conn) { open.Add(-1) },
	})
	const n = 1000
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			conns[i], errs[i] = oneRawCall(s.ListenAddr(), i+1)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if conns[i] != nil {
			defer conns[i].Close()
		}
		require.NoError(t, errs[i])
	}
	require.Equal(t, int32(n), peak.Load(), "all connections open at once")
	dialRaw(t, s.ListenAddr()).requireAlive()
}

// oneRawCall connects, sends one request and checks its answer; the
// connection is left open.
func oneRawCall(addr net.Addr, no int) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr.String(), waitTimeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := fmt.Fprintf(nc, "[0,{\"no\":%d,\"type\":\"poll\"}]\x04", no); err != nil {
		return nc, err
	}
	got, err := NewDecoder(nc, 0).Next()
	if err != nil {
		return nc, err
	}
	if want := fmt.Sprintf(`[1,{"no":%d,"data":"ok"}]`, no); string(got) != want {
		return nc, fmt.Errorf("got %s, want %s", got, want)
	}
	return nc, nil
}

func TestServerMaxConns(t *testing.T) {
	t.Parallel()
	var open atomic.Int32
	s := startServer(t, &Server{
		Handler:      okMux(),
		MaxConns:     2,
		OnConnect:    func(*Conn) { open.Add(1) },
		OnDisconnect: func(*Conn) { open.Add(-1) },
	})
	a := dialRaw(t, s.ListenAddr())
	b := dialRaw(t, s.ListenAddr())
	a.requireAlive()
	b.requireAlive()

	refused := dialRaw(t, s.ListenAddr())
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"too many connections (limit 2)"}]␄`)}, refused.requireClosed())

	require.NoError(t, a.nc.Close())
	eventually(t, func() bool { return open.Load() == 1 }, "closed connection not released")
	dialRaw(t, s.ListenAddr()).requireAlive()
	b.requireAlive()
}

func TestServerUnknownTypeWithoutHandler(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{})
	c := dialRaw(t, s.ListenAddr())
	require.Equal(t, eot(`[1,{"no":2,"error":"unknown request type: 'poll'"}]␄`), c.roundTrip(eot(`[0,{"no":2,"type":"poll"}]␄`)))
}

func TestServerHandlerPanicIsAnError(t *testing.T) {
	t.Parallel()
	m := NewMux()
	m.Handle("boom", func(context.Context, *Conn, *Request) (any, error) { panic("kaboom") })
	s := startServer(t, &Server{Handler: m})
	c := dialRaw(t, s.ListenAddr())
	require.Equal(t, eot(`[1,{"no":2,"error":"internal error"}]␄`), c.roundTrip(eot(`[0,{"no":2,"type":"boom"}]␄`)))
	c.requireAlive()
}

func TestServerListenErrorNamesAddress(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{})
	addr := s.ListenAddr().String()
	err := (&Server{Addr: addr}).Listen()
	require.EqualError(t, err, "listen "+addr+": address already in use")
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.Error(t, (&Server{}).Serve(context.Background()), "Serve before Listen")
}

func TestServerShutdownLetsHandlersAnswer(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	m := NewMux()
	m.Handle("slow", func(ctx context.Context, c *Conn, req *Request) (any, error) {
		close(started)
		<-release
		return "done", nil
	})
	s := &Server{Addr: "127.0.0.1:0", Handler: m}
	require.NoError(t, s.Listen())
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()

	c, err := Dial(t.Context(), s.ListenAddr().String(), DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	answer := make(chan error, 1)
	var reply string
	go func() { answer <- c.Call(t.Context(), "slow", nil, &reply) }()
	<-started

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(t.Context()) }()
	require.NoError(t, <-served, "Serve returns once Shutdown stops accepting")
	eventually(t, func() bool {
		nc, err := net.Dial("tcp", s.ListenAddr().String())
		if err == nil {
			_ = nc.Close()
		}
		return err != nil
	}, "still accepting after Shutdown")
	// A request arriving during the shutdown is refused.
	err = c.Call(t.Context(), "slow", nil, nil)
	require.EqualError(t, err, "server is shutting down")

	close(release)
	require.NoError(t, <-answer)
	require.Equal(t, "done", reply)
	require.NoError(t, <-shutdown)
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("connection still open after Shutdown")
	}
}

func TestServerShutdownDeadlineCancelsHandlers(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	m := NewMux()
	m.Handle("stuck", func(ctx context.Context, c *Conn, req *Request) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	s := &Server{Addr: "127.0.0.1:0", Handler: m}
	require.NoError(t, s.Listen())
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	c, err := Dial(t.Context(), s.ListenAddr().String(), DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	answer := make(chan error, 1)
	go func() { answer <- c.Call(t.Context(), "stuck", nil, nil) }()
	<-started

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	require.NoError(t, <-served)
	require.ErrorIs(t, <-answer, ErrPeerClosed)
}

func TestServerServeStopsWithContext(t *testing.T) {
	t.Parallel()
	var disconnected atomic.Bool
	s := &Server{Addr: "127.0.0.1:0", Handler: okMux(), OnDisconnect: func(*Conn) { disconnected.Store(true) }}
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	c := dialRaw(t, s.ListenAddr())
	c.requireAlive()
	cancel()
	require.NoError(t, <-served)
	require.Empty(t, c.requireClosed())
	require.True(t, disconnected.Load())
}

// The master's pattern: a worker dials, registers, and the master then sends
// its own requests back over the same connection.
func TestServerCallsBackOverTheSameConnection(t *testing.T) {
	t.Parallel()
	registered := make(chan *Conn, 1)
	master := NewMux()
	master.Handle(ReqRegisterWorker, func(ctx context.Context, c *Conn, req *Request) (any, error) {
		var args RegisterWorkerArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		registered <- c
		return OK, nil
	})
	s := startServer(t, &Server{Handler: master, Password: "secret"})

	var polled atomic.Value
	worker := NewMux()
	worker.Handle(ReqPoll, func(ctx context.Context, c *Conn, req *Request) (any, error) {
		var args TargetsArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		polled.Store(args.Targets)
		return OK, nil
	})
	w, err := Dial(t.Context(), s.ListenAddr().String(), DialOptions{Password: "secret", Handler: worker})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.RegisterWorker(t.Context(), "w1", []string{"a", "b"}))

	mc := <-registered
	require.NoError(t, mc.Poll(t.Context(), []string{"a"}))
	require.Equal(t, []string{"a"}, polled.Load())
}

func TestServerHooks(t *testing.T) {
	t.Parallel()
	events := make(chan string, 2)
	s := startServer(t, &Server{
		OnConnect:    func(c *Conn) { events <- "connect " + c.LocalAddr().String() },
		OnDisconnect: func(c *Conn) { events <- fmt.Sprintf("disconnect %v", errors.Is(c.Err(), ErrPeerClosed)) },
	})
	c := dialRaw(t, s.ListenAddr())
	require.Equal(t, "connect "+s.ListenAddr().String(), <-events)
	c.requireAlive()
	require.NoError(t, c.nc.Close())
	require.Equal(t, "disconnect true", <-events)
}

func TestServerSurvivesGarbage(t *testing.T) {
	t.Parallel()
	s := startServer(t, &Server{Handler: okMux()})
	c := dialRaw(t, s.ListenAddr())
	garbage := []string{"\x00\x01\x02", "[0,{\"no\":1e400,\"type\":\"x\"}]", "[[[[[[[[[[", "\xff\xfe", "[1,{\"no\":99,\"data\":1}]", "[0,{\"no\":1,\"type\":\"poll\",\"data\":{\"targets\":[\"\xff\"]}}]"}
	for _, g := range garbage {
		c.send(g + "\x04")
	}
	c.send("[2]\x04")
	var pong, answer bool
	for !pong || !answer {
		switch frame := c.next(); {
		case frame == "[3]\x04":
			pong = true
		case strings.HasPrefix(frame, `[1,{"no":1,`):
			answer = true
		default:
			require.True(t, strings.HasPrefix(frame, `[1,{"no":0,"error":"malformed message: `), frame)
		}
	}
	c.requireAlive()
}
