package jobd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/go-sql-driver/mysql"

	"github.com/jobd/jobd/jobd/launch"
	"github.com/jobd/jobd/migrations"
	"github.com/jobd/jobd/store"
)

// Config is jobd's configuration, read from a TOML file (/etc/jobd.toml).
// The README's configuration reference lists every key.
type Config struct {
	Name                 string   `toml:"name"`
	Listen               string   `toml:"listen"`
	Password             string   `toml:"password"`
	AlwaysAllowLocalhost bool     `toml:"always_allow_localhost"`
	PollInterval         Duration `toml:"poll_interval"`
	ShutdownTimeout      Duration `toml:"shutdown_timeout"`
	HeartbeatInterval    Duration `toml:"heartbeat_interval"`
	LostAfter            Duration `toml:"lost_after"`
	Prefetch             int      `toml:"prefetch"`
	SpoolDir             string   `toml:"spool_dir"`
	MaxPendingOutcomes   int      `toml:"max_pending_outcomes"`

	Master   MasterConfig             `toml:"master"`
	MySQL    MySQLConfig              `toml:"mysql"`
	Launcher LauncherConfig           `toml:"launcher"`
	Targets  map[string]*TargetConfig `toml:"targets"`
	Log      LogConfig                `toml:"log"`

	path string // the file it came from, for messages
}

// MasterConfig is the [master] section.
type MasterConfig struct {
	Addr              string   `toml:"addr"`
	Password          string   `toml:"password"`
	ReconnectInterval Duration `toml:"reconnect_interval"`
}

// MySQLConfig is the [mysql] section.
type MySQLConfig struct {
	DSN            string   `toml:"dsn"`
	Table          string   `toml:"table"`
	MaxConnections int      `toml:"max_connections"`
	WaitAtStart    Duration `toml:"wait_at_start"`
}

// LauncherConfig is the [launcher] section.
type LauncherConfig struct {
	Command         string            `toml:"command"`
	Shell           bool              `toml:"shell"`
	Cwd             string            `toml:"cwd"`
	Env             map[string]string `toml:"env"`
	MaxOutputBuffer int               `toml:"max_output_buffer"`
	KillGrace       Duration          `toml:"kill_grace"`
}

