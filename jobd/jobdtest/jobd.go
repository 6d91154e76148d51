package jobdtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobd/jobd/rpc"
)

// JobdSpec describes a jobd under test. The helper writes listen, [mysql]
// and [log]; the rest comes from Top (top-level keys) and Body (tables such
// as [launcher] and [targets.x]).
type JobdSpec struct {
	Name   string
	DSN    string
	Table  string // default jobs
	Listen string // default 127.0.0.1:0
	Top    string // top-level keys, e.g. `poll_interval = "1s"`
	MySQL  string // extra [mysql] keys
	Body   string
	Plain  bool // the binary without the race detector
}

// ConfigText renders the spec as a jobd config.
func (s JobdSpec) ConfigText() string {
	if s.Name == "" {
		s.Name = "jobd"
	}
	if s.Listen == "" {
		s.Listen = "127.0.0.1:0"
	}
	if s.Table == "" {
		s.Table = "jobs"
	}
	return fmt.Sprintf("name = %q\nlisten = %q\n%s\n\n[mysql]\ndsn = %q\ntable = %q\n%s\n\n[log]\nlevel = \"debug\"\nformat = \"json\"\n\n%s\n",
		s.Name, s.Listen, s.Top, s.DSN, s.Table, s.MySQL, s.Body)
}

// NewJobd prepares a jobd process (not started).
func NewJobd(t testing.TB, s JobdSpec) *Proc {
	t.Helper()
	bin := Bin(t, "jobd")
	if s.Plain {
		bin = PlainBin(t, "jobd")
	}
	name := s.Name
	if name == "" {
		name = "jobd"
	}
	return newProc(t, name, bin, s.ConfigText(), "jobd started")
}

// StartJobd starts a jobd and waits until it serves.
func StartJobd(t testing.TB, s JobdSpec) *Proc {
	t.Helper()
	p := NewJobd(t, s)
	p.Start()
	return p
}

// Dial connects to a daemon; the connection closes when the test ends.
func Dial(t testing.TB, addr string, password string) *rpc.Conn {
	t.Helper()
	c, err := rpc.Dial(context.Background(), addr, rpc.DialOptions{Password: password, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Ctx is a context for one call, cancelled when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every 20ms until it holds or d passes.
func Eventually(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exchange sends raw bytes to addr and returns the first n messages that
// come back, each with its EOT, as one string.
func Exchange(t testing.TB, addr, send string, n int) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	var out strings.Builder
	for range n {
		msg, err := r.ReadString(rpc.EOT)
		out.WriteString(msg)
		if err != nil {
			t.Fatalf("reading reply from %s: %v (got %q)", addr, err, out.String())
		}
	}
	return out.String()
}

// Script writes an executable /bin/sh script and returns its path.
func Script(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "launcher.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
