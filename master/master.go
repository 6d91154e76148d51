package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobd/jobd/rpc"
)

// Options are the parts of a Master that come from its surroundings rather
// than from the config file.
type Options struct {
	Logger  *slog.Logger // default: discard
	Version string       // logged at start
}

// Master is one jobd-master.
type Master struct {
	log     *slog.Logger
	version string
	cfg     atomic.Pointer[Config]
	reg     *registry
	poker   *poker
	server  *rpc.Server
	idle    time.Duration // the server's idle timeout, fixed at start
	ready   chan struct{}

	// Calls nobody waits for (polls), owned by Run: it cancels and waits
	// for them before it returns.
	bgMu  sync.Mutex
	bgCtx context.Context
	bgWG  sync.WaitGroup
}

// New returns a Master for cfg, which must be valid; Run starts it.
func New(cfg *Config, opt Options) *Master {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Master{
		log:     opt.Logger,
		version: opt.Version,
		reg:     newRegistry(),
		ready:   make(chan struct{}),
	}
	m.cfg.Store(cfg)
	m.idle = max(rpc.DefaultIdleTimeout, 3*cfg.PingInterval.D())
	m.poker = newPoker(func() time.Duration { return m.config().PokeThrottleInterval.D() }, m.pokeBurst)
	m.server = &rpc.Server{
		Addr:                 cfg.Listen,
		Handler:              m.handlers(),
		Password:             cfg.Password,
		AlwaysAllowLocalhost: cfg.AlwaysAllowLocalhost,
		// Clients are not pinged (see liveness.go); one that sends nothing
		// is closed after this, unless it waits for an answer.
		IdleTimeout: m.idle,
		// At shutdown running requests get request_timeout to answer; a
		// run-manual still waiting for its jobs then ends without one.
		ShutdownTimeout: cfg.RequestTimeout.D(),
		Logger:          opt.Logger.With("component", "rpc"),
		OnDisconnect:    m.disconnected,
	}
	return m
}

// config returns the current config.
func (m *Master) config() *Config { return m.cfg.Load() }

// Ready is closed once the master listens.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// Addr is the address the master listens on, once Ready.
func (m *Master) Addr() net.Addr { return m.server.ListenAddr() }

// Reload applies a new config: ping_interval, poke_throttle_interval and
// request_timeout take effect at once; listen, password and
// always_allow_localhost need a restart, and so does a ping_interval over
// a third of the idle timeout set at start (5 minutes or three ping
// intervals); a change that needs a restart is logged and not applied.
func (m *Master) Reload(cfg *Config) {
	old := m.config()
	if cfg.Listen != old.Listen || cfg.Password != old.Password || cfg.AlwaysAllowLocalhost != old.AlwaysAllowLocalhost {
		m.log.Warn("listen, password and always_allow_localhost change only at a restart; keeping the running values")
		c := *cfg
		c.Listen, c.Password, c.AlwaysAllowLocalhost = old.Listen, old.Password, old.AlwaysAllowLocalhost
		cfg = &c
	}
	if 3*cfg.PingInterval.D() > m.idle {
		// Pongs must keep a worker's connection inside the idle timeout,
		// which was set at start.
		m.log.Warn("a ping_interval this long needs a restart; keeping the running one",
			"ping_interval", cfg.PingInterval.D().String(), "running", old.PingInterval.D().String())
		c := *cfg
		c.PingInterval = old.PingInterval
		cfg = &c
	}
	m.cfg.Store(cfg)
	m.log.Info("config reloaded", "ping_interval", cfg.PingInterval.D().String(),
		"poke_throttle_interval", cfg.PokeThrottleInterval.D().String(), "request_timeout", cfg.RequestTimeout.D().String())
}

// Run listens, serves requests and watches the workers until ctx is
// cancelled, then shuts down: running requests get request_timeout to
// answer, every connection is closed (workers reconnect to the next
// master by themselves), and Run returns nil once every goroutine it
// started has ended. A port that cannot be bound is an error. A Master
// runs once.
func (m *Master) Run(ctx context.Context) error {
	cfg := m.config()
	if err := m.server.Listen(); err != nil {
		return err
	}
	bgCtx, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	m.bgMu.Lock()
	m.bgCtx = bgCtx
	m.bgMu.Unlock()

	loopCtx, stopLoops := context.WithCancel(ctx)
	var loops sync.WaitGroup
	loops.Go(func() { m.poker.run(loopCtx) })
	loops.Go(func() { m.watch(loopCtx) })

	m.log.Info("jobd-master started", "listen", m.Addr().String(), "version", m.version,
		"ping_interval", cfg.PingInterval.D().String(), "poke_throttle_interval", cfg.PokeThrottleInterval.D().String(),
		"request_timeout", cfg.RequestTimeout.D().String(), "password", cfg.Password != "")
	if cfg.Password == "" && !isLoopback(m.Addr()) {
		m.log.Warn("no password set and listening beyond this host: anyone who can reach the port can pause, run and signal jobs",
			"listen", m.Addr().String())
	}
	close(m.ready)

	err := m.server.Serve(ctx)
	if err != nil {
		// Accepting failed for good; close what is still open.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = m.server.Shutdown(sctx)
		cancel()
		err = fmt.Errorf("serving: %w", err)
	}
	stopLoops()
	loops.Wait()
	cancelBg()
	m.bgMu.Lock()
	m.bgCtx = nil // no new background calls from now on
	m.bgMu.Unlock()
	m.bgWG.Wait()
	m.log.Info("jobd-master stopped")
	return err
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// background runs fn in a goroutine that Run waits for; fn's context ends
// when the master stops. It does nothing once the master has stopped.
func (m *Master) background(fn func(ctx context.Context)) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgCtx == nil {
		return
	}
	ctx := m.bgCtx
	m.bgWG.Go(func() { fn(ctx) })
}

// disconnected drops the worker on a closed connection.
func (m *Master) disconnected(c *rpc.Conn) {
	if w := m.reg.remove(c); w != nil {
		reason := "closed by the master"
		if err := c.Err(); err != nil && !errors.Is(err, rpc.ErrClosed) {
			reason = err.Error()
		}
		m.log.Info("worker left", "worker", w.String(), "targets", w.targets, "reason", reason, "workers", m.reg.len())
	}
}

// callTimeout returns a context bounded by request_timeout.
func (m *Master) callTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.config().RequestTimeout.D())
}

// describe words a failed call to a worker for a client.
func (m *Master) describe(w *worker, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("worker %s: no answer within request_timeout (%s)", w, m.config().RequestTimeout.D())
	}
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		return fmt.Sprintf("worker %s: %s", w, re.Message)
	}
	return fmt.Sprintf("worker %s: %v", w, err)
}
