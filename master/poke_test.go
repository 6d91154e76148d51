package master

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bursts records what a poker sends.
type bursts struct {
	mu   sync.Mutex
	list [][]string
	at   []time.Time
}

func (b *bursts) add(ts []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = append(b.list, ts)
	b.at = append(b.at, time.Now())
}

func (b *bursts) get() ([][]string, []time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.list), slices.Clone(b.at)
}

// runPoker runs a poker until the test ends.
func runPoker(t *testing.T, throttle time.Duration) (*poker, *bursts) {
	t.Helper()
	b := &bursts{}
	p := newPoker(func() time.Duration { return throttle }, b.add)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return p, b
}

func TestPokerFirstPokeGoesOutAtOnce(t *testing.T) {
	t.Parallel()
	// With an interval of an hour, only the leading edge can ever be seen.
	p, b := runPoker(t, time.Hour)
	p.poke([]string{"b", "a"})
	eventually(t, func() bool { l, _ := b.get(); return len(l) == 1 }, "the first poke was not sent at once")
	l, _ := b.get()
	require.Equal(t, [][]string{{"a", "b"}}, l)
	p.poke([]string{"c"})
	time.Sleep(100 * time.Millisecond)
	l, _ = b.get()
	require.Len(t, l, 1, "a poke within the interval waits for its end")
}

func TestPokerGathersPokesWithinTheInterval(t *testing.T) {
	t.Parallel()
	const throttle = 200 * time.Millisecond
	p, b := runPoker(t, throttle)
	p.poke([]string{"a"})
	eventually(t, func() bool { l, _ := b.get(); return len(l) == 1 }, "first burst")
	p.poke([]string{"b"})
	p.poke([]string{"c", "b"})
	p.poke([]string{"a"})
	eventually(t, func() bool { l, _ := b.get(); return len(l) == 2 }, "the gathered pokes were not sent when the interval ended")
	l, at := b.get()
	require.Equal(t, [][]string{{"a"}, {"a", "b", "c"}}, l)
	require.GreaterOrEqual(t, at[1].Sub(at[0]), throttle, "the second burst waited for the interval")

	// After a quiet period the next poke goes out at once again: with the
	// interval over, it is not held back to the next boundary.
	time.Sleep(2 * throttle)
	before := time.Now()
	p.poke([]string{"d"})
	eventually(t, func() bool { l, _ := b.get(); return len(l) == 3 }, "third burst")
	l, at = b.get()
	require.Equal(t, []string{"d"}, l[2])
	require.Less(t, at[2].Sub(before), throttle, "a poke after a quiet period waited for an interval")
}

func TestPokerBoundsBurstsAndLosesNoTarget(t *testing.T) {
	t.Parallel()
	const throttle = 50 * time.Millisecond
	p, b := runPoker(t, throttle)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				p.poke([]string{fmt.Sprintf("t%d", (g*250+i)%40)})
				if i%25 == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	eventually(t, func() bool {
		l, _ := b.get()
		seen := map[string]bool{}
		for _, ts := range l {
			for _, t := range ts {
				seen[t] = true
			}
		}
		return len(seen) == 40
	}, "some poked target never went out")
	time.Sleep(2 * throttle) // a trailing burst in flight lands
	l, _ := b.get()
	limit := 1 + int(elapsed/throttle) + 1
	require.LessOrEqual(t, len(l), limit, "1000 pokes in %s gave %d bursts", elapsed, len(l))
	for _, ts := range l {
		require.True(t, slices.IsSorted(ts))
		require.Equal(t, len(ts), len(slices.Compact(slices.Clone(ts))), "a target twice in one burst")
	}
}

func TestPokerZeroIntervalStillSendsEverything(t *testing.T) {
	t.Parallel()
	p, b := runPoker(t, 0)
	for i := range 100 {
		p.poke([]string{fmt.Sprint(i % 7)})
	}
	eventually(t, func() bool {
		l, _ := b.get()
		seen := map[string]bool{}
		for _, ts := range l {
			for _, t := range ts {
				seen[t] = true
			}
		}
		return len(seen) == 7
	}, "targets lost")
}
