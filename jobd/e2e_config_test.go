package jobd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd"
	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store/storetest"
)

// runJobd runs the jobd binary to its end and returns what it printed and
// its exit code.
func runJobd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, jobdtest.Bin(t, "jobd"), args...)
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "jobd %v did not exit; stderr:\n%s", args, errOut.String())
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running jobd %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// writeConfig writes a config file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobd.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// requireOneLineError checks that jobd failed with exactly one line on
// stderr that contains every want, and no Go panic or stack trace.
func requireOneLineError(t *testing.T, stderr string, code int, want ...string) {
	t.Helper()
	require.NotZero(t, code, "a failure exits non-zero; stderr:\n%s", stderr)
	require.True(t, strings.HasSuffix(stderr, "\n"), "stderr ends with a newline: %q", stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "exactly one line on stderr:\n%s", stderr)
	for _, bad := range []string{"panic", "goroutine ", ".go:", "WARNING: DATA RACE"} {
		require.NotContains(t, stderr, bad, "no panic or stack trace:\n%s", stderr)
	}
	require.True(t, strings.HasPrefix(stderr, "jobd: "), "the line says who speaks: %q", stderr)
	for _, w := range want {
		require.Contains(t, stderr, w)
	}
}

// TestBadConfigOneClearLine: every mistake in a config, and a daemon that
// cannot start, is one line on stderr naming what and where, and a
// non-zero exit.
func TestBadConfigOneClearLine(t *testing.T) {
	t.Parallel()
	const dsn = "u:p@tcp(127.0.0.1:3306)/db"
	good := "[mysql]\ndsn = \"" + dsn + "\"\n[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n"
	for _, tc := range []struct {
		name string
		text string // "" for a missing file
		want []string
	}{
		{"missing file", "", []string{"missing.toml", "cannot read the config file", "no such file or directory"}},
		{"syntax error", "name = \"x\n" + good, []string{"jobd.toml", "line 1"}},
		{"unknown key", strings.Replace(good, "concurrency = 1", "concurrancy = 1", 1), []string{"jobd.toml", `unknown key "targets.a.concurrancy"`}},
		{"concurrency 0", strings.Replace(good, "concurrency = 1", "concurrency = 0", 1), []string{"jobd.toml", "targets.a.concurrency = 0", "must be a positive integer"}},
		{"duration without unit", "poll_interval = \"10x\"\n" + good, []string{"jobd.toml", "line 1", `poll_interval = "10x"`, "invalid duration"}},
		{"duration as a number", "poll_interval = 10\n" + good, []string{"jobd.toml", "line 1", "poll_interval = 10", "invalid duration", `"10s"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "missing.toml")
			if tc.text != "" {
				path = writeConfig(t, tc.text)
			}
			for _, args := range [][]string{{"--config", path}, {"--check-config", "--config", path}} {
				stdout, stderr, code := runJobd(t, args...)
				requireOneLineError(t, stderr, code, append(tc.want, path)...)
				require.Empty(t, stdout)
			}
		})
	}
}

// TestStartFailuresOneClearLine: what only starting finds (the database,
// the log file, the spool directory) is one clear line too; --check-config
// does not touch any of them.
func TestStartFailuresOneClearLine(t *testing.T) {
	t.Parallel()
	const rest = "[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n"
	missingDir := filepath.Join(t.TempDir(), "missing")
	aFile := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(aFile, nil, 0o600))
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unreachable database", "listen = \"127.0.0.1:0\"\n[mysql]\ndsn = \"u:secretpw@tcp(127.0.0.1:1)/app\"\n" + rest,
			[]string{"database", "127.0.0.1:1", "connection refused"}},
		{"log file", "[mysql]\ndsn = \"u:secretpw@tcp(127.0.0.1:1)/app\"\n" + rest + "[log]\nfile = \"" + missingDir + "/jobd.log\"\n",
			[]string{"jobd.toml", `log.file = "` + missingDir + `/jobd.log"`, "no such file or directory"}},
		{"spool directory", "spool_dir = \"" + aFile + "/spool\"\n[mysql]\ndsn = \"u:secretpw@tcp(127.0.0.1:1)/app\"\n" + rest,
			[]string{"spool_dir", aFile, "not a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.text)
			_, stderr, code := runJobd(t, "--config", path)
			requireOneLineError(t, stderr, code, tc.want...)
			require.NotContains(t, stderr, "secretpw")
			require.NotContains(t, stderr, `\"`, "a plain line, not a log record with escaped quotes")

			stdout, stderr, code := runJobd(t, "--check-config", "--config", path)
			require.Zero(t, code, "stderr: %s", stderr)
			require.Empty(t, stderr)
			require.Equal(t, path+": config OK: 1 target\n", stdout)
		})
	}
}

func TestListenPortInUseOneClearLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	addr := ln.Addr().String()
	path := writeConfig(t, jobdtest.JobdSpec{DSN: e.db.DSN, Listen: addr,
		Body: "[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n"}.ConfigText())
	// ConfigText logs JSON at debug level; a person's config logs text at
	// info: that is what this test is about.
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(text), "[log]\nlevel = \"debug\"\nformat = \"json\"", "", 1)), 0o600))

	_, stderr, code := runJobd(t, "--config", path)
	requireOneLineError(t, stderr, code, addr, "address already in use")
}

