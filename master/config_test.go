package master

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("m.toml", "")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7081", c.Listen)
	require.Empty(t, c.Password)
	require.False(t, c.AlwaysAllowLocalhost)
	require.Equal(t, 30*time.Second, c.PingInterval.D())
	require.Equal(t, 500*time.Millisecond, c.PokeThrottleInterval.D())
	require.Equal(t, 10*time.Second, c.RequestTimeout.D())
	require.Equal(t, LogConfig{Level: "info", Format: "text"}, c.Log)
	require.Equal(t, "m.toml", c.Path())
}

func TestConfigDecodesEveryKey(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("m.toml", `
listen = "0.0.0.0:9081"
password = "s3cret"
always_allow_localhost = true
ping_interval = "15s"
poke_throttle_interval = "250ms"
request_timeout = "3s"
[log]
level = "debug"
format = "json"
file = "/var/log/jobd-master.log"
`)
	require.NoError(t, err)
	require.Equal(t, &Config{
		Listen: "0.0.0.0:9081", Password: "s3cret", AlwaysAllowLocalhost: true,
		PingInterval: Duration(15 * time.Second), PokeThrottleInterval: Duration(250 * time.Millisecond),
		RequestTimeout: Duration(3 * time.Second),
		Log:            LogConfig{Level: "debug", Format: "json", File: "/var/log/jobd-master.log"},
		path:           "m.toml",
	}, c)
}

func TestConfigRejectsUnknownKeys(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig("m.toml", "listen = \"127.0.0.1:1\"\nport = 7081\n[log]\nlevl = \"info\"\n")
	require.EqualError(t, err, `m.toml: unknown key "port", "log.levl"`)
}

func TestConfigErrorsNameFileKeyAndValue(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig("/etc/jobd-master.toml", `
listen = "7081"
ping_interval = "1ms"
poke_throttle_interval = "-1s"
request_timeout = "0s"
[log]
level = "loud"
format = "xml"
`)
	require.EqualError(t, err, `/etc/jobd-master.toml: listen = "7081": not a host:port address (address 7081: missing port in address)
/etc/jobd-master.toml: ping_interval = "1ms": must be at least 10ms
/etc/jobd-master.toml: poke_throttle_interval = "-1s": must not be negative (0: no coalescing)
/etc/jobd-master.toml: request_timeout = "0s": must be positive
/etc/jobd-master.toml: log.level = "loud": must be debug, info, warn or error
/etc/jobd-master.toml: log.format = "xml": must be text or json`)
}

func TestConfigSyntaxAndTypeErrors(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig("m.toml", "listen = \n")
	require.ErrorContains(t, err, "m.toml: line 1:")
	_, err = ParseConfig("m.toml", "ping_interval = 30\n")
	require.ErrorContains(t, err, `m.toml: `)
	require.ErrorContains(t, err, `invalid duration 30: durations are strings with a unit, e.g. "30s"`)
	_, err = ParseConfig("m.toml", "listen = 7081\n")
	require.ErrorContains(t, err, "listen")
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	require.ErrorContains(t, err, "config: open ")
	require.ErrorContains(t, err, "nope.toml: no such file or directory")
}

// The example in deploy/ is valid, and spells out the defaults.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "deploy", "jobd-master.example.toml")
	c, err := LoadConfig(path)
	require.NoError(t, err)
	def := DefaultConfig()
	def.path = path
	require.Equal(t, def, c, "the example shows the defaults")
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, key := range []string{"listen", "password", "always_allow_localhost", "ping_interval", "poke_throttle_interval",
		"request_timeout", "[log]", "level", "format", "file"} {
		require.Contains(t, string(text), key, "the example mentions every key")
	}
}
