package jobd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/store"
)

// minimalConfig is the least a config needs: a database.
const minimalConfig = `[mysql]
dsn = "jobd:pw@tcp(127.0.0.1:3306)/app"
`

// goodConfig serves one target.
const goodConfig = minimalConfig + `
[launcher]
command = "php /srv/app/launcher.php {id}"

[targets.a]
concurrency = 2
`

const testPath = "/etc/jobd-test.toml"

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(testPath, minimalConfig+"\n[targets.a]\nconcurrency = 1\nlauncher = \"true\"\n")
	require.NoError(t, err)
	host, _ := os.Hostname()
	require.Equal(t, host, c.Name, "name defaults to the host name")
	require.Equal(t, "127.0.0.1:7080", c.Listen)
	require.Equal(t, DefaultListen, c.Listen)
	require.Empty(t, c.Password)
	require.False(t, c.AlwaysAllowLocalhost)
	require.Equal(t, 10*time.Second, c.PollInterval.D())
	require.Equal(t, 30*time.Second, c.ShutdownTimeout.D())
	require.Equal(t, 5*time.Second, c.HeartbeatInterval.D())
	require.Equal(t, 60*time.Second, c.LostAfter.D())
	require.Zero(t, c.Prefetch)
	require.Empty(t, c.SpoolDir)
	require.Equal(t, 10_000, c.MaxPendingOutcomes)

	require.Empty(t, c.Master.Addr)
	require.Empty(t, c.Master.Password)
	require.Equal(t, 5*time.Second, c.Master.ReconnectInterval.D())

	require.Equal(t, "jobd:pw@tcp(127.0.0.1:3306)/app", c.MySQL.DSN)
	require.Equal(t, "jobs", c.MySQL.Table)
	require.Equal(t, store.DefaultTable, c.MySQL.Table)
	require.Equal(t, 8, c.MySQL.MaxConnections)
	require.Zero(t, c.MySQL.WaitAtStart, "no waiting for the database by default")

	require.Empty(t, c.Launcher.Command)
	require.False(t, c.Launcher.Shell)
	require.Empty(t, c.Launcher.Cwd)
	require.Empty(t, c.Launcher.Env)
	require.Equal(t, 1<<20, c.Launcher.MaxOutputBuffer)
	require.Equal(t, launch.DefaultMaxOutput, c.Launcher.MaxOutputBuffer)
	require.Equal(t, launch.DefaultKillGrace, c.Launcher.KillGrace.D())

	require.Equal(t, LogConfig{Level: "info", Format: "text"}, c.Log)

	require.Len(t, c.Targets, 1)
	a := c.Targets["a"]
	require.Equal(t, 1, a.Concurrency)
	require.Empty(t, a.Slots)
	require.Zero(t, a.Timeout, "no timeout by default")
	require.Equal(t, 1, a.MaxAttempts, "no retries by default")
	require.Equal(t, 10*time.Second, a.RetryBackoff.D())
	require.Equal(t, 10*time.Minute, a.RetryBackoffMax.D())
	require.False(t, a.RetryLost)
	require.Equal(t, testPath, c.Path())

	// Ports may be numbers or service names.
	_, err = ParseConfig(testPath, "listen = \"[::1]:http\"\n"+goodConfig+"[master]\naddr = \"m.example:7081\"\n")
	require.NoError(t, err)

	// The master password falls back to the top-level one, as in the original.
	c, err = ParseConfig(testPath, "password = \"top\"\n"+minimalConfig)
	require.NoError(t, err)
	require.Equal(t, "top", c.MasterPassword())
	c, err = ParseConfig(testPath, "password = \"top\"\n[master]\npassword = \"m\"\n"+minimalConfig)
	require.NoError(t, err)
	require.Equal(t, "m", c.MasterPassword())
}

func TestConfigFullRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(testPath, `
name = "web-3"
listen = "0.0.0.0:7090"
password = "pw"
always_allow_localhost = true
poll_interval = "1m30s"
shutdown_timeout = "0s"
heartbeat_interval = "2s"
lost_after = "4s"
prefetch = 2
max_pending_outcomes = 5

[master]
addr = "10.0.0.5:7081"
reconnect_interval = "500ms"

[mysql]
dsn = "u:p@tcp(db:3307)/app"
table = "queue_jobs"
max_connections = 3
wait_at_start = "1m"

[launcher]
command = "php run.php {id}"
shell = true
cwd = "/srv/app"
max_output_buffer = 4096
kill_grace = "3s"

[launcher.env]
APP_ENV = "production"

[targets."1/low"]
concurrency = 3
slots = { a = 1, "b c" = 2 }
timeout = "10m"
launcher = "other {id}"
max_attempts = 3
retry_backoff = "1s"
retry_backoff_max = "1m"
retry_lost = true

[log]
level = "DEBUG"
format = "json"
file = "/var/log/jobd.log"
`)
	require.NoError(t, err)
	require.Equal(t, "web-3", c.Name)
	require.Equal(t, "0.0.0.0:7090", c.Listen)
	require.Equal(t, 90*time.Second, c.PollInterval.D())
	require.Zero(t, c.ShutdownTimeout)
	require.Equal(t, 2, c.Prefetch)
	require.Equal(t, "10.0.0.5:7081", c.Master.Addr)
	require.Equal(t, 500*time.Millisecond, c.Master.ReconnectInterval.D())
	require.Equal(t, "queue_jobs", c.MySQL.Table)
	require.Equal(t, time.Minute, c.MySQL.WaitAtStart.D())
	require.Equal(t, map[string]string{"APP_ENV": "production"}, c.Launcher.Env)
	tc := c.Targets["1/low"]
	require.Equal(t, map[string]int{"a": 1, "b c": 2}, tc.Slots)
	require.Equal(t, 10*time.Minute, tc.Timeout.D())
	require.Equal(t, 3, tc.MaxAttempts)
	spec := c.LaunchSpec(tc)
	require.Equal(t, "other {id}", spec.Command)
	require.True(t, spec.Shell)
	require.Equal(t, "/srv/app", spec.Dir)
	require.Equal(t, []string{"APP_ENV=production"}, spec.Env)
	require.Equal(t, 4096, spec.MaxOutput)
	require.Equal(t, 10*time.Minute, spec.Timeout)
	require.Equal(t, 3*time.Second, spec.KillGrace)
}