// TargetConfig is one [targets.NAME] section.
type TargetConfig struct {
	Concurrency     int            `toml:"concurrency"`
	Slots           map[string]int `toml:"slots"`
	Timeout         Duration       `toml:"timeout"`
	Launcher        string         `toml:"launcher"`
	MaxAttempts     int            `toml:"max_attempts"`
	RetryBackoff    Duration       `toml:"retry_backoff"`
	RetryBackoffMax Duration       `toml:"retry_backoff_max"`
	RetryLost       bool           `toml:"retry_lost"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
	File   string `toml:"file"`
}

// EnvMySQLPassword, when set, gives the database password instead of the DSN.
const EnvMySQLPassword = "JOBD_MYSQL_PASSWORD"

// Defaults.
const (
	DefaultListen            = "127.0.0.1:7080"
	DefaultPollInterval      = 10 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultLostAfter         = 60 * time.Second
	DefaultReconnectInterval = 5 * time.Second
	DefaultMaxOutputBuffer   = launch.DefaultMaxOutput
	DefaultRetryBackoff      = 10 * time.Second
	DefaultRetryBackoffMax   = 10 * time.Minute
	DefaultMaxPending        = 10_000
	maxOutputBufferLimit     = 64 << 20
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() *Config {
	host, _ := os.Hostname()
	return &Config{
		Name:               host,
		Listen:             DefaultListen,
		PollInterval:       Duration(DefaultPollInterval),
		ShutdownTimeout:    Duration(DefaultShutdownTimeout),
		HeartbeatInterval:  Duration(DefaultHeartbeatInterval),
		LostAfter:          Duration(DefaultLostAfter),
		MaxPendingOutcomes: DefaultMaxPending,
		Master:             MasterConfig{ReconnectInterval: Duration(DefaultReconnectInterval)},
		MySQL:              MySQLConfig{Table: store.DefaultTable, MaxConnections: 8},
		Launcher:           LauncherConfig{MaxOutputBuffer: DefaultMaxOutputBuffer, KillGrace: Duration(launch.DefaultKillGrace)},
		Log:                LogConfig{Level: "info", Format: "text"},
	}
}

// LoadConfig reads, decodes and validates a config file. Every error names
// the file and, where there is one, the key and the value.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, fmt.Errorf("%s: cannot read the config file: %w", path, err)
	}
	return ParseConfig(path, string(data))
}

// ParseConfig decodes and validates config text; path is used in messages.
func ParseConfig(path, text string) (*Config, error) {
	c := DefaultConfig()
	c.path = path
	md, err := toml.Decode(text, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, tomlError(err, text))
	}
	if und := unknownKeys(md.Undecoded()); len(und) > 0 {
		s := ""
		if len(und) > 1 {
			s = "s"
		}
		return nil, fmt.Errorf("%s: unknown key%s %s (misspelt, or in the wrong [section]?)", path, s, strings.Join(und, ", "))
	}
	for _, t := range c.Targets {
		if t != nil {
			t.fillDefaults()
		}
	}
	if pw := os.Getenv(EnvMySQLPassword); pw != "" && c.MySQL.DSN != "" {
		if cfg, err := mysql.ParseDSN(c.MySQL.DSN); err == nil {
			cfg.Passwd = pw
			c.MySQL.DSN = cfg.FormatDSN()
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// unknownKeys lists undecoded keys, quoted, leaving out those inside an
// unknown table (the table is listed).
func unknownKeys(und []toml.Key) []string {
	var out []string
	var tables []toml.Key
	for _, k := range und {
		inside := false
		for _, t := range tables {
			if len(k) > len(t) && slices.Equal(k[:len(t)], t) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, strconv.Quote(k.String()))
			tables = append(tables, k)
		}
	}
	return out
}

// tomlTypeErrorRE matches the decoder's type errors, which are not
// ParseErrors: `toml: line 6 (last key "targets.a.concurrency"): ...`.
var tomlTypeErrorRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

var (
	tomlBadTypeRE   = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
	tomlNotTableRE  = regexp.MustCompile(`^type mismatch for .+: expected table but found (.+)$`)
	goTypeToTOMLKey = map[string]string{
		"string": "a string", "int64": "an integer", "float64": "a float", "bool": "a boolean",
		"[]any": "an array", "[]map[string]any": "an array of tables", "map[string]any": "a table",
		"time.Time": "a date-time", "integer": "an integer", "float": "a float", "boolean": "a boolean",
		"slice": "an array", "map": "a table",
	}
)

// tomlError turns the TOML decoder's errors into one line naming the line,
// the key and its value where there is one.
func tomlError(err error, text string) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" && strings.HasPrefix(pe.Message, durationErrorPrefix) {
			// A value our own decoding rejected (durations).
			return fmt.Sprintf("line %d: %s%s: %s", pe.Position.Line, pe.LastKey, sourceValue(text, pe.Position.Line), pe.Message)
		}
		return fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
	}
	m := tomlTypeErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return strings.TrimPrefix(err.Error(), "toml: ")
	}
	line, _ := strconv.Atoi(m[1]) // 0 when absent
	msg := m[3]
	key, uerr := strconv.Unquote(m[2])
	if uerr != nil {
		key = m[2]
	}
	if b := tomlBadTypeRE.FindStringSubmatch(msg); b != nil {
		msg = fmt.Sprintf("must be %s, not %s", typeName(b[2]), typeName(b[1]))
	} else if b := tomlNotTableRE.FindStringSubmatch(msg); b != nil {
		msg = fmt.Sprintf("must be a table, not %s", typeName(b[1]))
		if name, ok := strings.CutPrefix(key, "targets."); ok && !strings.Contains(name, ".") {
			msg += fmt.Sprintf(" (write it as [targets.%s] with concurrency = N)", name)
		}
	}
	where := ""
	if line > 0 {
		where = fmt.Sprintf("line %d: ", line)
		key += sourceValue(text, line)
	}
	return fmt.Sprintf("%s%s: %s", where, key, msg)
}

func typeName(t string) string {
	if n, ok := goTypeToTOMLKey[t]; ok {
		return n
	}
	return t
}

// sourceValue returns " = VALUE" for the value written on a line of the
// config text ("key = value"), or "" when the line is not that simple.
func sourceValue(text string, line int) string {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	_, v, ok := strings.Cut(lines[line-1], "=")
	if !ok {
		return ""
	}
	var probe map[string]any
	if _, err := toml.Decode("v = "+strings.TrimSpace(v), &probe); err != nil {
		return ""
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(probe); err != nil {
		return ""
	}
	_, shown, _ := strings.Cut(strings.TrimSpace(b.String()), "=")
	shown = strings.TrimSpace(shown)
	if shown == "" || len(shown) > 80 {
		return ""
	}
	return " = " + shown
}

func (t *TargetConfig) fillDefaults() {
	if t.MaxAttempts == 0 {
		t.MaxAttempts = 1
	}
	if t.RetryBackoff == 0 {
		t.RetryBackoff = Duration(DefaultRetryBackoff)
	}
	if t.RetryBackoffMax == 0 {
		t.RetryBackoffMax = Duration(DefaultRetryBackoffMax)
	}
}

// configErrors collects validation problems, each naming file, key and value.
type configErrors struct {
	path string
	errs []string
}

func (e *configErrors) add(key string, value any, format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf("%s: %s = %s: %s", e.path, key, show(value), fmt.Sprintf(format, args...)))
}

func (e *configErrors) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(e.errs, "\n"))
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case Duration:
		return fmt.Sprintf("%q", x.D().String())
	default:
		return fmt.Sprint(x)
	}
}

var (
	targetNameRE = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,255}$`)
	envKeyRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the whole config and reports every problem at once.
