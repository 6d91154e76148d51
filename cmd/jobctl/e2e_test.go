package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// TestEndToEndWithTheBinary runs the real jobctl binary against a real jobd
// that wants a password: jobs add --wait of a background and of a manual job
// prints the output and returns the job's exit code; jobs cancel of a
// running job refuses with a clear message; Ctrl-C during --wait exits 130
// and the job goes on; the password comes from the environment, a prompt
// on stdin or the config file.
func TestEndToEndWithTheBinary(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	d := e.worker("w1", `password = "s3cret"`)
	e.configFor(d.Addr(), "")
	e.vars["JOBD_PASSWORD"] = "s3cret"
	t.Cleanup(e.release)

	// A background job: its stdout and stderr on jobctl's, its exit code.
	r := binRun(t, e, "jobs", "add", "--target", "fail", "--wait")
	require.Equal(t, 3, r.code, "%+v", r)
	require.Equal(t, "hello from job 1 (fail)\n", r.stdout)
	require.Equal(t, "a warning from job 1\n", r.stderr)
	r = binRun(t, e, "jobs", "add", "--target", "ok", "--wait")
	require.Equal(t, 0, r.code, "%+v", r)
	require.Equal(t, "hello from job 2 (ok)\n", r.stdout)
	// Killed by a signal: 128+15.
	r = binRun(t, e, "jobs", "add", "--target", "term", "--wait")
	require.Equal(t, 128+int(syscall.SIGTERM), r.code, "%+v", r)
	require.Equal(t, "hello from job 3 (term)\n", r.stdout)

	// A manual job runs through run-manual: same output and codes.
	r = binRun(t, e, "jobs", "add", "--target", "fail", "--manual", "--wait")
	require.Equal(t, 3, r.code, "%+v", r)
	require.Equal(t, "hello from job 4 (fail)\n", r.stdout)
	require.Equal(t, "a warning from job 4\n", r.stderr)
	require.True(t, e.job(4).Manual, "run by run-manual, not by polling")
	r = binRun(t, e, "jobs", "add", "--target", "term", "--manual", "--wait")
	require.Equal(t, 128+int(syscall.SIGTERM), r.code, "%+v", r)

	// Cancelling a running job is refused, and says what to do instead.
	require.Equal(t, "6\n", binRun(t, e, "jobs", "add", "--target", "hold").stdout)
	e.waitStatus(6, store.StatusRunning)
	r = binRun(t, e, "jobs", "cancel", "6")
	require.Equal(t, exitFailed, r.code)
	require.Equal(t, "jobctl: job 6 is running; only waiting or manual jobs can be cancelled (to stop it: jobctl signal 6 TERM)\n", r.stderr)
	require.Empty(t, r.stdout)
	require.Equal(t, store.StatusRunning, e.job(6).Status, "left alone")

	// Ctrl-C while waiting: exit 130, the job goes on.
	cmd := exec.Command(jobdtest.Bin(t, "jobctl"), "jobs", "add", "--target", "hold", "--wait")
	cmd.Env = binEnv(e.vars)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	e.waitStatus(7, store.StatusRunning)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitInterrupted, ee.ExitCode())
	require.Equal(t, "jobctl: interrupted waiting for job 7; it goes on (jobctl jobs show 7)\n", errOut.String())
	require.Equal(t, store.StatusRunning, e.job(7).Status)

	// --timeout ends the wait with 124; the job stays.
	r = binRun(t, e, "--timeout", "500ms", "jobs", "add", "--target", "ok", "--delay", "1h", "--wait")
	require.Equal(t, exitTimeout, r.code, "%+v", r)
	require.Equal(t, "jobctl: timed out after 500ms waiting for job 8; it goes on (jobctl jobs show 8)\n", r.stderr)
	require.Equal(t, store.StatusWaiting, e.job(8).Status)
	e.release()
	require.Equal(t, store.ResultOK, e.waitStatus(7, store.StatusDone).Result, "the job went on")

	// The password from a prompt (stdin here, not a terminal) and from the
	// config file.
	noPw := copyVars(e.vars)
	delete(noPw, "JOBD_PASSWORD")
	r = binRunEnv(t, noPw, "s3cret\n", "-P", "poll")
	require.Equal(t, 0, r.code, "%+v", r)
	require.Equal(t, "poll: ok (all targets)\n", r.stdout)
	home := t.TempDir()
	noPw["HOME"] = home
	cfg, err := os.ReadFile(filepath.Join(e.home, configName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, configName), append(cfg, "password = \"s3cret\"\n"...), 0o600))
	r = binRunEnv(t, noPw, "", "pause", "ok")
	require.Equal(t, 0, r.code, "%+v", r)
	require.Empty(t, r.stderr)
	// A config file with a password that others may read gets a warning.
	require.NoError(t, os.Chmod(filepath.Join(home, configName), 0o644))
	r = binRunEnv(t, noPw, "", "continue", "ok")
	require.Equal(t, 0, r.code, "%+v", r)
	require.Contains(t, r.stderr, "holds a password and others can read it")
}

