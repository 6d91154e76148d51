package launch

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSignalName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "SIGTERM", SignalName(syscall.SIGTERM))
	require.Equal(t, "SIGKILL", SignalName(9))
	require.Equal(t, "SIGHUP", SignalName(1))
	require.Equal(t, "SIGUSR1", SignalName(syscall.SIGUSR1))
	require.Equal(t, "SIGSYS", SignalName(31))
	require.Empty(t, SignalName(0))
	require.Empty(t, SignalName(-1))
	require.Empty(t, SignalName(200))
}

func TestParseSignal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "SIGTERM": syscall.SIGTERM, "sigterm": syscall.SIGTERM, "term": syscall.SIGTERM,
		"SigTerm": syscall.SIGTERM, "15": syscall.SIGTERM, "KILL": syscall.SIGKILL, "9": syscall.SIGKILL,
		"usr1": syscall.SIGUSR1, "SIGHUP": syscall.SIGHUP, "1": syscall.SIGHUP, "31": syscall.SIGSYS,
	} {
		got, err := ParseSignal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "FOO", "SIG", "sig", "0", "-15", "200", " TERM", "TERM ", "SIGSIGTERM", "15x", "+15"} {
		_, err := ParseSignal(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), "unknown signal \""+in+"\"")
	}
	// Every name SignalName gives parses back to its number.
	for sig := syscall.Signal(1); sig < 65; sig++ {
		if name := SignalName(sig); name != "" {
			got, err := ParseSignal(name)
			require.NoError(t, err, name)
			require.Equal(t, sig, got, name)
		}
	}
}
