package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultMaxConns bounds a server's simultaneous connections.
	DefaultMaxConns = 4096
	// DefaultIdleTimeout closes a server-side connection that sends nothing
	// for this long.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultShutdownTimeout is how long Serve, when its context ends, lets
	// running handlers finish before it closes their connections.
	DefaultShutdownTimeout = 10 * time.Second
	// refuseLinger bounds what a refused connection costs.
	refuseLinger = 500 * time.Millisecond
)

// Server accepts protocol connections and serves their requests. Set the
// fields, then call ListenAndServe (or Listen, then Serve); do not change
// them afterwards.
type Server struct {
	Addr                 string // host:port to listen on; port 0 picks one
	Handler              Handler
	Password             string // "" = no authentication
	AlwaysAllowLocalhost bool   // loopback peers need no password
	MaxConns             int    // default DefaultMaxConns
	MaxMessageSize       int    // default DefaultMaxMessageSize
	// IdleTimeout closes a connection that sends nothing for this long,
	// with a no:0 error; default DefaultIdleTimeout, < 0 for none.
	IdleTimeout time.Duration
	// PingInterval > 0 pings every connection this often and drops one that
	// sends nothing for twice as long; 0: no pings.
	PingInterval    time.Duration
	WriteTimeout    time.Duration // default DefaultWriteTimeout
	ShutdownTimeout time.Duration // default DefaultShutdownTimeout
	Logger          *slog.Logger  // nil: discard
	// OnConnect runs before the connection's first message is read;
	// OnDisconnect once it is closed. Both run on the connection's own
	// goroutine.
	OnConnect, OnDisconnect func(*Conn)

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*Conn]struct{}
	closing bool
	serving bool
	wg      sync.WaitGroup // connection goroutines
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Listen binds Addr. Its errors name the address, for example
// "listen 127.0.0.1:7080: address already in use".
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return fmt.Errorf("listen %s: already listening on %s", s.Addr, s.ln.Addr())
	}
	if s.Addr == "" {
		return errors.New("listen: no address configured")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, innermost(err))
	}
	s.ln = ln
	return nil
}

// innermost strips net's "listen tcp addr: bind:" layers from err.
func innermost(err error) error {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// ListenAddr returns the bound address (useful with port 0), or nil before
// Listen.
func (s *Server) ListenAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ListenAndServe is Listen followed by Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve accepts connections until ctx ends or Shutdown is called, and
// returns nil then. When ctx ends, Serve shuts the server down itself,
// giving running handlers ShutdownTimeout to answer, and returns when every
// connection is closed. If accepting fails for good, Serve returns the
// error and leaves open connections to Shutdown.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	switch {
	case ln == nil:
		s.mu.Unlock()
		return errors.New("rpc: Server.Serve called before Listen")
	case s.serving:
		s.mu.Unlock()
		return errors.New("rpc: Server.Serve called twice")
	}
	s.serving = true
	s.conns = make(map[*Conn]struct{})
	s.mu.Unlock()

	log := s.logger()
	log.Info("listening", "addr", ln.Addr().String())
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
			s.stopAccepting()
		case <-stopWatch:
		}
	}()
	err := s.acceptLoop(ctx, ln)
	close(stopWatch)
	<-watchDone
	if ctx.Err() != nil {
		grace := s.ShutdownTimeout
		if grace <= 0 {
			grace = DefaultShutdownTimeout
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if serr := s.Shutdown(sctx); serr != nil {
			log.Warn("shutdown: handlers still running after the grace period", "grace", grace)
		}
		return nil
	}
	return err
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if !isTemporary(err) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("accept failed; retrying", "error", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.accept(nc)
	}
}

// isTemporary reports accept errors that pass by themselves (out of file
// descriptors or memory, a connection aborted before it was accepted).
func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) accept(nc net.Conn) {
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		_ = nc.Close()
		return
	}
	s.wg.Add(1)
	if len(s.conns) >= maxConns {
		go s.refuse(nc, maxConns)
		return
	}
	idle := s.IdleTimeout
	switch {
	case idle == 0:
		idle = DefaultIdleTimeout
	case idle < 0:
		idle = 0
	}
	c := newConn(nc, ConnOptions{
		Handler:        s.Handler,
		Logger:         s.logger(),
		MaxMessageSize: s.MaxMessageSize,
		PingInterval:   s.PingInterval,
		IdleTimeout:    idle,
		WriteTimeout:   s.WriteTimeout,
	}, authPolicy{Password: s.Password, AlwaysAllowLocalhost: s.AlwaysAllowLocalhost})
	s.conns[c] = struct{}{}
	go s.serveConn(c)
}

// refuse tells a connection over the limit why, and closes it.
func (s *Server) refuse(nc net.Conn, limit int) {
	defer s.wg.Done()
	s.logger().Warn("connection refused: too many connections", "remote", nc.RemoteAddr().String(), "limit", limit)
	c := newConn(nc, ConnOptions{WriteTimeout: refuseLinger}, authPolicy{})
	c.linger = refuseLinger
	c.failWith(&Response{Error: fmt.Sprintf("too many connections (limit %d)", limit)}, errors.New("too many connections"))
}

func (s *Server) serveConn(c *Conn) {
	defer s.wg.Done()
	log := s.logger().With("remote", c.RemoteAddr().String())
	log.Debug("connection opened")
	if s.OnConnect != nil {
		s.OnConnect(c)
	}
	c.start()
	<-c.Done()
	log.Debug("connection closed", "reason", c.Err())
	if s.OnDisconnect != nil {
		s.OnDisconnect(c)
	}
	c.loops.Wait()
	c.handlers.Wait()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// stopAccepting closes the listener; connections already open go on.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// Shutdown stops accepting, lets running handlers answer (new requests get
// an error), then closes every connection and waits for their goroutines.
// When ctx ends first, connections are closed at once (cancelling the
// handlers' contexts) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var drained sync.WaitGroup
	for _, c := range conns {
		drained.Go(func() { _ = c.drain(ctx) })
	}
	drained.Wait()
	for _, c := range conns {
		_ = c.Close()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
