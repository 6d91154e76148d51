package launch

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SignalName returns the name of sig, "SIGTERM" for 15 and so on, or "" for
// a number that is not a signal.
func SignalName(sig syscall.Signal) string { return unix.SignalName(sig) }

// ParseSignal returns the signal named by s: "TERM", "SIGTERM", "sigterm" or
// "15" are all SIGTERM.
func ParseSignal(s string) (syscall.Signal, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && SignalName(syscall.Signal(n)) != "" {
			return syscall.Signal(n), nil
		}
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