// TestConfigErrorsNameFileKeyValue: each problem is reported on one line
// that names the file, the key and the value.
func TestConfigErrorsNameFileKeyValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string // each must appear in the one-line message
	}{
		{"name empty", `name = " "` + "\n" + goodConfig, []string{`name = " "`, "must not be empty"}},
		{"listen", `listen = "nope"` + "\n" + goodConfig, []string{`listen = "nope"`, "host:port"}},
		{"listen port", `listen = "127.0.0.1:99999"` + "\n" + goodConfig, []string{`listen = "127.0.0.1:99999"`, `port "99999"`}},
		{"listen port name", `listen = "127.0.0.1:jobd"` + "\n" + goodConfig, []string{`listen = "127.0.0.1:jobd"`, `port "jobd"`}},
		{"poll_interval negative", `poll_interval = "-1s"` + "\n" + goodConfig, []string{`poll_interval = "-1s"`, "negative"}},
		{"poll_interval no unit", `poll_interval = "10x"` + "\n" + goodConfig, []string{"line 1", `poll_interval = "10x"`, "invalid duration", `"10s"`}},
		{"poll_interval number", `poll_interval = 10` + "\n" + goodConfig, []string{"line 1", "poll_interval = 10", "invalid duration", `"10s"`}},
		{"poll_interval float", `poll_interval = 1.5` + "\n" + goodConfig, []string{"line 1", "poll_interval = 1.5", "invalid duration"}},
		{"shutdown_timeout", `shutdown_timeout = "-5s"` + "\n" + goodConfig, []string{`shutdown_timeout = "-5s"`, "negative"}},
		{"heartbeat_interval", `heartbeat_interval = "0s"` + "\n" + goodConfig, []string{`heartbeat_interval = "0s"`, "positive"}},
		{"lost_after", `lost_after = "6s"` + "\n" + goodConfig, []string{`lost_after = "6s"`, "twice heartbeat_interval"}},
		{"prefetch", "prefetch = -1\n" + goodConfig, []string{"prefetch = -1", "negative"}},
		{"max_pending_outcomes", "max_pending_outcomes = 0\n" + goodConfig, []string{"max_pending_outcomes = 0", "positive"}},
		{"master.addr", goodConfig + "[master]\naddr = \"master\"\n", []string{`master.addr = "master"`, "host:port"}},
		{"master.addr port", goodConfig + "[master]\naddr = \"master:-1\"\n", []string{`master.addr = "master:-1"`, `port "-1"`}},
		{"master.reconnect_interval", goodConfig + "[master]\nreconnect_interval = \"0s\"\n", []string{`master.reconnect_interval = "0s"`, "positive"}},
		{"master.reconnect_interval bad", goodConfig + "[master]\nreconnect_interval = \"5 s\"\n", []string{"line", `master.reconnect_interval = "5 s"`, "invalid duration"}},
		{"mysql.dsn missing", "[targets.a]\nconcurrency = 1\nlauncher = \"true\"\n", []string{`mysql.dsn = ""`, "required"}},
		{"mysql.dsn bad", "[mysql]\ndsn = \"nonsense\"\n", []string{"mysql.dsn = ", "invalid"}},
		{"mysql.table", strings.Replace(goodConfig, "[launcher]", "table = \"drop table\"\n[launcher]", 1), []string{`mysql.table = "drop table"`, "identifier"}},
		{"mysql.max_connections", strings.Replace(goodConfig, "[launcher]", "max_connections = 1\n[launcher]", 1), []string{"mysql.max_connections = 1", "at least 2"}},
		{"mysql.wait_at_start", strings.Replace(goodConfig, "[launcher]", "wait_at_start = \"-1s\"\n[launcher]", 1), []string{`mysql.wait_at_start = "-1s"`, "negative"}},
		{"launcher.max_output_buffer", strings.Replace(goodConfig, "[targets.a]", "max_output_buffer = 0\n[targets.a]", 1), []string{"launcher.max_output_buffer = 0", "between 1 and"}},
		{"launcher.kill_grace", strings.Replace(goodConfig, "[targets.a]", "kill_grace = \"-1s\"\n[targets.a]", 1), []string{`launcher.kill_grace = "-1s"`, "negative"}},
		{"launcher.env name", goodConfig + "[launcher.env]\n\"BAD-NAME\" = \"x\"\n", []string{`launcher.env.BAD-NAME = "x"`, "environment variable name"}},
		{"launcher.command", strings.Replace(goodConfig, `"php /srv/app/launcher.php {id}"`, `"php 'unterminated {id}"`, 1), []string{`launcher.command = "php 'unterminated {id}"`}},
		{"concurrency 0", goodConfig + "[targets.b]\nconcurrency = 0\n", []string{"targets.b.concurrency = 0", "positive integer"}},
		{"concurrency -1 quoted name", goodConfig + "[targets.\"1/low\"]\nconcurrency = -1\n", []string{`targets."1/low".concurrency = -1`, "positive integer"}},
		{"concurrency string", goodConfig + "[targets.b]\nconcurrency = \"2\"\n", []string{"line 10", `targets.b.concurrency = "2"`, "must be an integer, not a string"}},
		{"target not a table", minimalConfig + "[launcher]\ncommand = \"x {id}\"\n[targets]\na = 3\n", []string{"line 6", "targets.a = 3", "must be a table", "[targets.a]"}},
		{"slot concurrency", goodConfig + "[targets.b]\nconcurrency = 1\nslots = { s = 0 }\n", []string{"targets.b.slots.s = 0", "positive integer"}},
		{"target timeout", goodConfig + "[targets.b]\nconcurrency = 1\ntimeout = \"-1m\"\n", []string{`targets.b.timeout = "-1m0s"`, "negative"}},
		{"target timeout unit", goodConfig + "[targets.b]\nconcurrency = 1\ntimeout = \"5\"\n", []string{"line 11", `targets.b.timeout = "5"`, "invalid duration"}},
		{"target without launcher", minimalConfig + "[targets.b]\nconcurrency = 1\n", []string{`targets.b.launcher = ""`, "launcher.command"}},
		{"max_attempts", goodConfig + "[targets.b]\nconcurrency = 1\nmax_attempts = -2\n", []string{"targets.b.max_attempts = -2", "positive"}},
		{"retry_backoff_max", goodConfig + "[targets.b]\nconcurrency = 1\nretry_backoff = \"1m\"\nretry_backoff_max = \"1s\"\n", []string{`targets.b.retry_backoff_max = "1s"`, "retry_backoff"}},
		{"log.level", goodConfig + "[log]\nlevel = \"loud\"\n", []string{`log.level = "loud"`, "debug, info, warn or error"}},
		{"log.format", goodConfig + "[log]\nformat = \"xml\"\n", []string{`log.format = "xml"`, "text or json"}},
		{"bool as string", `always_allow_localhost = "yes"` + "\n" + goodConfig, []string{"line 1", `always_allow_localhost = "yes"`, "must be a boolean, not a string"}},
		{"syntax", "name = \n" + goodConfig, []string{"line 1"}},
		{"duplicate key", "name = \"a\"\nname = \"b\"\n" + goodConfig, []string{"line 2", "name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(testPath, tc.text)
			require.Error(t, err)
			msg := err.Error()
			require.NotContains(t, msg, "\n", "one problem, one line")
			require.True(t, strings.HasPrefix(msg, testPath+": "), "names the file first: %s", msg)
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
			require.NotContains(t, strings.TrimPrefix(msg, testPath), "toml:", "no decoder jargon: %s", msg)
			require.NotContains(t, msg, "jobd.", "no Go type names: %s", msg)
			require.NotContains(t, msg, "int64", "no Go type names: %s", msg)
		})
	}
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig(testPath, `listen = "x"
prefetch = -1
[mysql]
dsn = "u:p@tcp(h:1)/d"
[targets.a]
concurrency = 0
`)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4, "%s", err)
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, testPath+": "), l)
	}
	require.Contains(t, lines[0], `listen = "x"`)
	require.Contains(t, lines[1], "prefetch = -1")
	require.Contains(t, lines[2], "targets.a.concurrency = 0")
	require.Contains(t, lines[3], `targets.a.launcher = ""`)
}

