package main

import (
	"fmt"
	"strings"
)

// jobdSpec is what a benchmark's jobd is configured with. Everything else
// is jobd's default: heartbeats, prefetch 0, max_connections 8, log level
// info (as in production), JSON so the harness can read the start line.
type jobdSpec struct {
	name        string
	dsn         string
	targets     []string
	concurrency int // per target
	launcher    string
	master      string // jobd-master address, "" for none
	// pollInterval "0": the worker claims only when polled (and once at
	// start), so the harness decides when a drain begins.
	pollInterval string
	top          string // more top-level keys, TOML
}

func (s jobdSpec) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "name = %q\nlisten = \"127.0.0.1:0\"\npoll_interval = %q\n%s", s.name, s.pollInterval, s.top)
	if s.master != "" {
		fmt.Fprintf(&b, "\n[master]\naddr = %q\nreconnect_interval = \"1s\"\n", s.master)
	}
	fmt.Fprintf(&b, "\n[mysql]\ndsn = %q\n", s.dsn)
	fmt.Fprintf(&b, "\n[launcher]\ncommand = %q\n", s.launcher)
	for _, t := range s.targets {
		fmt.Fprintf(&b, "\n[targets.%q]\nconcurrency = %d\n", t, s.concurrency)
	}
	b.WriteString("\n[log]\nlevel = \"info\"\nformat = \"json\"\n")
	return b.String()
}

// masterConfig is a jobd-master's config. The poke throttle is given
// explicitly because the latency measurement spaces its pokes by more
// than it (so every poke is the first of a quiet period and goes out at
// once, as it would with the default 500ms and pokes that far apart).
func masterConfig(pokeThrottle string) string {
	return fmt.Sprintf("listen = \"127.0.0.1:0\"\npoke_throttle_interval = %q\n\n[log]\nlevel = \"info\"\nformat = \"json\"\n", pokeThrottle)
}

// startJobd starts a jobd; env is added to its environment.
func (e *env) startJobd(s jobdSpec, env ...string) (*proc, error) {
	return e.startProc(s.name, e.jobdBin, s.config(), "jobd started", env...)
}

// startMaster starts a jobd-master.
func (e *env) startMaster(name, pokeThrottle string) (*proc, error) {
	return e.startProc(name, e.masterBin, masterConfig(pokeThrottle), "jobd-master started")
}

// names returns prefix0 … prefix(n-1), e.g. target names t0, t1, ….
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
