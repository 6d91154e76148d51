package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd"
)

// fixture is an original jobd config with every key the original knows
// (a copy of shared/fixtures/original-jobd.conf), the one jobd's end-to-end
// test converts with the binary too.
const fixture = "../../jobd/testdata/original-jobd.conf"

// convertText converts ini text written to a file named old.conf.
func convertText(t *testing.T, ini string) (path, out string, warnings []string, err error) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "old.conf")
	require.NoError(t, os.WriteFile(path, []byte(ini), 0o600))
	out, warnings, err = convertConfig(path)
	return path, out, warnings, err
}

func TestConvertFixtureMapsEveryKey(t *testing.T) {
	t.Parallel()
	out, warnings, err := convertConfig(fixture)
	require.NoError(t, err)
	require.Empty(t, warnings, "every key of the fixture is one the original knows")
	require.Contains(t, out, `[targets."1/low"]`, "a target name with a slash is quoted")
	require.NotContains(t, out, "Dropped")

	c, err := jobd.ParseConfig("converted.toml", out)
	require.NoError(t, err, "the converted config is valid:\n%s", out)
	require.Equal(t, "web-3", c.Name)
	require.Equal(t, "0.0.0.0:7080", c.Listen, "listen from host and port")
	require.Equal(t, "letmein", c.Password)
	require.True(t, c.AlwaysAllowLocalhost)
	require.Equal(t, "10.0.0.5:7081", c.Master.Addr, "master addr from master_host and master_port")
	require.Equal(t, 5*time.Second, c.Master.ReconnectInterval.D(), "master_reconnect_timeout is in seconds")
	require.Equal(t, "letmein", c.MasterPassword(), "the original used its password for the master too")

	dsn, err := mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, "jobd", dsn.User)
	require.Equal(t, "s3cr3t", dsn.Passwd)
	require.Equal(t, "tcp", dsn.Net)
	require.Equal(t, "db.internal:3307", dsn.Addr)
	require.Equal(t, "app", dsn.DBName)
	require.Equal(t, "queue_jobs", c.MySQL.Table)
	require.Contains(t, out, "mysql_fetch_limit = 50 has no equivalent", "a key without equivalent is explained")

	require.Equal(t, "php /srv/app/bin/run-job.php --id {id}", c.Launcher.Command)
	require.Equal(t, "/srv/app", c.Launcher.Cwd)
	require.Equal(t, map[string]string{"LC_ALL": "en_US.UTF-8", "APP_ENV": "production"}, c.Launcher.Env)
	require.Equal(t, 4194304, c.Launcher.MaxOutputBuffer)

	require.Equal(t, "/var/log/jobd/jobd.log", c.Log.File)
	require.Equal(t, "info", c.Log.Level, "the file's level, since jobd logs to the file")

	require.Len(t, c.Targets, 4)
	for name, n := range map[string]int{"1/low": 2, "1/normal": 5, "1/high": 10, "any": 3} {
		require.Contains(t, c.Targets, name)
		require.Equal(t, n, c.Targets[name].Concurrency, name)
	}
}

func TestConvertDefaultsAndQuoting(t *testing.T) {
	t.Parallel()
	_, out, warnings, err := convertText(t, `; comment
# another
launcher = "php run.php {id}"
mysql_user = 'u'
mysql_password = p@ss:w/rd"x
mysql_database = app
log_level_console = debug
unknown_key = 1

[targets]
a = 1

[extra]
x = 1
`)
	require.NoError(t, err)
	c, err := jobd.ParseConfig("converted.toml", out)
	require.NoError(t, err, "%s", out)
	require.Equal(t, "127.0.0.1:7080", c.Listen, "host and port default as in the original")
	require.Empty(t, c.Master.Addr)
	require.Empty(t, c.Password)
	require.False(t, c.AlwaysAllowLocalhost)
	require.Equal(t, "php run.php {id}", c.Launcher.Command, "quotes around a value are removed")
	dsn, err := mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, "u", dsn.User)
	require.Equal(t, `p@ss:w/rd"x`, dsn.Passwd, "a password with DSN and TOML special characters survives")
	require.Equal(t, "127.0.0.1:3306", dsn.Addr)
	require.Equal(t, "jobs", c.MySQL.Table)
	require.Equal(t, "debug", c.Log.Level, "console level without a log file")
	require.False(t, c.AlwaysAllowLocalhost)
	require.Empty(t, c.Log.File)
	require.Len(t, warnings, 2)
	require.Contains(t, warnings[0], `old.conf:8: "unknown_key" is not a key of the original jobd`)
	require.Contains(t, warnings[1], "section [extra]")
	require.Contains(t, out, "# Dropped, unknown to the original jobd: unknown_key")
}

func TestConvertErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ini, want string
	}{
		{"no equals", "name = a\nlauncher php run.php\n", `:2: expected key = value, got "launcher php run.php"`},
		{"bad section", "name = a\n\n[targets\na = 1\n", `:3: malformed section header "[targets"`},
		{"empty key", "= 3\n", ":1: empty key"},
		{"port", "launcher = x\nport = seventy\n", `:2: port = "seventy": not an integer`},
		{"mysql_port", "mysql_port = 33o6\n", `:1: mysql_port = "33o6": not an integer`},
		{"master_port", "master_host = m\nmaster_port = x\n", `:2: master_port = "x": not an integer`},
		{"max_output_buffer", "\n\nmax_output_buffer = 1M\n", `:3: max_output_buffer = "1M": not an integer`},
		{"target concurrency", "launcher = x\n[targets]\na = 1\nb = two\n", `:4: targets.b = "two": concurrency must be a positive integer`},
		{"target concurrency 0", "launcher = x\n[targets]\na = 0\n", `:3: targets.a = "0": concurrency must be a positive integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _, _, err := convertText(t, tc.ini)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), path+":"), "names the file: %v", err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}

	_, _, err := convertConfig(filepath.Join(t.TempDir(), "missing.conf"))
	require.ErrorContains(t, err, "missing.conf: no such file or directory")
}

// TestConvertReadsValuesAsTheOriginal: values mean what the npm "ini"
// parser of the original made of them: inline comments, escapes, JSON
// strings, and booleans true only for "true" and "1".
func TestConvertReadsValuesAsTheOriginal(t *testing.T) {
	t.Parallel()
	_, out, warnings, err := convertText(t, `host = 0.0.0.0 ; all interfaces
port = 7090 # not the default
password = p\;w\#d ; a comment
launcher = php run.php {id}   ; run it
launcher.cwd = C:\srv
mysql_user = 'jobd'
mysql_password = "a\"b;c#d"
mysql_database = "app
mysql_table = queue_jobs ; the table

[targets]
"1/low" = 2 ; low priority
'any' = '3'
`)
	require.NoError(t, err)
	require.Empty(t, warnings)
	c, err := jobd.ParseConfig("converted.toml", out)
	require.NoError(t, err, "%s", out)
	require.Equal(t, "0.0.0.0:7090", c.Listen)
	require.Equal(t, "p;w#d", c.Password)
	require.Equal(t, "php run.php {id}", c.Launcher.Command)
	require.Equal(t, `C:\srv`, c.Launcher.Cwd, "a backslash before another character is kept")
	dsn, err := mysql.ParseDSN(c.MySQL.DSN)
	require.NoError(t, err)
	require.Equal(t, "jobd", dsn.User)
	require.Equal(t, `a"b;c#d`, dsn.Passwd, "a double-quoted value is a JSON string")
	require.Equal(t, `"app`, dsn.DBName, "an unbalanced quote is part of the value")
	require.Equal(t, "queue_jobs", c.MySQL.Table)
	require.Equal(t, "warn", c.Log.Level, "the original logged at warn by default")
	require.Equal(t, map[string]int{"1/low": 2, "any": 3}, map[string]int{"1/low": c.Targets["1/low"].Concurrency, "any": c.Targets["any"].Concurrency})
	require.Len(t, c.Targets, 2, "quoted keys are unquoted")

	for v, want := range map[string]bool{"1": true, "true": true, `"true"`: true, "0": false, "false": false, "yes": false, "TRUE": false, "on": false, "": false} {
		_, out, _, err := convertText(t, "always_allow_localhost = "+v+"\nlauncher = x\nmysql_database = app\n[targets]\na = 1\n")
		require.NoError(t, err)
		c, err := jobd.ParseConfig("converted.toml", out)
		require.NoError(t, err)
		require.Equal(t, want, c.AlwaysAllowLocalhost, "always_allow_localhost = %s", v)
	}
}
