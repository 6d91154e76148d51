package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reasons a connection closed, as Conn.Err reports them (possibly wrapped).
var (
	ErrClosed          = errors.New("connection closed")
	ErrPeerClosed      = errors.New("connection closed by peer")
	ErrIdleTimeout     = errors.New("idle timeout")
	ErrPingTimeout     = errors.New("ping timeout: peer presumed dead")
	ErrInvalidPassword = errors.New(msgInvalidPassword)
	ErrShuttingDown    = errors.New("server is shutting down")
)

const (
	// DefaultWriteTimeout bounds one write; a peer that does not read for
	// that long is dropped, so a stuck peer cannot block the connection.
	DefaultWriteTimeout = time.Minute
	// requestNoLimit is where request numbers wrap around to 1, as in the
	// original (which picks its first number below it).
	requestNoLimit = 999999
	// lingerTimeout and lingerBytes bound how long and how much a connection
	// closed with a final error keeps reading (and discarding) after the
	// error, so the peer reads the error instead of a connection reset.
	lingerTimeout = 2 * time.Second
	lingerBytes   = 64 << 20
	// maxKeptFrame is the largest frame buffer kept for the next write.
	maxKeptFrame = 64 << 10
)

// ConnOptions configures a connection. Zero values mean sensible defaults.
type ConnOptions struct {
	// Handler serves requests the peer sends on this connection. nil:
	// every request is answered with an unknown-type error.
	Handler Handler
	// Logger receives the connection's log; nil discards it.
	Logger *slog.Logger
	// MaxMessageSize bounds an incoming message; default
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// PingInterval > 0: send [2] this often; the peer is dead (and the
	// connection closed) when nothing at all arrives for 2*PingInterval.
	PingInterval time.Duration
	// IdleTimeout > 0: close when nothing arrives for this long, after a
	// no:0 error saying so.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Password goes with the first request this side sends (and no other).
	Password string
}

// Conn is one protocol connection, from either end: both sides may send
// requests at any time, and each gets the matching response by number. It
// is safe for concurrent use.
type Conn struct {
	nc           net.Conn
	handler      Handler
	log          *slog.Logger
	maxMsg       int
	pingInterval time.Duration
	idleTimeout  time.Duration
	writeTimeout time.Duration
	password     string
	linger       time.Duration // see failWith

	// Incoming authorisation; read and written by the read loop only.
	policy     authPolicy
	authorized bool

	wmu          sync.Mutex // one frame per Write, frames never interleave
	passwordSent bool       // guarded by wmu
	wbuf         []byte     // frame buffer, reused; guarded by wmu

	mu       sync.Mutex
	pending  map[int64]chan *Response // outgoing requests awaiting answers
	lastNo   int64
	closed   bool
	err      error
	draining bool // no new requests are served (server shutting down)

	handlers sync.WaitGroup // request handlers running
	inflight atomic.Int32   // how many; see deadlineReader
	lastRecv atomic.Int64   // unix nanoseconds of the last message received; see LastReceived
	loops    sync.WaitGroup // read loop and ping loop
	done     chan struct{}
	ctx      context.Context // handlers' context, cancelled on close
	cancel   context.CancelFunc
}

// NewConn wraps an established connection and starts serving it. Requests
// the peer sends are served without a password (the side that accepted the
// connection is the one that checks passwords; see Server).
func NewConn(nc net.Conn, opt ConnOptions) *Conn {
	c := newConn(nc, opt, authPolicy{})
	c.start()
	return c
}

func newConn(nc net.Conn, opt ConnOptions, policy authPolicy) *Conn {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxMsg := opt.MaxMessageSize
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessageSize
	}
	writeTimeout := opt.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = DefaultWriteTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		nc:           nc,
		handler:      opt.Handler,
		log:          log.With("remote", nc.RemoteAddr().String()),
		maxMsg:       maxMsg,
		pingInterval: opt.PingInterval,
		idleTimeout:  opt.IdleTimeout,
		writeTimeout: writeTimeout,
		password:     opt.Password,
		linger:       lingerTimeout,
		policy:       policy,
		authorized:   policy.authorizedAtStart(nc.RemoteAddr()),
		pending:      make(map[int64]chan *Response),
		lastNo:       rand.Int64N(requestNoLimit),
		done:         make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
	}
	c.lastRecv.Store(time.Now().UnixNano())
	return c
}

