package master

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is jobd-master's configuration, read from a TOML file
// (/etc/jobd-master.toml). deploy/jobd-master.example.toml shows every key.
type Config struct {
	Listen               string    `toml:"listen"`
	Password             string    `toml:"password"`
	AlwaysAllowLocalhost bool      `toml:"always_allow_localhost"`
	PingInterval         Duration  `toml:"ping_interval"`
	PokeThrottleInterval Duration  `toml:"poke_throttle_interval"`
	RequestTimeout       Duration  `toml:"request_timeout"`
	Log                  LogConfig `toml:"log"`

	path string // the file it came from, for messages
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
	File   string `toml:"file"`
}

// Defaults.
const (
	DefaultListen               = "127.0.0.1:7081"
	DefaultPingInterval         = 30 * time.Second
	DefaultPokeThrottleInterval = 500 * time.Millisecond
	DefaultRequestTimeout       = 10 * time.Second
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() *Config {
	return &Config{
		Listen:               DefaultListen,
		PingInterval:         Duration(DefaultPingInterval),
		PokeThrottleInterval: Duration(DefaultPokeThrottleInterval),
		RequestTimeout:       Duration(DefaultRequestTimeout),
		Log:                  LogConfig{Level: "info", Format: "text"},
		path:                 "config",
	}
}

// LoadConfig reads, decodes and validates a config file. Every error names
// the file and, where there is one, the key and the value.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, string(data))
}

// ParseConfig decodes and validates config text; path is used in messages.
func ParseConfig(path, text string) (*Config, error) {
	c := DefaultConfig()
	c.path = path
	md, err := toml.Decode(text, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = fmt.Sprintf("%q", k.String())
		}
		return nil, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Path is the file the config was read from.
func (c *Config) Path() string { return c.path }

// Validate checks the whole config and reports every problem at once, each
// on its own line naming the file, the key and the value.
func (c *Config) Validate() error {
	var errs []string
	bad := func(key string, value any, format string, args ...any) {
		if d, ok := value.(Duration); ok {
			value = d.D().String()
		}
		errs = append(errs, fmt.Sprintf("%s: %s = %q: %s", c.path, key, fmt.Sprint(value), fmt.Sprintf(format, args...)))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", c.Listen, "not a host:port address (%v)", err)
	} else if port == "" {
		bad("listen", c.Listen, "no port (the default is 7081)")
	}
	if c.PingInterval < Duration(10*time.Millisecond) {
		bad("ping_interval", c.PingInterval, "must be at least 10ms")
	}
	if c.PokeThrottleInterval < 0 {
		bad("poke_throttle_interval", c.PokeThrottleInterval, "must not be negative (0: no coalescing)")
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout", c.RequestTimeout, "must be positive")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		bad("log.level", c.Log.Level, "must be debug, info, warn or error")
	}
	if !slices.Contains([]string{"text", "json"}, strings.ToLower(c.Log.Format)) {
		bad("log.format", c.Log.Format, "must be text or json")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}
