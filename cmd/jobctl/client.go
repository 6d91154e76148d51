package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobd/jobd/rpc"
)

const (
	// requestTimeout bounds a request that answers at once (all but
	// run-manual and --wait) when no --timeout is given.
	requestTimeout = 30 * time.Second
	// dialTimeout bounds connecting.
	dialTimeout = 10 * time.Second
)

// peer is a daemon to talk to.
type peer struct {
	kind     string // "jobd" or "jobd-master", for messages
	addr     string
	password string
}

func (p peer) String() string { return p.kind + " at " + p.addr }

// peer is the daemon the settings name.
func (a *app) peer() peer {
	return peer{kind: a.set.kind(), addr: a.set.addr(), password: a.set.password}
}

// client is a connection to one daemon.
type client struct {
	a    *app
	p    peer
	conn *rpc.Conn
}

// connect dials a daemon. Failing to is exit 3.
func (a *app) connect(ctx context.Context, p peer) (*client, error) {
	conn, err := rpc.Dial(ctx, p.addr, rpc.DialOptions{Password: p.password, Timeout: dialTimeout})
	if err != nil {
		if stop := a.stopped(ctx, "connecting to "+p.String()); stop != nil {
			return nil, stop
		}
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, connectErr("cannot connect to %s: %v", p, err)
	}
	return &client{a: a, p: p, conn: conn}, nil
}

// dial connects to the daemon of the settings.
func (a *app) dial(ctx context.Context) (*client, error) { return a.connect(ctx, a.peer()) }

func (c *client) Close() { c.conn.Close() }

// call runs one request. A request that answers at once gets requestTimeout
// unless --timeout is set; one that waits for jobs (run-manual) gets no limit
// of its own.
func (c *client) call(ctx context.Context, waits bool, fn func(ctx context.Context) error) error {
	cctx := ctx
	if !waits && c.a.set.timeout == 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	err := fn(cctx)
	if err == nil {
		return nil
	}
	return c.explain(ctx, cctx, err)
}

// explain turns a failed request into the error to exit with.
func (c *client) explain(ctx, cctx context.Context, err error) error {
	var re *rpc.RemoteError
	switch {
	case errors.As(err, &re) && re.Message == rpc.ErrInvalidPassword.Error():
		if c.p.password == "" {
			return connectErr("%s wants a password: give it with --password, -P or %s", c.p, envPassword)
		}
		return connectErr("%s refused the password", c.p)
	case errors.As(err, &re):
		return failed("%s: %s", c.p, re.Message)
	case ctx.Err() != nil:
		return c.a.stopped(ctx, "waiting for "+c.p.String())
	case cctx.Err() != nil:
		return &exitError{code: exitTimeout, err: fmt.Errorf("%s did not answer within %s", c.p, requestTimeout)}
	case errors.Is(err, rpc.ErrInvalidPassword):
		return connectErr("%s refused the password", c.p)
	case errors.Is(err, rpc.ErrPeerClosed), errors.Is(err, rpc.ErrClosed),
		errors.Is(err, rpc.ErrIdleTimeout), errors.Is(err, rpc.ErrShuttingDown):
		return connectErr("%s closed the connection: %v", c.p, err)
	}
	return failed("%s: %v", c.p, err)
}
