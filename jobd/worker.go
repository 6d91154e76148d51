package jobd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// Options are the parts of a Worker that come from its surroundings rather
// than from the config file.
type Options struct {
	Logger  *slog.Logger // default: discard
	Clock   store.Clock  // default: the wall clock
	Version string       // reported in status and the instances table
	Host    string       // default: os.Hostname()
}

// Worker is one jobd instance.
type Worker struct {
	log     *slog.Logger
	clock   store.Clock
	version string
	host    string
	started time.Time

	cfgMu sync.Mutex // guards cfg (replaced by Reload)
	cfg   *Config

	store *store.Store
	inst  atomic.Int64 // this instance's id in the instances table
	// lastBeat is when the instance last proved it was alive (unix nanos);
	// beatNow asks the heartbeat loop for a heartbeat at once.
	lastBeat atomic.Int64
	beatNow  chan struct{}
	server   *rpc.Server
	rec      *recorder
	spool    *spool
	db       dbState
	ready    chan struct{}

	mu        sync.Mutex
	targets   map[string]*target
	jobs      map[int64]*job         // held: queued or running
	waiters   map[int64]*manualWaits // run-manual: who waits for which job
	draining  bool                   // shutting down: claim and start nothing
	stopping  bool                   // shutdown_timeout passed: stop whatever runs, even if launched late
	idle      chan struct{}          // closed and replaced when a job ends (see noteJobEnded)
	runners   sync.WaitGroup         // runJob goroutines: done once the outcome is with the recorder
	claimKick chan struct{}
	master    *masterLink
}

// New returns a Worker for cfg; Run starts it.
func New(cfg *Config, opt Options) *Worker {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Clock == nil {
		opt.Clock = store.SystemClock{}
	}
	if opt.Host == "" {
		opt.Host, _ = os.Hostname()
	}
	w := &Worker{
		log:       opt.Logger,
		clock:     opt.Clock,
		version:   opt.Version,
		host:      opt.Host,
		cfg:       cfg,
		ready:     make(chan struct{}),
		targets:   map[string]*target{},
		jobs:      map[int64]*job{},
		waiters:   map[int64]*manualWaits{},
		claimKick: make(chan struct{}, 1),
		beatNow:   make(chan struct{}, 1),
	}
	w.applyTargets(cfg)
	return w
}

// config returns the current config.
func (w *Worker) config() *Config {
	w.cfgMu.Lock()
	defer w.cfgMu.Unlock()
	return w.cfg
}

// Ready is closed once the worker serves requests and claims jobs.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Addr is the address the worker listens on, once Ready.
func (w *Worker) Addr() net.Addr { return w.server.ListenAddr() }

// InstanceID is the worker's id in the instances table, once Ready.
func (w *Worker) InstanceID() int64 { return w.instance() }

func (w *Worker) instance() int64        { return w.inst.Load() }
func (w *Worker) setInstanceID(id int64) { w.inst.Store(id) }

func pid() int { return os.Getpid() }

// Run connects to the database, registers the instance, serves requests,
// claims and runs jobs until ctx is cancelled, then shuts down gracefully:
// no new claims, claimed-but-unstarted jobs back to waiting at once, running
// jobs given shutdown_timeout to finish and then stopped, every outcome
// recorded. It returns nil after a clean shutdown.
func (w *Worker) Run(ctx context.Context) error {
	cfg := w.config()
	w.started = w.clock.Now()
	w.spool = &spool{dir: cfg.SpoolDir, log: w.log}
	if err := w.spool.open(); err != nil {
		return err
	}
	st, err := w.openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	w.store = st
	w.db.set(nil)

	w.server = &rpc.Server{
		Addr:                 cfg.Listen,
		Handler:              w.handlers(),
		Password:             cfg.Password,
		AlwaysAllowLocalhost: cfg.AlwaysAllowLocalhost,
		Logger:               w.log.With("component", "rpc"),
	}
	if err := w.server.Listen(); err != nil {
		return err
	}

	w.mu.Lock()
	targets := w.targetNames()
	w.mu.Unlock()
	id, err := st.InstanceRegister(ctx, store.InstanceRegisterParams{
		Name: cfg.Name, Host: w.host, PID: pid(), Version: w.version, Targets: targets,
	})
	w.setInstanceID(id)
	w.lastBeat.Store(time.Now().UnixNano())
	if err != nil {
		_ = w.server.Shutdown(context.Background())
		return fmt.Errorf("database: %w", err)
	}
	w.log.Info("jobd started", "name", cfg.Name, "instance", w.instance(), "listen", w.server.ListenAddr().String(),
		"targets", targets, "version", w.version)

	w.rec = newRecorder(w)
	loops, stopLoops := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(loops) }()
	}
	// The server keeps answering (status, run-manual results) while jobs
	// drain; it stops last.
	serveCtx, stopServe := context.WithCancel(context.Background())
	serveDone := make(chan error, 1)
	go func() { serveDone <- w.server.Serve(serveCtx) }()
	recDone := make(chan struct{})
	go func() { w.rec.run(); close(recDone) }()
	w.startup(ctx)
	claims, stopClaims := context.WithCancel(context.Background())
	claimDone := make(chan struct{})
	go func() { defer close(claimDone); w.claimLoop(claims) }()
	spawn(w.heartbeatLoop)
	if cfg.Master.Addr != "" {
		w.master = newMasterLink(w)
		spawn(w.master.run)
	}
	close(w.ready)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
		// The listener failed under us: shut down as for a signal.
		w.log.Error("rpc server stopped", "err", serveErr)
		serveDone = nil
	}
	w.log.Info("shutting down")
	// No claim may be in flight while draining: the claim loop ends first,
	// after its current claim (whose jobs then count as running).
	stopClaims()
	<-claimDone
	w.shutdown()
	stopLoops()
	wg.Wait()
	// Every ended job has handed its outcome to the recorder before it
	// is told to finish up.
	w.runners.Wait()
	w.rec.close()
	<-recDone
	w.finalizeInstance()
	stopServe()
	if serveDone != nil {
		serveErr = <-serveDone
	}
	if serveErr != nil {
		return fmt.Errorf("rpc server: %w", serveErr)
	}
	w.log.Info("jobd stopped")
	return nil
}

