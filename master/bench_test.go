package master

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// pollSink is a set of in-process workers, over real TCP, that count the
// polls they get.
type pollSink struct {
	polls atomic.Int64
	mu    sync.Mutex
	wake  chan struct{} // closed and replaced at every poll
}

func (s *pollSink) wait(n int64, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if s.polls.Load() >= n {
			return true
		}
		select {
		case <-wake:
		case <-deadline:
			return false
		}
	}
}

func (s *pollSink) add(tb testing.TB, addr string, n int, targets ...string) {
	tb.Helper()
	mux := rpc.NewMux()
	mux.Handle(rpc.ReqPoll, func(context.Context, *rpc.Conn, *rpc.Request) (any, error) {
		s.polls.Add(1)
		s.mu.Lock()
		close(s.wake)
		s.wake = make(chan struct{})
		s.mu.Unlock()
		return rpc.OK, nil
	})
	for i := range n {
		c, err := rpc.Dial(context.Background(), addr, rpc.DialOptions{Handler: mux, Timeout: 10 * time.Second})
		require.NoError(tb, err)
		tb.Cleanup(func() { c.Close() })
		require.NoError(tb, c.RegisterWorker(ctxFor(tb, 10*time.Second), fmt.Sprintf("w%d", i), targets))
	}
}

// pokeLatency pokes target and waits until every one of n serving workers
// has received its poll, rounds times; it returns the latencies, sorted.
func pokeLatency(tb testing.TB, c *rpc.Conn, s *pollSink, target string, n, rounds int) []time.Duration {
	tb.Helper()
	lat := make([]time.Duration, 0, rounds)
	for range rounds {
		want := s.polls.Load() + int64(n)
		start := time.Now()
		require.NoError(tb, c.Poke(ctxFor(tb, 10*time.Second), []string{target}))
		if !s.wait(want, 10*time.Second) {
			tb.Fatalf("only %d of %d polls arrived", s.polls.Load()-want+int64(n), n)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// BenchmarkPokeFanout500 measures the latency of a poke, from the client
// sending it until each of 500 registered workers (in-process, over real
// TCP) has received its poll, with poke_throttle_interval = 0 so every poke
// is a burst of its own. The baseline, measured in the same run, is the
// same with one serving worker; x-single is the ratio of the medians.
//
//	go test ./master -run '^$' -bench PokeFanout500 -benchtime 200x -count 5
func BenchmarkPokeFanout500(b *testing.B) {
	const workers = 500
	cfg := testConfig()
	cfg.PokeThrottleInterval = 0
	cfg.PingInterval = Duration(time.Minute)
	cfg.RequestTimeout = Duration(10 * time.Second)
	m := startMaster(b, cfg)
	many, one := &pollSink{wake: make(chan struct{})}, &pollSink{wake: make(chan struct{})}
	many.add(b, m.addr(), workers, "t")
	one.add(b, m.addr(), 1, "solo")
	c := client(b, m.addr(), "")
	pokeLatency(b, c, many, "t", workers, 10) // warm up
	pokeLatency(b, c, one, "solo", 1, 10)

	b.ResetTimer()
	lat := pokeLatency(b, c, many, "t", workers, b.N)
	b.StopTimer()
	base := pokeLatency(b, c, one, "solo", 1, max(b.N, 50))

	b.ReportMetric(float64(quantile(lat, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(quantile(base, 0.5).Microseconds()), "single-p50-µs")
	b.ReportMetric(float64(quantile(lat, 0.5))/float64(quantile(base, 0.5)), "x-single")
}
