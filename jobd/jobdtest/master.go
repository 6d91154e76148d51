package jobdtest

import (
	"fmt"
	"net"
	"testing"
)

// MasterSpec describes a jobd-master under test. The helper writes listen,
// password and [log]; Top adds top-level keys such as
// `ping_interval = "1s"`.
type MasterSpec struct {
	Name     string // for messages; default jobd-master
	Listen   string // default 127.0.0.1:0; use FreeAddr to restart on the same port
	Password string
	Top      string
	Plain    bool // the binary without the race detector
}

// ConfigText renders the spec as a jobd-master config.
func (s MasterSpec) ConfigText() string {
	if s.Listen == "" {
		s.Listen = "127.0.0.1:0"
	}
	return fmt.Sprintf("listen = %q\npassword = %q\n%s\n\n[log]\nlevel = \"debug\"\nformat = \"json\"\n",
		s.Listen, s.Password, s.Top)
}

// NewMaster prepares a jobd-master process (not started).
func NewMaster(t testing.TB, s MasterSpec) *Proc {
	t.Helper()
	bin := Bin(t, "jobd-master")
	if s.Plain {
		bin = PlainBin(t, "jobd-master")
	}
	name := s.Name
	if name == "" {
		name = "jobd-master"
	}
	return newProc(t, name, bin, s.ConfigText(), "jobd-master started")
}

// StartMaster starts a jobd-master and waits until it serves.
func StartMaster(t testing.TB, s MasterSpec) *Proc {
	t.Helper()
	p := NewMaster(t, s)
	p.Start()
	return p
}

// FreeAddr returns a loopback address with a port free at the moment, for
// a daemon that must come back on the same port after a restart.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
