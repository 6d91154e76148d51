package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// resolveFor resolves the settings of a command line with the environment
// vars, as a command's RunE would.
func resolveFor(t *testing.T, vars map[string]string, args ...string) (*settings, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	a := newApp(env{stdin: strings.NewReader("typed\n"), stdout: &bytes.Buffer{}, stderr: &stderr,
		getenv: func(k string) string { return vars[k] }})
	root := a.rootCommand()
	cmd, rest, err := root.Find(args)
	require.NoError(t, err)
	require.NoError(t, cmd.ParseFlags(rest))
	s, err := a.resolve(cmd)
	return s, stderr.String(), err
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	vars := map[string]string{"HOME": home}

	// Defaults: the local worker, not "named", table jobs, no database.
	s, _, err := resolveFor(t, vars, "status")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7080", s.addr())
	require.False(t, s.master)
	require.False(t, s.daemonNamed)
	require.Equal(t, "jobs", s.table)
	require.Empty(t, s.dsn)
	require.Zero(t, s.timeout)

	s, _, err = resolveFor(t, vars, "--master", "pause")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7081", s.addr(), "the master's default port")
	require.True(t, s.daemonNamed)
	s, _, err = resolveFor(t, vars, "workers")
	require.NoError(t, err)
	require.True(t, s.master, "workers implies --master")
	require.Equal(t, "127.0.0.1:7081", s.addr())

	// ~/.jobctl.toml, with the flags' names.
	writeFile(t, home, configName, `host = "w1.example"
port = 7100
password = "from-file"
dsn = "u:p@tcp(db:3306)/app"
table = "queue"
timeout = "5s"
`)
	s, _, err = resolveFor(t, vars, "status")
	require.NoError(t, err)
	require.Equal(t, "w1.example:7100", s.addr())
	require.True(t, s.daemonNamed)
	require.Equal(t, "from-file", s.password)
	require.Equal(t, "u:p@tcp(db:3306)/app", s.dsn)
	require.Equal(t, "queue", s.table)
	require.Equal(t, 5*time.Second, s.timeout)

	// The environment beats the file; flags beat both.
	env := map[string]string{"HOME": home, "JOBD_PASSWORD": "from-env", "JOBD_MYSQL_DSN": "e:p@tcp(db2:3306)/app"}
	s, _, err = resolveFor(t, env, "status")
	require.NoError(t, err)
	require.Equal(t, "from-env", s.password)
	require.Equal(t, "e:p@tcp(db2:3306)/app", s.dsn)
	require.Equal(t, envDSN, s.dsnSource)
	s, _, err = resolveFor(t, env, "--host", "w2", "--port", "7200", "--password", "from-flag", "--dsn", "f:p@tcp(db3:3306)/app",
		"--table", "t2", "--timeout", "1m", "status")
	require.NoError(t, err)
	require.Equal(t, "w2:7200", s.addr())
	require.Equal(t, "from-flag", s.password)
	require.Equal(t, "f:p@tcp(db3:3306)/app", s.dsn)
	require.Equal(t, "t2", s.table)
	require.Equal(t, time.Minute, s.timeout)
	// -P reads the password (a line of stdin when it is not a terminal).
	s, _, err = resolveFor(t, env, "-P", "status")
	require.NoError(t, err)
	require.Equal(t, "typed", s.password)

	// host:port: the port inside --host beats the file's port; two ports at
	// the same level are an error.
	s, _, err = resolveFor(t, vars, "--host", "w3:7300", "status")
	require.NoError(t, err)
	require.Equal(t, "w3:7300", s.addr())
	_, _, err = resolveFor(t, vars, "--host", "w3:7300", "--port", "7301", "status")
	require.ErrorContains(t, err, `host "w3:7300" names port 7300, but the port is also set to 7301`)
	s, _, err = resolveFor(t, vars, "--host", "::1", "--port", "7400", "status")
	require.NoError(t, err)
	require.Equal(t, "[::1]:7400", s.addr())

	// --config points elsewhere; it must exist, and unknown keys are named.
	other := writeFile(t, t.TempDir(), "other.toml", "master = true\nhost = \"m1\"\n")
	s, _, err = resolveFor(t, vars, "--config", other, "pause")
	require.NoError(t, err)
	require.True(t, s.master)
	require.Equal(t, "m1:7081", s.addr())
	s, _, err = resolveFor(t, vars, "--config", other, "--master=false", "pause")
	require.NoError(t, err)
	require.False(t, s.master)
	_, _, err = resolveFor(t, vars, "--config", filepath.Join(home, "missing.toml"), "status")
	require.ErrorContains(t, err, "missing.toml: cannot read the config file")
	bad := writeFile(t, t.TempDir(), "bad.toml", "host = \"x\"\npasword = \"y\"\n")
	_, _, err = resolveFor(t, vars, "--config", bad, "status")
	require.ErrorContains(t, err, `unknown key "pasword"`)
	bad = writeFile(t, t.TempDir(), "bad.toml", "timeout = \"soon\"\n")
	_, _, err = resolveFor(t, vars, "--config", bad, "status")
	require.ErrorContains(t, err, `timeout = "soon": not a duration`)
	bad = writeFile(t, t.TempDir(), "bad.toml", "port = \"x\"\n")
	_, _, err = resolveFor(t, vars, "--config", bad, "status")
	require.ErrorContains(t, err, "bad.toml")

	// A readable password draws a warning.
	loose := writeFile(t, t.TempDir(), "loose.toml", "password = \"x\"\n")
	require.NoError(t, os.Chmod(loose, 0o644))
	_, warn, err := resolveFor(t, vars, "--config", loose, "status")
	require.NoError(t, err)
	require.Contains(t, warn, "holds a password and others can read it")
}

func TestSettingsFromJobdConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"HOME": t.TempDir()}
	jobdConfig := writeFile(t, dir, "jobd.toml", `listen = "0.0.0.0:7999"
password = "worker-pw"
[master]
addr = "10.1.2.3:7081"
[mysql]
dsn = "jobd:pw@tcp(db:3306)/app"
table = "queue"
[launcher]
command = "/bin/true {id}"
[targets.a]
concurrency = 1
`)
	s, _, err := resolveFor(t, vars, "--jobd-config", jobdConfig, "status")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7999", s.addr(), "its listen address, the wildcard made local")
	require.Equal(t, "worker-pw", s.password)
	require.Equal(t, "jobd:pw@tcp(db:3306)/app", s.dsn)
	require.Equal(t, "queue", s.table)
	require.Equal(t, "10.1.2.3:7081", s.jobdMaster)
	require.Equal(t, "worker-pw", s.jobdMasterPassword, "the master password defaults to the top-level one, as in jobd")
	require.True(t, s.daemonNamed)

	s, _, err = resolveFor(t, vars, "--jobd-config", jobdConfig, "--master", "pause")
	require.NoError(t, err)
	require.Equal(t, "10.1.2.3:7081", s.addr(), "its [master] with --master")

	s, _, err = resolveFor(t, vars, "--jobd-config", jobdConfig, "--table", "other", "--port", "7000", "jobs", "list")
	require.NoError(t, err)
	require.Equal(t, "other", s.table)
	require.Equal(t, "127.0.0.1:7000", s.addr())

	// The jobctl config may name the jobd config too.
	writeFile(t, vars["HOME"], configName, "jobd_config = \""+jobdConfig+"\"\n")
	s, _, err = resolveFor(t, vars, "jobs", "list")
	require.NoError(t, err)
	require.Equal(t, "queue", s.table)

	bad := writeFile(t, dir, "bad-jobd.toml", "listen = \"nowhere\"\n")
	_, _, err = resolveFor(t, vars, "--jobd-config", bad, "status")
	require.ErrorContains(t, err, "bad-jobd.toml")
	require.Equal(t, exitUsage, exitCode(err))
}

func TestParseArguments(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 10, 12, 0, 0, 0, time.Local)
	for in, want := range map[string]time.Time{
		"90s":                  now.Add(-90 * time.Second),
		"2h30m":                now.Add(-150 * time.Minute),
		"3d":                   now.Add(-72 * time.Hour),
		"1d12h":                now.Add(-36 * time.Hour),
		"2w":                   now.Add(-14 * 24 * time.Hour),
		"2024-05-01":           time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local),
		"2024-05-01 14:30":     time.Date(2024, 5, 1, 14, 30, 0, 0, time.Local),
		"2024-05-01T14:30:05":  time.Date(2024, 5, 1, 14, 30, 5, 0, time.Local),
		"2024-05-01T14:30:05Z": time.Date(2024, 5, 1, 14, 30, 5, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: got %s, want %s", in, got, want)
	}
	for _, in := range []string{"", "yesterday", "-1h", "2024-13-01", "3x"} {
		_, err := parseSince(in, now)
		require.Error(t, err, in)
		require.Equal(t, exitUsage, exitCode(err))
	}

	r, err := parseJobRef("12:mail:eu")
	require.NoError(t, err)
	require.Equal(t, jobRef{id: 12, target: "mail:eu"}, r, "a target may hold colons")
	r, err = parseJobRef("12")
	require.NoError(t, err)
	require.Equal(t, jobRef{id: 12}, r)
	for _, in := range []string{"", "x", "0", "-3", "12:", ":a", "1.5:a"} {
		_, err := parseJobRef(in)
		require.Error(t, err, in)
	}

	for in, want := range map[string]int{"TERM": 15, "sigterm": 15, "SIGKILL": 9, "9": 9, "hup": 1} {
		sig, err := parseSignal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, int(sig), in)
	}
	for _, in := range []string{"", "FOO", "0", "65", "-1", "TERM9"} {
		_, err := parseSignal(in)
		require.Error(t, err, in)
	}

	cols, err := parseSet([]string{"job_name=mail", "job_data={\"a\":\"b=c\"}", "empty="})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"job_name": "mail", "job_data": `{"a":"b=c"}`, "empty": ""}, cols)
	_, err = parseSet([]string{"a=1", "a=2"})
	require.ErrorContains(t, err, "given twice")
	_, err = parseSet([]string{"=1"})
	require.Error(t, err)

	three, zero := 3, 0
	require.Equal(t, 3, exitCodeOf("fail", &three, ""))
	require.Equal(t, 0, exitCodeOf("ok", &zero, ""))
	require.Equal(t, 128+9, exitCodeOf("fail", nil, "SIGKILL"))
	require.Equal(t, 1, exitCodeOf("fail", nil, ""), "could not start")
}
