package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/master"
)

const fixture = "/work/shared/fixtures/original-jobd-master.conf"

// originalConfig is the shared fixture, or a copy of it when the tests run
// elsewhere.
func originalConfig(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(fixture); err == nil {
		return fixture
	}
	return writeINI(t, `; A master config in the original jobd-master's ini format.
host = 0.0.0.0
port = 7081
password = letmein
always_allow_localhost = 0
ping_interval = 15
poke_throttle_interval = 0.25
log_file = /var/log/jobd/jobd-master.log
log_level_file = info
log_level_console = warn
`)
}

func writeINI(t *testing.T, text string) string {
	t.Helper()
	return write(t, "jobd-master.conf", text)
}

// convertAndParse converts an ini file and parses the TOML it gives.
func convertAndParse(t *testing.T, path string) (*master.Config, []string, string) {
	t.Helper()
	text, warnings, err := convertConfig(path)
	require.NoError(t, err)
	c, err := master.ParseConfig("converted.toml", text)
	require.NoError(t, err, "the converted config is valid:\n%s", text)
	return c, warnings, text
}

func TestConvertConfigFixture(t *testing.T) {
	t.Parallel()
	c, warnings, text := convertAndParse(t, originalConfig(t))
	require.Empty(t, warnings)
	require.Equal(t, "0.0.0.0:7081", c.Listen)
	require.Equal(t, "letmein", c.Password)
	require.False(t, c.AlwaysAllowLocalhost)
	require.Equal(t, 15*time.Second, c.PingInterval.D())
	require.Equal(t, 250*time.Millisecond, c.PokeThrottleInterval.D())
	require.Equal(t, master.DefaultRequestTimeout, c.RequestTimeout.D())
	require.Equal(t, master.LogConfig{Level: "info", Format: "text", File: "/var/log/jobd/jobd-master.log"}, c.Log)
	require.Contains(t, text, "# log_level_console = warn: jobd-master logs to one place")
}

func TestConvertConfigAsTheOriginalReadIt(t *testing.T) {
	t.Parallel()
	// The original's example: inline comments; no log file, so the console
	// level counts; booleans are "true" or "1" only.
	c, warnings, _ := convertAndParse(t, writeINI(t, `; server settings
host = 127.0.0.1
port = 7999
password = "with ; semicolon"
always_allow_localhost = 1

ping_interval = 30.9 ; seconds (read with parseInt)
poke_throttle_interval = 0.5 ; seconds

; logging
log_level_console = debug
mysql_host = db
[targets]
a = 1
`))
	require.Equal(t, "127.0.0.1:7999", c.Listen)
	require.Equal(t, "with ; semicolon", c.Password)
	require.True(t, c.AlwaysAllowLocalhost)
	require.Equal(t, 30*time.Second, c.PingInterval.D())
	require.Equal(t, 500*time.Millisecond, c.PokeThrottleInterval.D())
	require.Equal(t, master.LogConfig{Level: "debug", Format: "text"}, c.Log)
	require.Len(t, warnings, 2)
	require.Contains(t, warnings[0], `:12: "mysql_host" is not a key of the original jobd-master; dropped`)
	require.Contains(t, warnings[1], `section [targets] is not read by the original jobd-master; dropped`)

	c, warnings, _ = convertAndParse(t, writeINI(t, "always_allow_localhost = yes\n"))
	require.False(t, c.AlwaysAllowLocalhost, `the original took only "true" and "1"`)
	require.Equal(t, "127.0.0.1:7081", c.Listen)
	require.Equal(t, "warn", c.Log.Level, "the original's default level")
	require.Len(t, warnings, 2, "host and port were required")

	// Escapes, JSON-quoted values and quoted keys, as the npm "ini" package
	// of the original read them (origconf, the reader jobd's converter uses).
	c, _, _ = convertAndParse(t, writeINI(t, "host = h\npassword = p\\;w\\#d ; a comment\n'port' = 7082\n"))
	require.Equal(t, "p;w#d", c.Password)
	require.Equal(t, "h:7082", c.Listen)
	c, _, _ = convertAndParse(t, writeINI(t, `password = "a\"b;c#d"`+"\n"))
	require.Equal(t, `a"b;c#d`, c.Password)
}

func TestConvertConfigErrors(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"host = h\nport = x\n":          `:2: port = "x": must be a port number`,
		"ping_interval = soon\n":        `:1: ping_interval = "soon": must be a positive number of seconds`,
		"ping_interval = 0.5\n":         `:1: ping_interval = "0.5": must be at least 1 second`,
		"poke_throttle_interval = -1\n": `:1: poke_throttle_interval = "-1": must be a positive number of seconds`,
		"[log\n":                        `:1: malformed section header "[log"`,
		"just words\n":                  `:1: expected key = value, got "just words"`,
		"= 5\n":                         `:1: empty key`,
	} {
		_, _, err := convertConfig(writeINI(t, text))
		require.ErrorContains(t, err, want, "%q", text)
	}
	_, _, err := convertConfig(filepath.Join(t.TempDir(), "missing.conf"))
	require.ErrorContains(t, err, "convert-config: open ")
}