func TestCheckConfigAndVersion(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "[mysql]\ndsn = \"u:p@tcp(db:3306)/app\"\n[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n[targets.\"1/low\"]\nconcurrency = 2\n")
	stdout, stderr, code := runJobd(t, "--check-config", "--config", path)
	require.Zero(t, code, "stderr: %s", stderr)
	require.Empty(t, stderr)
	require.Equal(t, path+": config OK: 2 targets\n", stdout)

	stdout, stderr, code = runJobd(t, "--version")
	require.Zero(t, code)
	require.Empty(t, stderr)
	require.Regexp(t, `^jobd \S+\n$`, stdout)

	// A bad command line is one line too, with a pointer to the usage.
	_, stderr, code = runJobd(t, "--config", path, "extra")
	requireOneLineError(t, stderr, code, `unexpected argument "extra"`)
}

// TestConvertConfigOriginal converts the original jobd's ini config and
// runs the result through jobd --check-config.
func TestConvertConfigOriginal(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runJobd(t, "convert-config", "testdata/original-jobd.conf")
	require.Zero(t, code, "stderr: %s", stderr)
	require.Empty(t, stderr, "no warning: every key of the fixture is one the original knows")
	require.Contains(t, stdout, `[targets."1/low"]`)

	path := writeConfig(t, stdout)
	out, stderr, code := runJobd(t, "--check-config", "--config", path)
	require.Zero(t, code, "the converted config is accepted; stderr: %s\nconfig:\n%s", stderr, stdout)
	require.Equal(t, path+": config OK: 4 targets\n", out)

	c, err := jobd.LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, "web-3", c.Name)
	require.Equal(t, "0.0.0.0:7080", c.Listen)
	require.Equal(t, "letmein", c.Password)
	require.True(t, c.AlwaysAllowLocalhost)
	require.Equal(t, "10.0.0.5:7081", c.Master.Addr)
	require.Equal(t, 5*time.Second, c.Master.ReconnectInterval.D())
	dsn, err := mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, [4]string{"jobd", "s3cr3t", "db.internal:3307", "app"}, [4]string{dsn.User, dsn.Passwd, dsn.Addr, dsn.DBName})
	require.Equal(t, "queue_jobs", c.MySQL.Table)
	require.Equal(t, "php /srv/app/bin/run-job.php --id {id}", c.Launcher.Command)
	require.Equal(t, "/srv/app", c.Launcher.Cwd)
	require.Equal(t, map[string]string{"LC_ALL": "en_US.UTF-8", "APP_ENV": "production"}, c.Launcher.Env)
	require.Equal(t, 4194304, c.Launcher.MaxOutputBuffer)
	require.Equal(t, "/var/log/jobd/jobd.log", c.Log.File)
	require.Equal(t, "info", c.Log.Level)
	got := map[string]int{}
	for name, tc := range c.Targets {
		got[name] = tc.Concurrency
	}
	require.Equal(t, map[string]int{"1/low": 2, "1/normal": 5, "1/high": 10, "any": 3}, got)

	// Errors of the converter are one line naming file and line.
	bad := filepath.Join(t.TempDir(), "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte("name = x\nport = http\n"), 0o600))
	stdout, stderr, code = runJobd(t, "convert-config", bad)
	requireOneLineError(t, stderr, code, bad+":2:", `port = "http"`, "not an integer")
	require.Empty(t, stdout)
}

// TestMigrateCommand: jobd migrate creates and rolls back the schema of
// the configured table; jobd refuses to start on a table it does not know,
// saying how to fix it.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	path := writeConfig(t, fmt.Sprintf("listen = \"127.0.0.1:0\"\n[mysql]\ndsn = %q\ntable = \"queue_jobs\"\n[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n", db.DSN))

	_, stderr, code := runJobd(t, "--config", path)
	requireOneLineError(t, stderr, code, "queue_jobs", "jobd migrate up")

	stdout, stderr, code := runJobd(t, "migrate", "version", "--config", path)
	require.Zero(t, code, "stderr: %s", stderr)
	require.Equal(t, "table queue_jobs: schema version 0\n", stdout)

	stdout, stderr, code = runJobd(t, "migrate", "up", "--config", path)
	require.Zero(t, code, "stderr: %s", stderr)
	require.Regexp(t, `^table queue_jobs: schema version [1-9][0-9]*\n$`, stdout)
	latest := stdout
	stdout, _, code = runJobd(t, "migrate", "--config", path, "up") // flags before the action too; up again changes nothing
	require.Zero(t, code)
	require.Equal(t, latest, stdout)

	stdout, stderr, code = runJobd(t, "migrate", "down", "1", "--config", path)
	require.Zero(t, code, "stderr: %s", stderr)
	require.NotEqual(t, latest, stdout)
	stdout, _, code = runJobd(t, "migrate", "up", "--config", path)
	require.Zero(t, code)
	require.Equal(t, latest, stdout)

	// Mistakes: one line each (an unknown action before connecting).
	_, stderr, code = runJobd(t, "migrate", "sideways", "--config", path)
	requireOneLineError(t, stderr, code, `unknown migrate action "sideways"`)
	_, stderr, code = runJobd(t, "migrate", "down", "0", "--config", path)
	requireOneLineError(t, stderr, code, "must be positive")
	_, stderr, code = runJobd(t, "migrate", "down", "x", "--config", path)
	requireOneLineError(t, stderr, code, "expected one number")
	_, stderr, code = runJobd(t, "migrate", "force", "--config", path)
	requireOneLineError(t, stderr, code, "which version")

	// And now jobd starts on it.
	d := jobdtest.NewJobd(t, jobdtest.JobdSpec{DSN: db.DSN, Table: "queue_jobs", Body: "[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n"})
	d.Start()
	require.Zero(t, d.Stop())
}
