package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobd/jobd/rpc/rpctest"
	"github.com/stretchr/testify/require"
)

// connPair returns two Conns talking to each other.
func connPair(t *testing.T, aOpt, bOpt ConnOptions) (*Conn, *Conn) {
	t.Helper()
	na, nb := rpctest.TCPPair(t)
	a, b := NewConn(na, aOpt), NewConn(nb, bOpt)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// rawPair returns a Conn and a raw byte-level peer.
func rawPair(t *testing.T, opt ConnOptions) (*Conn, *rawConn) {
	t.Helper()
	na, nb := rpctest.TCPPair(t)
	c := NewConn(na, opt)
	t.Cleanup(func() { _ = c.Close() })
	return c, &rawConn{t: t, nc: nb, dec: NewDecoder(nb, 0)}
}

// nextRequest reads the next frame as a request.
func (r *rawConn) nextRequest() *Request {
	r.t.Helper()
	frame := r.next()
	m, err := ParseMessage([]byte(strings.TrimSuffix(frame, "\x04")))
	require.NoError(r.t, err)
	req, ok := m.(*Request)
	require.True(r.t, ok, "not a request: %s", frame)
	return req
}

func echo(ctx context.Context, c *Conn, req *Request) (any, error) {
	return req.Data, nil
}

func TestConnCallsGoBothWays(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, ConnOptions{Handler: HandlerFunc(echo)}, ConnOptions{Handler: HandlerFunc(echo)})
	var got map[string]string
	require.NoError(t, a.Call(t.Context(), "echo", map[string]string{"from": "a"}, &got))
	require.Equal(t, map[string]string{"from": "a"}, got)
	require.NoError(t, b.Call(t.Context(), "echo", map[string]string{"from": "b"}, &got))
	require.Equal(t, map[string]string{"from": "b"}, got)
}

func TestConnConcurrentCallers(t *testing.T) {
	t.Parallel()
	slowEcho := func(ctx context.Context, c *Conn, req *Request) (any, error) {
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond) // shuffles the order of answers
		return req.Data, nil
	}
	a, _ := connPair(t, ConnOptions{}, ConnOptions{Handler: HandlerFunc(slowEcho)})
	const callers, calls = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			for j := range calls {
				want := fmt.Sprintf("caller %d call %d", i, j)
				var got struct{ S string }
				if err := a.Call(context.Background(), "echo", struct{ S string }{want}, &got); err != nil {
					errs <- err
					return
				}
				if got.S != want {
					errs <- fmt.Errorf("got %q, want %q", got.S, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	require.Empty(t, a.pending)
}

// writeRecorder records every Write on a net.Conn.
type writeRecorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func TestConnWritesEachMessageInOneWrite(t *testing.T) {
	t.Parallel()
	na, nb := rpctest.TCPPair(t)
	rec := &writeRecorder{Conn: na}
	a := NewConn(rec, ConnOptions{Handler: HandlerFunc(echo)})
	b := NewConn(nb, ConnOptions{Handler: HandlerFunc(echo)})
	defer a.Close()
	defer b.Close()
	big := strings.Repeat("x", 200<<10) // larger than a socket buffer
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			s := "small"
			if i%4 == 0 {
				s = big
			}
			var got map[string]string
			if err := a.Call(context.Background(), "echo", map[string]string{"s": s}, &got); err != nil {
				t.Error(err)
			}
			if err := b.Call(context.Background(), "echo", map[string]string{"s": s}, &got); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.writes, 64, "32 requests and 32 answers")
	for _, w := range rec.writes {
		require.Equal(t, 1, bytes.Count(w, []byte{EOT}), "one message per write")
		require.Equal(t, EOT, w[len(w)-1])
	}
}

func TestConnSendsPasswordWithFirstRequestOnly(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{Password: "pw"})
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Call(context.Background(), ReqPoll, nil, nil) }()
	}
	for i := range n {
		req := peer.nextRequest()
		if i == 0 {
			require.Equal(t, "pw", req.Password, "first request")
		} else {
			require.Empty(t, req.Password, "request %d", i)
		}
		peer.send(fmt.Sprintf("[1,{\"no\":%d,\"data\":\"ok\"}]\x04", req.No))
	}
	for range n {
		require.NoError(t, <-errs)
	}
}

func TestConnRequestWireForm(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	done := make(chan error, 2)
	go func() { done <- c.Call(context.Background(), ReqStatus, nil, nil) }()
	req := peer.nextRequest()
	require.Nil(t, req.Data, "nil args: data omitted")
	peer.send(fmt.Sprintf("[1,{\"no\":%d}]\x04", req.No))
	require.NoError(t, <-done)

	go func() { done <- c.Call(context.Background(), "x", map[string]string{"s": "<a&b>"}, nil) }()
	frame := peer.next()
	no := req.No + 1
	require.Equal(t, fmt.Sprintf("[0,{\"no\":%d,\"type\":\"x\",\"data\":{\"s\":\"<a&b>\"}}]\x04", no), frame, "no HTML escaping, like JSON.stringify")
	peer.send(fmt.Sprintf("[1,{\"no\":%d,\"data\":null}]\x04", no))
	require.NoError(t, <-done)
}