func (c *Config) Validate() error {
	e := &configErrors{path: c.path}
	if strings.TrimSpace(c.Name) == "" {
		e.add("name", c.Name, "must not be empty")
	}
	if err := checkHostPort(c.Listen); err != nil {
		e.add("listen", c.Listen, "%v", err)
	}
	if c.PollInterval < 0 {
		e.add("poll_interval", c.PollInterval, "must not be negative (0 disables polling)")
	}
	if c.ShutdownTimeout < 0 {
		e.add("shutdown_timeout", c.ShutdownTimeout, "must not be negative")
	}
	if c.HeartbeatInterval <= 0 {
		e.add("heartbeat_interval", c.HeartbeatInterval, "must be positive")
	}
	if c.LostAfter < 2*c.HeartbeatInterval {
		e.add("lost_after", c.LostAfter, "must be at least twice heartbeat_interval (%s)", c.HeartbeatInterval.D())
	}
	if c.Prefetch < 0 {
		e.add("prefetch", c.Prefetch, "must not be negative")
	}
	if c.MaxPendingOutcomes < 1 {
		e.add("max_pending_outcomes", c.MaxPendingOutcomes, "must be a positive integer")
	}
	if c.Master.Addr != "" {
		if err := checkHostPort(c.Master.Addr); err != nil {
			e.add("master.addr", c.Master.Addr, "%v", err)
		}
	}
	if c.Master.ReconnectInterval <= 0 {
		e.add("master.reconnect_interval", c.Master.ReconnectInterval, "must be positive")
	}
	if c.MySQL.DSN == "" {
		e.add("mysql.dsn", c.MySQL.DSN, "required, e.g. \"jobd:password@tcp(127.0.0.1:3306)/app\"")
	} else if _, err := store.ParseDSN(c.MySQL.DSN); err != nil {
		e.add("mysql.dsn", store.Redact(c.MySQL.DSN), "%v", err)
	}
	if err := migrations.ValidateTable(c.MySQL.Table); err != nil {
		e.add("mysql.table", c.MySQL.Table, "%v", err)
	}
	if c.MySQL.WaitAtStart < 0 {
		e.add("mysql.wait_at_start", c.MySQL.WaitAtStart, "must not be negative (0: fail at once)")
	}
	if c.MySQL.MaxConnections < 2 {
		e.add("mysql.max_connections", c.MySQL.MaxConnections, "must be at least 2")
	}
	if c.Launcher.MaxOutputBuffer < 1 || c.Launcher.MaxOutputBuffer > maxOutputBufferLimit {
		e.add("launcher.max_output_buffer", c.Launcher.MaxOutputBuffer, "must be between 1 and %d bytes", maxOutputBufferLimit)
	}
	if c.Launcher.KillGrace < 0 {
		e.add("launcher.kill_grace", c.Launcher.KillGrace, "must not be negative")
	}
	for _, k := range sortedKeys(c.Launcher.Env) {
		if !envKeyRE.MatchString(k) {
			e.add("launcher.env."+k, c.Launcher.Env[k], "not a valid environment variable name")
		}
	}
	if c.Launcher.Command != "" {
		if err := (launch.Spec{Command: c.Launcher.Command, Shell: c.Launcher.Shell}).Validate(); err != nil {
			e.add("launcher.command", c.Launcher.Command, "%v", err)
		}
	}
	for _, name := range sortedKeys(c.Targets) {
		c.validateTarget(e, name, c.Targets[name])
	}
	if err := validateLog(c.Log, "log"); err != nil {
		e.errs = append(e.errs, fmt.Sprintf("%s: %v", c.path, err))
	}
	return e.err()
}

