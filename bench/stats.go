package main

import (
	"math"
	"slices"
	"time"
)

// series is a set of measurements of one quantity: runs of a benchmark, or
// the latencies of many jobs.
type series []float64

// sorted returns a sorted copy.
func (s series) sorted() series {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// median is the middle value (the mean of the two middle ones for an even
// count); NaN when empty.
func (s series) median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	n := len(c)
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100); NaN when
// empty. With 200 values, p99 is the 198th smallest.
func (s series) percentile(p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	rank := int(math.Ceil(p / 100 * float64(len(c))))
	return c[min(max(rank, 1), len(c))-1]
}

// min and max; NaN when empty.
func (s series) lo() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

func (s series) hi() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// ms converts a duration to milliseconds, the unit latencies are shown in.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