func TestConnRequestNumbers(t *testing.T) {
	t.Parallel()
	c, _ := rawPair(t, ConnOptions{})
	ch := make(chan *Response, 1)
	c.mu.Lock()
	c.lastNo = requestNoLimit - 2
	c.pending[requestNoLimit-1] = ch
	c.pending[1] = ch
	c.mu.Unlock()
	no, err := c.register(ch)
	require.NoError(t, err)
	require.Equal(t, int64(2), no, "skips numbers in use, wraps below the limit, never 0")
	no, err = c.register(ch)
	require.NoError(t, err)
	require.Equal(t, int64(3), no)

	fresh, _ := rawPair(t, ConnOptions{})
	require.Positive(t, fresh.lastNo+1)
	require.Less(t, fresh.lastNo, int64(requestNoLimit))
}

func TestConnAnswerFormsAndErrors(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	call := func(answer string) (string, error) {
		reply := "untouched"
		done := make(chan error, 1)
		go func() { done <- c.Call(context.Background(), "q", nil, &reply) }()
		req := peer.nextRequest()
		peer.send(fmt.Sprintf(answer, req.No))
		return reply, <-done
	}
	reply, err := call("[1,{\"no\":%d,\"data\":\"ok\"}]\x04")
	require.NoError(t, err)
	require.Equal(t, "ok", reply)

	reply, err = call("[1,{\"no\":%d}]\x04")
	require.NoError(t, err, "neither data nor error is data null")
	require.Equal(t, "untouched", reply)

	_, err = call("[1,{\"no\":%d,\"error\":\"target 'x' not found\"}]\x04")
	var remote *RemoteError
	require.ErrorAs(t, err, &remote)
	require.Equal(t, "target 'x' not found", err.Error())

	_, err = call("[1,{\"no\":%d,\"data\":{\"not\":\"a string\"}}]\x04")
	require.ErrorContains(t, err, "q: decode answer")
}

func TestConnCallContext(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "slow", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "slow: ")
	late := peer.nextRequest()

	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "slow", nil, nil) }()
	peer.nextRequest()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// A late answer is dropped; the connection goes on.
	peer.send(fmt.Sprintf("[1,{\"no\":%d,\"data\":1}]\x04", late.No))
	go func() { done <- c.Call(context.Background(), "next", nil, nil) }()
	req := peer.nextRequest()
	peer.send(fmt.Sprintf("[1,{\"no\":%d,\"data\":1}]\x04", req.No))
	require.NoError(t, <-done)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Empty(t, c.pending)
}

func TestConnCloseFailsPendingCalls(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "never", nil, nil) }()
	peer.nextRequest()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	<-c.Done()
	require.ErrorIs(t, c.Err(), ErrClosed)
	require.ErrorIs(t, c.Call(context.Background(), "after", nil, nil), ErrClosed)
	require.NoError(t, c.Close(), "Close twice")
	require.Empty(t, peer.requireClosed())
}

func TestConnPeerCloses(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "never", nil, nil) }()
	peer.nextRequest()
	require.NoError(t, peer.nc.Close())
	require.ErrorIs(t, <-done, ErrPeerClosed)
	<-c.Done()
	require.ErrorIs(t, c.Err(), ErrPeerClosed)
}

// A peer that dies with data unread resets the connection: that is the
// peer closing too, not some other read error.
func TestConnPeerResets(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "never", nil, nil) }()
	peer.nextRequest()
	// Unread data in the peer's buffer, then a close that discards it: RST.
	go func() { _ = c.Call(context.Background(), "unread", nil, nil) }()
	time.Sleep(50 * time.Millisecond)
	tcp, ok := peer.nc.(*net.TCPConn)
	require.True(t, ok)
	require.NoError(t, tcp.SetLinger(0))
	require.NoError(t, tcp.Close())
	err := <-done
	require.ErrorIs(t, err, ErrPeerClosed)
	require.Equal(t, "never: connection closed by peer (reset)", err.Error())
}

func TestConnHandlerContextEndsWithConnection(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	ended := make(chan error, 1)
	c, peer := rawPair(t, ConnOptions{Handler: HandlerFunc(func(ctx context.Context, c *Conn, req *Request) (any, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})})
	peer.send("[0,{\"no\":1,\"type\":\"wait\"}]\x04")
	<-started
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-ended, context.Canceled)
}

func TestConnAnswersPingAndMalformedInput(t *testing.T) {
	t.Parallel()
	_, peer := rawPair(t, ConnOptions{})
	require.Equal(t, "[3]\x04", peer.roundTrip("[2]\x04"))
	require.Equal(t, `[1,{"no":0,"error":"malformed message: response \"no\" must be an integer, got \"1\""}]`+"\x04",
		peer.roundTrip(`[1,{"no":"1"}]`+"\x04"))
	require.Equal(t, `[1,{"no":0,"error":"malformed message: response \"error\" must be a string, got 5"}]`+"\x04",
		peer.roundTrip(`[1,{"no":1,"error":5}]`+"\x04"))
	// An unexpected response and a pong get no answer; the ping after them does.
	require.Equal(t, "[3]\x04", peer.roundTrip("[1,{\"no\":77,\"data\":1}]\x04[3]\x04[1,{\"no\":0,\"error\":\"x\"}]\x04[2]\x04"))
}

