package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/jobd/jobd/jobd/jobdtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jobdtest.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runBin runs the real binary and returns its exit code, stdout and stderr.
func runBin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(jobdtest.Bin(t, "jobd-master"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestConvertConfigPassesCheckConfig(t *testing.T) {
	t.Parallel()
	code, out, errOut := runBin(t, "convert-config", originalConfig(t))
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut, "no warnings for the fixture")
	require.Contains(t, out, `listen = "0.0.0.0:7081"`)
	require.Contains(t, out, `poke_throttle_interval = "250ms"`)

	converted := write(t, "jobd-master.toml", out)
	code, out, errOut = runBin(t, "--check-config", "--config", converted)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, converted+": config OK: listen 0.0.0.0:7081\n", out)

	code, _, errOut = runBin(t, "convert-config", write(t, "x.conf", "port = 7081\nmystery = 1\n"))
	require.Equal(t, 0, code)
	require.Contains(t, errOut, `jobd-master: warning: `)
	require.Contains(t, errOut, `"mystery" is not a key of the original jobd-master; dropped`)

	code, _, errOut = runBin(t, "convert-config", write(t, "x.conf", "port = seven\n"))
	require.Equal(t, 2, code)
	require.Regexp(t, `^jobd-master: .*x\.conf:1: port = "seven": must be a port number\n$`, errOut)

	code, _, errOut = runBin(t, "convert-config")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "Usage: jobd-master convert-config OLD.conf")
}

func TestCheckConfigAndVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runBin(t, "--check-config", "--config", filepath.Join("..", "..", "deploy", "jobd-master.example.toml"))
	require.Equal(t, 0, code)
	require.Contains(t, out, "config OK: listen 127.0.0.1:7081")

	bad := write(t, "bad.toml", "listen = \"nowhere\"\nrequest_timeout = \"-1s\"\n")
	code, out, errOut := runBin(t, "--check-config", "--config", bad)
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Equal(t, fmt.Sprintf("jobd-master: %[1]s: listen = \"nowhere\": not a host:port address (address nowhere: missing port in address)\n"+
		"jobd-master: %[1]s: request_timeout = \"-1s\": must be positive\n", bad), errOut)

	code, _, errOut = runBin(t, "--config", filepath.Join(t.TempDir(), "none.toml"))
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "none.toml: no such file or directory")

	code, out, _ = runBin(t, "--version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "jobd-master "), out)

	code, _, errOut = runBin(t, "--config", bad, "extra")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unexpected argument "extra"`)
	code, _, _ = runBin(t, "--no-such-flag")
	require.Equal(t, 2, code)
}

func TestPortTakenIsOneClearLine(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := write(t, "m.toml", fmt.Sprintf("listen = %q\n", ln.Addr().String()))
	code, _, errOut := runBin(t, "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, fmt.Sprintf("jobd-master: listen %s: address already in use\n", ln.Addr()))
	require.Equal(t, 1, strings.Count(errOut, "address already in use"), errOut)
}

func TestSignals(t *testing.T) {
	t.Parallel()
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Top: `request_timeout = "2s"`})
	require.NoError(t, os.WriteFile(m.Config, []byte(fmt.Sprintf("listen = %q\nrequest_timeout = \"3s\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\n", m.Addr())), 0o600))
	m.Signal(syscall.SIGHUP)
	jobdtest.Eventually(t, 10*time.Second, func() bool { return m.LogContains(`"msg":"config reloaded"`) }, "no reload on SIGHUP")
	require.True(t, m.LogContains(`"request_timeout":"3s"`), m.Logs())
	require.Equal(t, 0, m.Stop(), "SIGTERM: a clean exit")
	require.True(t, m.LogContains(`"msg":"jobd-master stopped"`))
}