// start launches the read loop and, when configured, the ping loop.
func (c *Conn) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.loops.Add(1)
	go c.readLoop()
	if c.pingInterval > 0 {
		c.loops.Add(1)
		go c.pingLoop()
	}
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Done is closed when the connection is gone: the peer closed it, it timed
// out, it broke the protocol beyond repair, or Close was called.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err reports why the connection closed; nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection: pending calls fail, handlers' contexts are
// cancelled, and Close returns once the connection's own goroutines have
// ended (handlers may still be finishing). It is safe to call more than once
// and from a handler.
func (c *Conn) Close() error {
	c.markClosed(ErrClosed)
	_ = c.nc.Close()
	c.loops.Wait()
	return nil
}

// markClosed records why the connection ended, wakes everything waiting on
// it and cancels handlers; the first call wins. It does not close the socket.
func (c *Conn) markClosed(err error) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed, c.err, c.pending = true, err, nil
	c.mu.Unlock()
	close(c.done)
	c.cancel()
	return true
}

// fail closes the connection at once for err.
func (c *Conn) fail(err error) {
	if c.markClosed(err) {
		c.log.Debug("connection closed", "reason", err)
	}
	_ = c.nc.Close()
}

// failWith sends a last error frame, then closes the connection for err. It
// lingers: the socket is half-closed and what the peer still sends is read
// and discarded for a while, so the peer sees the error rather than a reset.
// Only the read loop calls it.
func (c *Conn) failWith(last *Response, err error) {
	_ = c.send(last)
	if c.markClosed(err) {
		c.log.Info("closing connection", "reason", err)
	}
	if tcp, ok := c.nc.(interface{ CloseWrite() error }); ok && tcp.CloseWrite() == nil {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.linger))
		_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
	}
	_ = c.nc.Close()
}

// Call sends a request of type typ with args as its data (nil: omitted) and
// waits for the answer, which is decoded into reply (when reply is not nil
// and the answer has data). An error answer is returned as *RemoteError.
func (c *Conn) Call(ctx context.Context, typ string, args, reply any) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	data, err := marshalData(args)
	if err != nil {
		return fmt.Errorf("%s: encode arguments: %w", typ, err)
	}
	ch := make(chan *Response, 1)
	no, err := c.register(ch)
	if err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	defer c.unregister(no)
	if err := c.sendRequest(&Request{No: no, Type: typ, Data: data}); err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	var resp *Response
	select {
	case resp = <-ch:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", typ, context.Cause(ctx))
	case <-c.done:
		select {
		case resp = <-ch:
		default:
			return fmt.Errorf("%s: %w", typ, c.Err())
		}
	}
	if resp.Error != "" {
		return &RemoteError{Message: resp.Error}
	}
	if reply != nil && resp.Data != nil {
		if err := json.Unmarshal(resp.Data, reply); err != nil {
			return fmt.Errorf("%s: decode answer: %w", typ, err)
		}
	}
	return nil
}

// RemoteError is an error answer from the peer: {"error": Message}.
type RemoteError struct {
	Message string
}

// Error returns the peer's message unchanged.
func (e *RemoteError) Error() string { return e.Message }

// register picks the next free request number: counting up from a random
// start, wrapping below requestNoLimit, skipping 0 and numbers in use.
func (c *Conn) register(ch chan *Response) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, c.err
	}
	if len(c.pending) >= requestNoLimit-1 {
		return 0, errors.New("too many requests pending on one connection")
	}
	for {
		c.lastNo++
		if c.lastNo >= requestNoLimit || c.lastNo <= 0 {
			c.lastNo = 1
		}
		if _, busy := c.pending[c.lastNo]; !busy {
			break
		}
	}
	c.pending[c.lastNo] = ch
	return c.lastNo, nil
}