func TestConnPingDeadline(t *testing.T) {
	t.Parallel()
	const interval = 40 * time.Millisecond
	c, peer := rawPair(t, ConnOptions{PingInterval: interval})
	require.Equal(t, "[2]\x04", peer.next(), "pings the peer")
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("a peer that never answers is not dropped")
	}
	require.ErrorIs(t, c.Err(), ErrPingTimeout)
	require.ErrorContains(t, c.Err(), "nothing received for 80ms")
}

func TestConnPingKeepsLivePeer(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	a, b := connPair(t, ConnOptions{PingInterval: interval}, ConnOptions{})
	select {
	case <-a.Done():
		t.Fatalf("live peer dropped: %v", a.Err())
	case <-b.Done():
		t.Fatalf("pinging side dropped: %v", b.Err())
	case <-time.After(10 * interval):
	}
	require.NoError(t, a.Err())
}

func TestConnIdleTimeout(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{IdleTimeout: 50 * time.Millisecond})
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"idle timeout: nothing received for 50ms"}]␄`)}, peer.requireClosed())
	<-c.Done()
	require.ErrorIs(t, c.Err(), ErrIdleTimeout)
}

func TestConnIdleTimeoutWaitsForAnswers(t *testing.T) {
	t.Parallel()
	const idle = 50 * time.Millisecond
	slow := func(ctx context.Context, c *Conn, req *Request) (any, error) {
		select {
		case <-time.After(5 * idle): // the work
			return OK, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a, _ := connPair(t, ConnOptions{IdleTimeout: idle}, ConnOptions{Handler: HandlerFunc(slow)})
	var reply string
	require.NoError(t, a.Call(t.Context(), "slow", nil, &reply), "a pending call keeps the connection open")
	require.Equal(t, OK, reply)
	<-a.Done()
	require.ErrorIs(t, a.Err(), ErrIdleTimeout, "idle again once answered")
}

func TestConnMessageTooLarge(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{MaxMessageSize: 1000})
	peer.send(strings.Repeat(" ", 999) + "[2]\x04")
	require.Equal(t, []string{eot(`[1,{"no":0,"error":"message too large: more than 1000 bytes without an end-of-message byte"}]␄`)}, peer.requireClosed())
	var tooLarge *TooLargeError
	require.ErrorAs(t, c.Err(), &tooLarge)
}

func TestConnNilHandlerAnswersWithError(t *testing.T) {
	t.Parallel()
	_, peer := rawPair(t, ConnOptions{})
	require.Equal(t, `[1,{"no":9,"error":"unknown request type: 'status'"}]`+"\x04", peer.roundTrip("[0,{\"no\":9,\"type\":\"status\"}]\x04"))
}

func TestConnHandlerAnswers(t *testing.T) {
	t.Parallel()
	m := NewMux()
	m.Handle("nil", func(context.Context, *Conn, *Request) (any, error) { return nil, nil })
	m.Handle("empty-error", func(context.Context, *Conn, *Request) (any, error) { return nil, fmt.Errorf("") })
	m.Handle("unencodable", func(context.Context, *Conn, *Request) (any, error) { return func() {}, nil })
	m.Handle("raw", func(context.Context, *Conn, *Request) (any, error) { return json.RawMessage(` { "a" : 1 } `), nil })
	_, peer := rawPair(t, ConnOptions{Handler: m})
	require.Equal(t, `[1,{"no":1}]`+"\x04", peer.roundTrip("[0,{\"no\":1,\"type\":\"nil\"}]\x04"))
	require.Equal(t, `[1,{"no":2,"error":"unknown error"}]`+"\x04", peer.roundTrip("[0,{\"no\":2,\"type\":\"empty-error\"}]\x04"))
	require.Equal(t, `[1,{"no":3,"error":"internal error: cannot encode the answer: json: unsupported type: func()"}]`+"\x04", peer.roundTrip("[0,{\"no\":3,\"type\":\"unencodable\"}]\x04"))
	require.Equal(t, `[1,{"no":4,"data":{"a":1}}]`+"\x04", peer.roundTrip("[0,{\"no\":4,\"type\":\"raw\"}]\x04"))
}

func TestConnPingAndLastReceived(t *testing.T) {
	t.Parallel()
	c, peer := rawPair(t, ConnOptions{})
	start := c.LastReceived()
	require.False(t, start.IsZero(), "the connection's start before any message")
	require.NoError(t, c.Ping())
	require.Equal(t, "[2]\x04", peer.next())
	peer.send("[3]\x04")
	eventually(t, func() bool { return c.LastReceived().After(start) }, "a pong does not count as received")
	require.NoError(t, c.Err(), "no ping deadline without PingInterval")
}
