package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// DefaultDialTimeout bounds Dial when DialOptions.Timeout is zero.
const DefaultDialTimeout = 10 * time.Second

// DialOptions configures Dial. Zero values mean sensible defaults.
type DialOptions struct {
	Password       string        // sent with the first request
	Timeout        time.Duration // connecting; default DefaultDialTimeout
	Handler        Handler       // serves requests the peer sends back (a worker dialing its master)
	Logger         *slog.Logger
	PingInterval   time.Duration
	IdleTimeout    time.Duration
	WriteTimeout   time.Duration
	MaxMessageSize int
}

// Dial connects to a jobd or jobd-master at addr (host:port). Requests the
// peer sends back on the connection are served by opt.Handler without a
// password.
func Dial(ctx context.Context, addr string, opt DialOptions) (*Conn, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, innermost(err))
	}
	return NewConn(nc, ConnOptions{
		Handler:        opt.Handler,
		Logger:         opt.Logger,
		MaxMessageSize: opt.MaxMessageSize,
		PingInterval:   opt.PingInterval,
		IdleTimeout:    opt.IdleTimeout,
		WriteTimeout:   opt.WriteTimeout,
		Password:       opt.Password,
	}), nil
}

// The typed calls below check their arguments with the same Validate the
// serving side runs, so a bad argument fails before it is sent, with the same
// words.

// Poll asks a worker (or, through the master, the workers) to claim waiting
// jobs of targets; nil targets means all.
func (c *Conn) Poll(ctx context.Context, targets []string) error {
	return c.callTargets(ctx, ReqPoll, targets)
}

// Pause stops the targets (nil: all) from starting new jobs.
func (c *Conn) Pause(ctx context.Context, targets []string) error {
	return c.callTargets(ctx, ReqPause, targets)
}

// Continue un-pauses the targets (nil: all).
func (c *Conn) Continue(ctx context.Context, targets []string) error {
	return c.callTargets(ctx, ReqContinue, targets)
}

func (c *Conn) callTargets(ctx context.Context, typ string, targets []string) error {
	if targets == nil {
		return c.Call(ctx, typ, nil, nil) // all targets: no data, as the original sends
	}
	_, err := callValidated[any](ctx, c, typ, &TargetsArgs{Targets: targets})
	return err
}

// Status asks a worker for its status.
func (c *Conn) Status(ctx context.Context) (*WorkerStatus, error) {
	var st WorkerStatus
	if err := c.Call(ctx, ReqStatus, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RunManual asks a worker to run manual jobs and waits until all finished.
func (c *Conn) RunManual(ctx context.Context, ids []int64) (*RunManualReply, error) {
	args := &RunManualArgs{IDs: ids}
	return callValidated[RunManualReply](ctx, c, ReqRunManual, args)
}

// SendSignal asks a worker to signal running jobs: job id to signal number.
func (c *Conn) SendSignal(ctx context.Context, jobs map[int64]int) (SendSignalReply, error) {
	args := &SendSignalArgs{Jobs: make(map[string]int, len(jobs))}
	for id, sig := range jobs {
		args.Jobs[strconv.FormatInt(id, 10)] = sig
	}
	r, err := callValidated[SendSignalReply](ctx, c, ReqSendSignal, args)
	if err != nil {
		return nil, err
	}
	return *r, nil
}

// AddTarget adds a target to a worker.
func (c *Conn) AddTarget(ctx context.Context, target string, concurrency int) error {
	args := &TargetConcurrencyArgs{Target: target, Concurrency: concurrency}
	_, err := callValidated[any](ctx, c, ReqAddTarget, args)
	return err
}

// RemoveTarget removes a target from a worker.
func (c *Conn) RemoveTarget(ctx context.Context, target string) error {
	_, err := callValidated[any](ctx, c, ReqRemoveTarget, &RemoveTargetArgs{Target: target})
	return err
}

// SetTargetConcurrency changes a worker's concurrency for a target.
func (c *Conn) SetTargetConcurrency(ctx context.Context, target string, concurrency int) error {
	args := &TargetConcurrencyArgs{Target: target, Concurrency: concurrency}
	_, err := callValidated[any](ctx, c, ReqSetTargetConcurrency, args)
	return err
}

// RegisterWorker registers this side, a worker, with the master it dialed;
// the master then sends its requests back over this connection.
func (c *Conn) RegisterWorker(ctx context.Context, name string, targets []string) error {
	if targets == nil {
		targets = []string{}
	}
	args := &RegisterWorkerArgs{Targets: targets, Name: name}
	_, err := callValidated[any](ctx, c, ReqRegisterWorker, args)
	return err
}

// Poke asks the master to have the workers serving targets poll.
func (c *Conn) Poke(ctx context.Context, targets []string) error {
	_, err := callValidated[any](ctx, c, ReqPoke, &PokeArgs{Targets: targets})
	return err
}

// MasterStatus asks the master for its status; with pollWorkers each
// worker's own status is included.
func (c *Conn) MasterStatus(ctx context.Context, pollWorkers bool) (*MasterStatus, error) {
	var args any
	if pollWorkers {
		args = &MasterStatusArgs{PollWorkers: true}
	}
	var st MasterStatus
	if err := c.Call(ctx, ReqStatus, args, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// MasterRunManual asks the master to run manual jobs on the workers serving
// their targets, and waits until all finished.
func (c *Conn) MasterRunManual(ctx context.Context, jobs []ManualJob) (*RunManualReply, error) {
	return callValidated[RunManualReply](ctx, c, ReqRunManual, &MasterRunManualArgs{Jobs: jobs})
}

// MasterSendSignal asks the master to signal jobs on the workers serving
// their targets.
func (c *Conn) MasterSendSignal(ctx context.Context, jobs []SignalJob) (SendSignalReply, error) {
	r, err := callValidated[SendSignalReply](ctx, c, ReqSendSignal, &MasterSendSignalArgs{Jobs: jobs})
	if err != nil {
		return nil, err
	}
	return *r, nil
}

func callValidated[R any](ctx context.Context, c *Conn, typ string, args interface{ Validate() error }) (*R, error) {
	if err := args.Validate(); err != nil {
		return nil, err
	}
	var reply R
	if err := c.Call(ctx, typ, args, &reply); err != nil {
		return nil, err
	}
	return &reply, nil
}