// openStore opens the store, waiting up to mysql.wait_at_start for a
// database that cannot be reached (not for one that refuses: bad password,
// missing table…).
func (w *Worker) openStore(ctx context.Context, cfg *Config) (*store.Store, error) {
	deadline := time.Now().Add(cfg.MySQL.WaitAtStart.D())
	for failures := 1; ; failures++ {
		st, err := store.Open(ctx, cfg.MySQL.DSN, store.Options{
			Table: cfg.MySQL.Table, Clock: w.clock, Logger: w.log, MaxOpenConns: cfg.MySQL.MaxConnections,
		})
		if err == nil {
			return st, nil
		}
		wait := backoff(failures, 500*time.Millisecond, 5*time.Second)
		if !errors.Is(err, store.ErrUnavailable) || time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		w.log.Warn("database unreachable; waiting (mysql.wait_at_start)", "err", err, "until", deadline.Format(time.TimeOnly))
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// shutdown stops claiming and starting, releases queued jobs, gives running
// ones shutdown_timeout, then stops them, and waits until every process has
// ended (its outcome handed to the recorder).
func (w *Worker) shutdown() {
	cfg := w.config()
	w.mu.Lock()
	w.draining = true
	var released []*job
	for _, t := range w.targets {
		for _, p := range t.pools {
			released = append(released, p.queue...)
			p.queue = nil
		}
	}
	for _, j := range released {
		delete(w.jobs, j.ID)
	}
	w.mu.Unlock()

	if len(released) > 0 {
		ids := make([]int64, len(released))
		for i, j := range released {
			ids[i] = j.ID
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := w.store.JobsRelease(ctx, w.instance(), ids)
		cancel()
		if err != nil {
			w.log.Error("could not release claimed jobs; recovery will return them to waiting", "jobs", len(ids), "err", err)
		} else {
			w.log.Info("released claimed jobs", "jobs", n)
		}
		for _, j := range released {
			w.manualFailed(j.ID, "jobd is shutting down; the job was released before it started")
		}
	}

	if !w.waitIdle(cfg.ShutdownTimeout.D()) {
		w.mu.Lock()
		w.stopping = true // a job launched from now on is stopped at once
		var procs []*launch.Process
		for _, j := range w.jobs {
			if j.proc != nil {
				procs = append(procs, j.proc)
			}
		}
		w.mu.Unlock()
		w.log.Warn("shutdown_timeout reached; stopping running jobs", "jobs", len(procs), "timeout", cfg.ShutdownTimeout.D())
		for _, p := range procs {
			p.Stop(cfg.Launcher.KillGrace.D())
		}
		w.waitIdle(cfg.Launcher.KillGrace.D() + 10*time.Second)
	}
}

// waitIdle waits up to d for no job to be running; it reports whether that
// happened.
func (w *Worker) waitIdle(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		running := w.runningLocked()
		idle := w.idleChan()
		w.mu.Unlock()
		if running == 0 {
			return true
		}
		select {
		case <-idle:
		case <-deadline.C:
			return false
		}
	}
}

func (w *Worker) runningLocked() int {
	n := 0
	for _, t := range w.targets {
		for _, p := range t.pools {
			n += p.running
		}
	}
	return n
}

// idleChan returns a channel closed the next time a job ends. w.mu held.
func (w *Worker) idleChan() chan struct{} {
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	return w.idle
}

// noteJobEnded wakes waitIdle. w.mu held.
func (w *Worker) noteJobEnded() {
	if w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// Reload applies a new config: targets, concurrency, slots and launcher
// settings, without touching running jobs. Settings that need a restart
// (listen, mysql, master, name) keep their old values, with a warning.
func (w *Worker) Reload(cfg *Config) {
	old := w.config()
	for _, d := range []struct {
		key      string
		old, new any
	}{
		{"name", old.Name, cfg.Name}, {"listen", old.Listen, cfg.Listen}, {"password", old.Password, cfg.Password},
		{"mysql.dsn", old.MySQL.DSN, cfg.MySQL.DSN}, {"mysql.table", old.MySQL.Table, cfg.MySQL.Table},
		{"master.addr", old.Master.Addr, cfg.Master.Addr}, {"spool_dir", old.SpoolDir, cfg.SpoolDir},
	} {
		if d.old != d.new {
			w.log.Warn("reload: this setting needs a restart; keeping the running value", "key", d.key)
		}
	}
	merged := *cfg
	merged.Name, merged.Listen, merged.Password = old.Name, old.Listen, old.Password
	merged.MySQL, merged.Master, merged.SpoolDir = old.MySQL, old.Master, old.SpoolDir
	w.cfgMu.Lock()
	w.cfg = &merged
	w.cfgMu.Unlock()
	w.mu.Lock()
	w.applyTargets(&merged)
	for _, t := range w.targets {
		for _, p := range t.pools {
			p.poke()
		}
	}
	targets := w.targetNames()
	w.startReadyLocked()
	w.mu.Unlock()
	w.kickClaim()
	w.targetsChanged()
	w.log.Info("config reloaded", "targets", targets)
}