func (c *Conn) unregister(no int64) {
	c.mu.Lock()
	delete(c.pending, no)
	c.mu.Unlock()
}

// deliver hands a response to the call waiting for it.
func (c *Conn) deliver(resp *Response) {
	if resp.No == 0 {
		c.log.Warn("peer reported an error", "error", resp.Error)
		return
	}
	c.mu.Lock()
	ch, ok := c.pending[resp.No]
	delete(c.pending, resp.No)
	c.mu.Unlock()
	if !ok {
		// Most likely the caller gave up waiting (its context ended).
		c.log.Debug("response to no pending request", "no", resp.No)
		return
	}
	ch <- resp // buffered, and only this response is ever sent to it
}

// sendRequest writes req, adding the password to the first request sent.
func (c *Conn) sendRequest(req *Request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.password != "" && !c.passwordSent {
		req.Password = c.password
		c.passwordSent = true
	}
	return c.writeLocked(req)
}

// send writes one message as one frame.
func (c *Conn) send(m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(m)
}

func (c *Conn) writeLocked(m Message) error {
	c.mu.Lock()
	closed, err := c.closed, c.err
	c.mu.Unlock()
	if closed {
		return err
	}
	frame := m.AppendFrame(c.wbuf[:0])
	if cap(frame) <= maxKeptFrame {
		c.wbuf = frame
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if _, err := c.nc.Write(frame); err != nil {
		err = fmt.Errorf("write: %w", err)
		c.fail(err)
		return err
	}
	return nil
}

// readTimeout is how long the read loop waits for the next bytes; 0: forever.
func (c *Conn) readTimeout() time.Duration {
	t := c.idleTimeout
	if c.pingInterval > 0 && (t == 0 || 2*c.pingInterval < t) {
		t = 2 * c.pingInterval
	}
	return t
}

// deadlineReader renews the read deadline before every read, so that any
// byte at all counts as a sign of life. An idle timeout does not count
// while this side is busy on the peer's behalf or waiting for its answers:
// a client that waits minutes for run-manual sends nothing meanwhile.
type deadlineReader struct {
	c       *Conn
	timeout time.Duration
}

func (r deadlineReader) Read(p []byte) (int, error) {
	for {
		if r.timeout > 0 {
			if err := r.c.nc.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
				return 0, err
			}
		}
		n, err := r.c.nc.Read(p)
		if n == 0 && err != nil && isTimeout(err) && r.c.idleGoverns() && r.c.busy() {
			continue
		}
		return n, err
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// idleGoverns reports whether the read deadline is the idle timeout rather
// than the ping deadline.
func (c *Conn) idleGoverns() bool {
	return c.idleTimeout > 0 && c.readTimeout() == c.idleTimeout
}

// busy reports whether requests are being served or calls await answers.
func (c *Conn) busy() bool {
	if c.inflight.Load() > 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

func (c *Conn) readLoop() {
	defer c.loops.Done()
	dec := NewDecoder(deadlineReader{c: c, timeout: c.readTimeout()}, c.maxMsg)
	for {
		b, err := dec.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handleFrame(b) {
			return
		}
	}
}

func (c *Conn) readFailed(err error) {
	var tooLarge *TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		c.failWith(&Response{Error: err.Error()}, err)
	case isTimeout(err):
		if c.idleGoverns() {
			err = fmt.Errorf("%w: nothing received for %s", ErrIdleTimeout, c.idleTimeout)
			c.failWith(&Response{Error: err.Error()}, err)
			return
		}
		c.fail(fmt.Errorf("%w: nothing received for %s", ErrPingTimeout, 2*c.pingInterval))
	case errors.Is(err, io.EOF):
		c.fail(ErrPeerClosed)
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.fail(fmt.Errorf("%w in the middle of a message", ErrPeerClosed))
	case errors.Is(err, syscall.ECONNRESET):
		// A peer that dies (kill -9) with data unread closes with a reset
		// rather than an end of stream: it is gone all the same.
		c.fail(fmt.Errorf("%w (reset)", ErrPeerClosed))
	default:
		c.fail(fmt.Errorf("read: %w", err))
	}
}

// handleFrame acts on one received message; false ends the read loop.
func (c *Conn) handleFrame(b []byte) bool {
	c.lastRecv.Store(time.Now().UnixNano())
	msg, err := ParseMessage(b)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			pe = &ParseError{Reason: err.Error()}
		}
		c.log.Warn("malformed message", "no", pe.No, "error", pe.Reason)
		_ = c.send(&Response{No: pe.No, Error: pe.Error()})
		return true
	}
	switch m := msg.(type) {
	case Ping:
		_ = c.send(Pong{})
	case Pong:
		// Arriving at all was the point.
	case *Response:
		c.deliver(m)
	case *Request:
		if !c.authorize(m) {
			c.failWith(&Response{No: m.No, Error: msgInvalidPassword}, ErrInvalidPassword)
			return false
		}
		c.dispatch(m)
	}
	return true
}