// TestBadInput feeds the binary every kind of mistake: each is one clear
// line on stderr, the right exit code, and never a stack trace.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newTenv(t)
	d := e.worker("w1", `password = "s3cret"`)
	e.configFor(d.Addr(), "")
	e.vars["JOBD_PASSWORD"] = "s3cret"
	badConfig := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(badConfig, []byte("host = \"x\"\nprot = 7080\n"), 0o600))
	noPw := copyVars(e.vars)
	delete(noPw, "JOBD_PASSWORD")

	cases := []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown command", nil, []string{"bogus"}, exitUsage, `unknown command "bogus" (see jobctl --help)`},
		{"misspelt command", nil, []string{"stauts"}, exitUsage, "did you mean status?"},
		{"unknown jobs command", nil, []string{"jobs", "lst"}, exitUsage, "did you mean list?"},
		{"unknown flag", nil, []string{"status", "--bogus"}, exitUsage, "unknown flag: --bogus (see jobctl status --help)"},
		{"missing arguments", nil, []string{"set-concurrency", "ok"}, exitUsage, "set-concurrency needs TARGET and N"},
		{"missing signal", nil, []string{"signal", "1"}, exitUsage, "signal needs ID and SIGNAL"},
		{"missing id", nil, []string{"run-manual"}, exitUsage, "run-manual needs at least one job ID"},
		{"missing id to show", nil, []string{"jobs", "show"}, exitUsage, "show needs a job ID"},
		{"too many arguments", nil, []string{"remove-target", "a", "b"}, exitUsage, "remove-target takes TARGET, got 2 arguments"},
		{"non-numeric id", nil, []string{"jobs", "show", "abc"}, exitUsage, `invalid job id "abc": must be a positive integer`},
		{"non-numeric id in a list", nil, []string{"run-manual", "1", "x2"}, exitUsage, `invalid job id "x2"`},
		{"zero id", nil, []string{"jobs", "cancel", "0"}, exitUsage, `invalid job id "0"`},
		{"non-numeric concurrency", nil, []string{"set-concurrency", "ok", "many"}, exitUsage, `invalid concurrency "many": must be a positive integer`},
		{"zero concurrency", nil, []string{"add-target", "x", "0"}, exitUsage, `invalid concurrency "0"`},
		{"unknown signal name", nil, []string{"signal", "1", "FOO"}, exitUsage, `unknown signal "FOO"`},
		{"unknown signal number", nil, []string{"signal", "1", "99"}, exitUsage, `unknown signal "99"`},
		{"required flag", nil, []string{"jobs", "add"}, exitUsage, `required flag(s) "target" not set`},
		{"bad flag value", nil, []string{"jobs", "list", "--limit", "x"}, exitUsage, `invalid argument "x" for "--limit" flag: not a number`},
		{"bad duration", nil, []string{"jobs", "add", "--target", "ok", "--delay", "soon"}, exitUsage, `invalid argument "soon" for "--delay" flag: not a duration`},
		{"bad since", nil, []string{"jobs", "list", "--since", "yesterday"}, exitUsage, `invalid --since "yesterday"`},
		{"bad set", nil, []string{"jobs", "add", "--target", "ok", "--set", "novalue"}, exitUsage, `invalid --set "novalue": expected COLUMN=VALUE`},
		{"worker request to the master", nil, []string{"--master", "set-concurrency", "ok", "2"}, exitUsage, "set-concurrency talks to a jobd worker"},
		{"master job without target", nil, []string{"--master", "--dsn", "", "run-manual", "5"}, exitUsage, "name each job as ID:TARGET"},
		{"target for a worker", nil, []string{"run-manual", "5:ok"}, exitUsage, "ID:TARGET is for --master"},
		{"missing config file", nil, []string{"--config", "/nonexistent/jobctl.toml", "status"}, exitUsage, "/nonexistent/jobctl.toml: cannot read the config file: no such file or directory"},
		{"bad config key", nil, []string{"--config", badConfig, "status"}, exitUsage, `unknown key "prot"`},
		{"bad dsn", nil, []string{"--dsn", "nonsense", "jobs", "list"}, exitUsage, "invalid mysql dsn"},
		{"unreachable host", nil, []string{"--host", "127.0.0.1", "--port", "1", "status"}, exitConnect, "cannot connect to jobd at 127.0.0.1:1: connection refused"},
		{"unreachable master", nil, []string{"--host", "127.0.0.1:1", "workers"}, exitConnect, "cannot connect to jobd-master at 127.0.0.1:1: connection refused"},
		{"unreachable database", nil, []string{"--dsn", "u:p@tcp(127.0.0.1:1)/x", "jobs", "list"}, exitConnect, "cannot connect to mysql at 127.0.0.1:1"},
		{"wrong password", nil, []string{"--password", "wrong", "status"}, exitConnect, "refused the password"},
		{"no password", noPw, []string{"status"}, exitConnect, "wants a password: give it with --password, -P or JOBD_PASSWORD"},
		{"no password on stdin", noPw, []string{"-P", "status"}, exitUsage, "-P: no password on stdin"},
		{"error answer", nil, []string{"pause", "nope"}, exitFailed, `target "nope"`},
		{"not found", nil, []string{"jobs", "show", "12345"}, exitFailed, "job 12345 not found"},
	}
	for _, c := range cases {
		vars := e.vars
		if c.vars != nil {
			vars = c.vars
		}
		r := binRunEnv(t, vars, "", c.args...)
		require.Equal(t, c.code, r.code, "%s: jobctl %s: %+v", c.name, shellJoin(c.args), r)
		requireOneLine(t, r)
		require.Contains(t, r.stderr, c.want, c.name)
		require.Empty(t, r.stdout, c.name)
	}
}

func binRun(t *testing.T, e *tenv, args ...string) result {
	t.Helper()
	return binRunEnv(t, e.vars, "", args...)
}

// binRunEnv runs the real jobctl binary with only vars (and PATH) in its
// environment and stdin as its standard input.
func binRunEnv(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(jobdtest.Bin(t, "jobctl"), args...)
	cmd.Env = binEnv(vars)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("jobctl %s did not exit within a minute", shellJoin(args))
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "running jobctl: %v", err)
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	return result{args: args, stdout: out.String(), stderr: errOut.String(), code: code}
}

func binEnv(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "GORACE=halt_on_error=1"}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func copyVars(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
