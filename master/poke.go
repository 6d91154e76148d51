package master

import (
	"context"
	"slices"
	"sync"
	"time"
)

// poker coalesces pokes: the first poke of a quiet period goes out at once
// as a burst; pokes arriving within the throttle interval after a burst are
// gathered and go out together when it ends. So a target is polled at most
// once per interval, and a poke is never delayed by more than one interval.
type poker struct {
	throttle func() time.Duration
	burst    func(targets []string) // sends the polls; must not block for long

	mu      sync.Mutex
	pending map[string]bool
	kick    chan struct{} // capacity 1: "something is pending"
}

func newPoker(throttle func() time.Duration, burst func([]string)) *poker {
	return &poker{throttle: throttle, burst: burst, pending: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// poke marks targets pending and wakes the loop.
func (p *poker) poke(targets []string) {
	p.mu.Lock()
	for _, t := range targets {
		p.pending[t] = true
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// take returns the pending targets, sorted, and clears them.
func (p *poker) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	ts := make([]string, 0, len(p.pending))
	for t := range p.pending {
		ts = append(ts, t)
	}
	clear(p.pending)
	slices.Sort(ts)
	return ts
}

// run sends bursts until ctx ends.
func (p *poker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		targets := p.take()
		if len(targets) == 0 {
			continue
		}
		p.burst(targets)
		if d := p.throttle(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		// Pokes that came during the interval left a kick: the loop sends
		// them at once, and waits an interval again.
	}
}