func TestConfigUnknownKeysAreListed(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig(testPath, goodConfig+"concurrancy = 2\n[bogus]\nx = 1\ny = 2\n")
	require.Error(t, err)
	require.Equal(t, testPath+`: unknown keys "targets.a.concurrancy", "bogus" (misspelt, or in the wrong [section]?)`, err.Error())

	_, err = ParseConfig(testPath, "pol_interval = \"1s\"\n"+goodConfig)
	require.Error(t, err)
	require.Equal(t, testPath+`: unknown key "pol_interval" (misspelt, or in the wrong [section]?)`, err.Error())

	// A key of one section written in another is unknown there.
	_, err = ParseConfig(testPath, strings.Replace(goodConfig, "[targets.a]", "[targets.a]\ntable = \"x\"", 1))
	require.ErrorContains(t, err, `unknown key "targets.a.table"`)
}

func TestConfigEnvPasswordReplacesDSNPassword(t *testing.T) {
	// t.Setenv: not parallel.
	t.Setenv(EnvMySQLPassword, "from env:@/?")
	c, err := ParseConfig(testPath, goodConfig)
	require.NoError(t, err)
	dsn, err := mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, "from env:@/?", dsn.Passwd)
	require.Equal(t, "jobd", dsn.User)
	require.Equal(t, "127.0.0.1:3306", dsn.Addr)
	require.Equal(t, "app", dsn.DBName)

	// A DSN without a password gets one too.
	c, err = ParseConfig(testPath, strings.Replace(goodConfig, "jobd:pw@", "jobd@", 1))
	require.NoError(t, err)
	dsn, err = mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, "from env:@/?", dsn.Passwd)

	// Unset, the DSN's own password stays.
	t.Setenv(EnvMySQLPassword, "")
	c, err = ParseConfig(testPath, goodConfig)
	require.NoError(t, err)
	require.Equal(t, "jobd:pw@tcp(127.0.0.1:3306)/app", c.MySQL.DSN)
}

func TestConfigDSNErrorDoesNotShowPassword(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig(testPath, "[mysql]\ndsn = \"u:secretpw@tcp(h:1)/d?badparam=%zz\"\n")
	require.Error(t, err)
	require.Contains(t, err.Error(), "mysql.dsn")
	require.NotContains(t, err.Error(), "secretpw")
}

func TestLoadConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "jobd.toml")
	require.NoError(t, os.WriteFile(path, []byte(goodConfig), 0o600))
	c, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, path, c.Path())

	missing := filepath.Join(dir, "missing.toml")
	_, err = LoadConfig(missing)
	require.EqualError(t, err, missing+": cannot read the config file: no such file or directory")

	require.NoError(t, os.WriteFile(path, []byte(goodConfig+"[targets.b]\nconcurrency = 0\nlauncher = \"x\"\n"), 0o600))
	_, err = LoadConfig(path)
	require.EqualError(t, err, path+": targets.b.concurrency = 0: must be a positive integer")
}

func TestDurationUnmarshal(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]time.Duration{"10s": 10 * time.Second, "1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond, int64(0): 0, "0": 0} {
		var d Duration
		require.NoError(t, d.UnmarshalTOML(in), "%v", in)
		require.Equal(t, want, d.D())
	}
	for _, in := range []any{"10x", "", int64(10), 1.5, true} {
		var d Duration
		err := d.UnmarshalTOML(in)
		require.Error(t, err, "%v", in)
		require.True(t, strings.HasPrefix(err.Error(), durationErrorPrefix), err.Error())
	}
	b, err := Duration(90 * time.Second).MarshalText()
	require.NoError(t, err)
	require.Equal(t, "1m30s", string(b))
}
