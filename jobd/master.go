package jobd

import (
	"context"
	"sync"
	"time"

	"github.com/jobd/jobd/rpc"
)

// masterPingInterval is how often jobd pings its master; a master silent for
// twice as long is presumed gone and jobd reconnects.
const masterPingInterval = 15 * time.Second

// masterLink keeps jobd registered with its master: it dials, sends
// register-worker, serves the master's requests over that same connection,
// re-registers when the targets change, and reconnects every
// reconnect_interval after a loss. jobd works fully without it.
type masterLink struct {
	w       *Worker
	changed chan struct{}

	mu        sync.Mutex
	connected bool
}

func newMasterLink(w *Worker) *masterLink {
	return &masterLink{w: w, changed: make(chan struct{}, 1)}
}

// targetsChanged re-registers with the master, if there is one, and
// refreshes the instance row at the next heartbeat.
func (w *Worker) targetsChanged() {
	if w.master != nil {
		select {
		case w.master.changed <- struct{}{}:
		default:
		}
	}
}

func (m *masterLink) run(ctx context.Context) {
	w := m.w
	handler := w.handlers()
	failing := false
	for ctx.Err() == nil {
		cfg := w.config()
		conn, err := rpc.Dial(ctx, cfg.Master.Addr, rpc.DialOptions{
			Password:     cfg.MasterPassword(),
			Timeout:      5 * time.Second,
			Handler:      handler,
			Logger:       w.log.With("component", "master"),
			PingInterval: masterPingInterval,
		})
		if err == nil {
			err = m.register(ctx, conn)
			if err != nil {
				conn.Close()
			}
		}
		if err != nil {
			if !failing {
				w.log.Warn("cannot reach the master; retrying every reconnect_interval", "master", cfg.Master.Addr, "err", err,
					"reconnect_interval", cfg.Master.ReconnectInterval.D())
				failing = true
			} else {
				w.log.Debug("master still unreachable", "master", cfg.Master.Addr, "err", err)
			}
		} else {
			failing = false
			w.log.Info("registered with the master", "master", cfg.Master.Addr)
			m.setConnected(true)
			m.serve(ctx, conn)
			m.setConnected(false)
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("lost the connection to the master; reconnecting", "master", cfg.Master.Addr, "err", conn.Err())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Master.ReconnectInterval.D()):
		}
	}
}

func (m *masterLink) setConnected(v bool) {
	m.mu.Lock()
	m.connected = v
	m.mu.Unlock()
}

// register sends register-worker with the current name and targets.
func (m *masterLink) register(ctx context.Context, conn *rpc.Conn) error {
	m.w.mu.Lock()
	targets := m.w.targetNames()
	m.w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return conn.RegisterWorker(rctx, m.w.config().Name, targets)
}

// serve keeps the connection until it drops or ctx ends, re-registering
// when the targets change.
func (m *masterLink) serve(ctx context.Context, conn *rpc.Conn) {
	defer conn.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-m.changed:
			if err := m.register(ctx, conn); err != nil {
				m.w.log.Warn("re-registering with the master failed", "err", err)
				return
			}
			m.w.log.Info("re-registered with the master (targets changed)")
		}
	}
}
