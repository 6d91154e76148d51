// Package daemon is wiring shared by the jobd and jobd-master mains: the
// command line (flags.go) and the convert-config command (convert.go), exit
// codes and the one-line failure, the logger from the [log] section, signal
// handling with the SIGHUP reload, and the version string.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
)

// Version is the program version: the module version, or the VCS revision
// of a development build.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

// LogFile is a log destination that can be reopened (after logrotate moved
// the file, on SIGHUP).
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Write writes to the current file.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes and reopens the file.
func (l *LogFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// NewLogger builds the logger of a [log] section: level, text or json, to
// stderr or to file. The LogFile is nil when logging to stderr.
func NewLogger(level, format, file string) (*slog.Logger, *LogFile, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, nil, fmt.Errorf("log.level = %q: must be debug, info, warn or error", level)
	}
	var out io.Writer = os.Stderr
	var lf *LogFile
	if file != "" {
		lf = &LogFile{path: file}
		if err := lf.Reopen(); err != nil {
			return nil, nil, err
		}
		out = lf
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(out, opts)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return nil, nil, fmt.Errorf("log.format = %q: must be text or json", format)
	}
	return slog.New(h), lf, nil
}

// Reloader returns what a daemon does on SIGHUP: reopen its log file
// (logrotate moved it; lf is nil when it logs to stderr), then load the
// config at path again and apply it. A config that does not load is
// logged, and the running one kept.
func Reloader[C any](log *slog.Logger, lf *LogFile, path string, load func(path string) (C, error), apply func(C)) func() {
	return func() {
		if lf != nil {
			if err := lf.Reopen(); err != nil {
				log.Error("reopening the log file failed", "err", err)
			}
		}
		next, err := load(path)
		if err != nil {
			log.Error("reload failed; keeping the running config", "err", err)
			return
		}
		apply(next)
	}
}

// Signals returns a context cancelled at the first SIGTERM or SIGINT; a
// second one exits the process at once with status 1. Each SIGHUP calls
// reload. stop releases the signal handlers.
func Signals(log *slog.Logger, reload func()) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		stopping := false
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				switch {
				case sig == syscall.SIGHUP:
					if reload != nil {
						reload()
					}
				case stopping:
					log.Error("second signal: exiting at once", "signal", sig.String())
					os.Exit(1)
				default:
					stopping = true
					log.Info("signal received: shutting down (send it again to exit at once)", "signal", sig.String())
					cancel()
				}
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// CPUProfile writes a CPU profile to path until stop is called (at exit),
// when path is not empty: JOBD_CPUPROFILE=/tmp/jobd.prof jobd --config …
func CPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// WriteMemProfile writes the profile of the memory allocated over the
// daemon's life to path, when path is not empty (at exit:
// JOBD_MEMPROFILE=/tmp/jobd.mem jobd --config …).
func WriteMemProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	return f.Close()
}

// Exit codes of the daemons.
const (
	ExitOK    = 0
	ExitError = 1 // the daemon failed: database, port, …
	ExitUsage = 2 // bad command line or config
)

// Fail prints a one-line error for a person and exits with code.
func Fail(prog string, code int, err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n"+prog+": ")
	fmt.Fprintf(os.Stderr, "%s: %s\n", prog, msg)
	os.Exit(code)
}