// authorize moves an unauthorised connection to authorised when the request
// carries the right password, and reports whether it may be served.
func (c *Conn) authorize(req *Request) bool {
	if !c.authorized && c.policy.passwordMatches(req.Password) {
		c.authorized = true
	}
	return c.authorized
}

// dispatch serves req in its own goroutine.
func (c *Conn) dispatch(req *Request) {
	c.mu.Lock()
	if c.draining || c.closed {
		c.mu.Unlock()
		_ = c.send(&Response{No: req.No, Error: ErrShuttingDown.Error()})
		return
	}
	c.handlers.Add(1)
	c.inflight.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.handlers.Done()
		defer c.inflight.Add(-1)
		resp := &Response{No: req.No}
		v, err := c.serve(req)
		if err == nil {
			resp.Data, err = marshalData(v)
			if err != nil {
				c.log.Error("cannot encode answer", "type", req.Type, "no", req.No, "error", err)
				err = fmt.Errorf("internal error: cannot encode the answer: %w", err)
			}
		}
		if err != nil {
			resp.Error = err.Error()
			if resp.Error == "" {
				resp.Error = "unknown error"
			}
		}
		if err := c.send(resp); err != nil {
			c.log.Debug("answer not sent", "type", req.Type, "no", req.No, "error", err)
		}
	}()
}

// serve runs the handler, turning a panic into an error answer.
func (c *Conn) serve(req *Request) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panicked", "type", req.Type, "no", req.No, "panic", p, "stack", string(debug.Stack()))
			v, err = nil, errors.New("internal error")
		}
	}()
	if c.handler == nil {
		return nil, UnknownTypeError(req.Type)
	}
	return c.handler.ServeRPC(c.ctx, c, req)
}

// drain stops serving new requests and waits for the running ones to answer
// (or ctx to end).
func (c *Conn) drain(ctx context.Context) error {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		c.handlers.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ping sends [2]; the peer answers [3]. With LastReceived it lets the owner
// of a connection watch its liveness itself, for connections that
// PingInterval does not suit: jobd-master pings the workers registered with
// it, but never its other clients (a PHP client waiting for an answer takes
// the first message that arrives for it).
func (c *Conn) Ping() error { return c.send(Ping{}) }

// LastReceived is when the last message of any kind (a pong too) arrived
// from the peer; before the first, when the connection was made.
func (c *Conn) LastReceived() time.Time { return time.Unix(0, c.lastRecv.Load()) }

func (c *Conn) pingLoop() {
	defer c.loops.Done()
	t := time.NewTicker(c.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			_ = c.send(Ping{})
		}
	}
}
