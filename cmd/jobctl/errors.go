package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit codes. `jobs add --wait` exits with the job's own code instead (and
// 128+N for a job killed by signal N).
const (
	exitOK          = 0
	exitFailed      = 1   // the request failed: an error answer, a job refused, not delivered or failed
	exitUsage       = 2   // bad command line, flag, argument or config
	exitConnect     = 3   // cannot connect to the daemon or database, or the password was refused
	exitTimeout     = 124 // --timeout (or the 30 s limit of a request) ran out
	exitInterrupted = 130 // Ctrl-C or SIGTERM; a waited-for job goes on
)

// exitError is an error with the exit code it calls for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a bad command line: exit 2.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// connectErr is a daemon or database that cannot be used: exit 3.
func connectErr(format string, args ...any) error {
	return &exitError{code: exitConnect, err: fmt.Errorf(format, args...)}
}

// failed is a request that did not do what was asked: exit 1. The message
// has been printed already when err is nil.
func failed(format string, args ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, args...)}
}

// silentExit ends the command with code and no further message: what there
// was to say is said.
type silentExit int

func (s silentExit) Error() string { return fmt.Sprintf("exit %d", int(s)) }

// exitCode picks the exit code for an error a command returned.
func exitCode(err error) int {
	var s silentExit
	var e *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &s):
		return int(s)
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	}
	return exitFailed
}

// oneLine makes an error message a single line: config validation, for one,
// reports several problems on several lines.
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}