// checkHostPort checks a host:port address, its port a number from 0 to
// 65535 or a service name.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not a host:port address (%v)", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q: not a number from 0 to 65535", port)
	}
	return nil
}

// validTargetName reports whether name may be a target (or slot) name:
// 1 to 255 characters, none of them a control character.
func validTargetName(name string) bool { return targetNameRE.MatchString(name) }

func (c *Config) validateTarget(e *configErrors, name string, t *TargetConfig) {
	key := "targets." + tomlKey(name)
	if t == nil {
		e.add(key, "", "must be a table, e.g. [targets.%s] concurrency = 1", tomlKey(name))
		return
	}
	if !targetNameRE.MatchString(name) {
		e.add(key, name, "a target name must be 1-255 printable characters")
	}
	if t.Concurrency < 1 {
		e.add(key+".concurrency", t.Concurrency, "must be a positive integer")
	}
	for _, s := range sortedKeys(t.Slots) {
		if s == "" || !targetNameRE.MatchString(s) {
			e.add(key+".slots."+tomlKey(s), t.Slots[s], "a slot name must be 1-255 printable characters")
		}
		if t.Slots[s] < 1 {
			e.add(key+".slots."+tomlKey(s), t.Slots[s], "concurrency must be a positive integer")
		}
	}
	if t.Timeout < 0 {
		e.add(key+".timeout", t.Timeout, "must not be negative (0: no timeout)")
	}
	if t.Launcher == "" && c.Launcher.Command == "" {
		e.add(key+".launcher", "", "no launcher: set launcher.command, or launcher in this target")
	}
	if t.Launcher != "" {
		if err := (launch.Spec{Command: t.Launcher, Shell: c.Launcher.Shell}).Validate(); err != nil {
			e.add(key+".launcher", t.Launcher, "%v", err)
		}
	}
	if t.MaxAttempts < 1 {
		e.add(key+".max_attempts", t.MaxAttempts, "must be a positive integer (1: no retries)")
	}
	if t.RetryBackoff < 0 {
		e.add(key+".retry_backoff", t.RetryBackoff, "must not be negative")
	}
	if t.RetryBackoffMax < t.RetryBackoff {
		e.add(key+".retry_backoff_max", t.RetryBackoffMax, "must not be less than retry_backoff (%s)", t.RetryBackoff.D())
	}
}

func validateLog(l LogConfig, section string) error {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(l.Level)) {
		return fmt.Errorf("%s.level = %q: must be debug, info, warn or error", section, l.Level)
	}
	if !slices.Contains([]string{"text", "json"}, strings.ToLower(l.Format)) {
		return fmt.Errorf("%s.format = %q: must be text or json", section, l.Format)
	}
	return nil
}

// tomlKey quotes a key when TOML needs it ("1/low" → "\"1/low\"").
func tomlKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("%q", k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Path is the file the config was read from.
func (c *Config) Path() string { return c.path }

// MasterPassword is the password jobd sends to its master: [master]
// password, or the top-level password as the original jobd did.
func (c *Config) MasterPassword() string {
	if c.Master.Password != "" {
		return c.Master.Password
	}
	return c.Password
}

// LaunchSpec is how jobs of a target are launched.
func (c *Config) LaunchSpec(t *TargetConfig) launch.Spec {
	cmd := c.Launcher.Command
	if t.Launcher != "" {
		cmd = t.Launcher
	}
	env := make([]string, 0, len(c.Launcher.Env))
	for _, k := range sortedKeys(c.Launcher.Env) {
		env = append(env, k+"="+c.Launcher.Env[k])
	}
	return launch.Spec{
		Command:   cmd,
		Shell:     c.Launcher.Shell,
		Dir:       c.Launcher.Cwd,
		Env:       env,
		MaxOutput: c.Launcher.MaxOutputBuffer,
		Timeout:   t.Timeout.D(),
		KillGrace: c.Launcher.KillGrace.D(),
	}
}
