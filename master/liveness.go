package master

import (
	"context"
	"time"
)

// watch pings every registered worker each ping_interval and drops one
// from which nothing at all (no pong, no request, no answer) arrived for
// two intervals. Only registered workers are pinged: a client such as the
// PHP library, waiting for a long run-manual answer, would take a ping for
// its answer. The check runs four times per interval, so a silent worker
// is gone at most a quarter interval after its two intervals are up.
func (m *Master) watch(ctx context.Context) {
	lastPing := time.Now()
	for {
		interval := m.config().PingInterval.D()
		t := time.NewTimer(interval / 4)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		ping := now.Sub(lastPing) >= interval-interval/8
		if ping {
			lastPing = now
		}
		for _, w := range m.reg.list() {
			if silent := now.Sub(w.conn.LastReceived()); silent > 2*interval {
				if m.reg.remove(w.conn) != nil {
					m.log.Warn("worker left: it missed its pongs", "worker", w.String(), "targets", w.targets,
						"silent", silent.Round(time.Millisecond).String(), "ping_interval", interval.String(), "workers", m.reg.len())
					m.background(func(context.Context) { _ = w.conn.Close() })
				}
				continue
			}
			if ping && w.pinging.CompareAndSwap(false, true) {
				// A write to a peer that stopped reading can block for the
				// write timeout; it must not hold up the others.
				m.background(func(context.Context) {
					defer w.pinging.Store(false)
					_ = w.conn.Ping()
				})
			}
		}
	}
}
