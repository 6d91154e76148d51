// Command jobctl is the command line for people: it talks to a jobd worker
// or to jobd-master over the jobd protocol (status, poll, pause, continue,
// concurrency, targets, run-manual, signals), and to the jobs table for
// inspecting, adding, cancelling and retrying jobs. `jobctl --help` lists the
// commands; the README documents each one, the config file and the exit
// codes.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	// The first Ctrl-C cancels the command (a waited-for job goes on); once
	// stop runs, a second one kills jobctl the usual way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], osEnv())
	stop()
	os.Exit(code)
}

// env is everything jobctl takes from its process, so tests can run it
// in-process with their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// readPassword reads a password without echo when stdin is a
	// terminal; nil means stdin is not one (a line is read instead).
	readPassword func() ([]byte, error)
}

func osEnv() env {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		e.readPassword = func() ([]byte, error) { return term.ReadPassword(fd) }
	}
	return e
}

// run runs one jobctl command line and returns its exit code.
func run(ctx context.Context, args []string, e env) int {
	a := newApp(e)
	return a.execute(ctx, args)
}
