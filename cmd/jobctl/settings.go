package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jobd/jobd/jobd"
	"github.com/jobd/jobd/store"
)

// Environment variables jobctl reads.
const (
	envPassword = "JOBD_PASSWORD"  // the daemon's password
	envDSN      = "JOBD_MYSQL_DSN" // the database of the jobs commands
)

// Default ports of the daemons.
const (
	defaultWorkerPort = 7080
	defaultMasterPort = 7081
)

// configName is the jobctl config file in the home directory.
const configName = ".jobctl.toml"

// fileConfig is ~/.jobctl.toml: the global flags' long names, with _ for -.
type fileConfig struct {
	Host       string `toml:"host"`
	Port       int    `toml:"port"`
	Master     *bool  `toml:"master"`
	Password   string `toml:"password"`
	DSN        string `toml:"dsn"`
	Table      string `toml:"table"`
	JobdConfig string `toml:"jobd_config"`
	Timeout    string `toml:"timeout"`
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	config         string
	host           string
	port           int
	master         bool
	password       string
	passwordPrompt bool
	dsn            string
	jobdConfig     string
	table          string
	json           bool
	timeout        time.Duration
}

func (g *globalFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.config, "config", "", "jobctl config file (default ~/"+configName+", if it exists)")
	fs.StringVar(&g.host, "host", "", "daemon host, or host:port (default 127.0.0.1)")
	fs.IntVar(&g.port, "port", 0, fmt.Sprintf("daemon port (default %d, or %d with --master)", defaultWorkerPort, defaultMasterPort))
	fs.BoolVar(&g.master, "master", false, "talk to jobd-master instead of a jobd worker")
	fs.StringVar(&g.password, "password", "", "daemon password (also "+envPassword+"; -P prompts for it)")
	fs.BoolVarP(&g.passwordPrompt, "password-prompt", "P", false, "read the daemon password from the terminal, without echo")
	fs.StringVar(&g.dsn, "dsn", "", "database of the jobs commands, user:pass@tcp(host:3306)/db (also "+envDSN+")")
	fs.StringVar(&g.jobdConfig, "jobd-config", "", "a jobd config file to take the database, table, address and password from")
	fs.StringVar(&g.table, "table", "", "jobs table (default: the jobd config's, or jobs)")
	fs.BoolVar(&g.json, "json", false, "print JSON for scripts instead of tables")
	fs.DurationVar(&g.timeout, "timeout", 0, "give up after this long (default: 30s per request; no limit for run-manual and --wait)")
}

// settings are the resolved connection settings of one command line: flags
// first, then the environment, then the jobctl config file, then the jobd
// config, then defaults.
type settings struct {
	master   bool
	host     string
	port     int
	password string
	json     bool
	timeout  time.Duration

	// daemonNamed: a daemon was named by a flag, the config file or the
	// jobd config, rather than defaulted. jobs add pokes only a named one.
	daemonNamed bool
	// jobdMaster is the jobd config's [master] address and password, which
	// jobs add pokes when no master was named otherwise.
	jobdMaster, jobdMasterPassword string

	dsn, dsnSource string
	table          string
}

// addr is the daemon's host:port.
func (s *settings) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// kind names the daemon for messages.
func (s *settings) kind() string {
	if s.master {
		return "jobd-master"
	}
	return "jobd"
}

// resolve computes the settings of cmd from its flags (telling set flags
// from defaults), the environment and the config files.
func (a *app) resolve(cmd *cobra.Command) (*settings, error) {
	g := &a.flags
	fs := cmd.Flags()
	fc, err := a.loadFileConfig()
	if err != nil {
		return nil, err
	}
	set := func(name string) bool { return fs.Changed(name) }
	s := &settings{json: g.json}

	jobdPath := fc.JobdConfig
	if set("jobd-config") {
		jobdPath = g.jobdConfig
	}
	var jc *jobd.Config
	if jobdPath != "" {
		if jc, err = jobd.LoadConfig(expandHome(jobdPath, a.getenv)); err != nil {
			return nil, usageErr("%v", err)
		}
	}

	switch {
	case cmd.Annotations[impliesMaster] != "":
		s.master = true
	case set("master"):
		s.master = g.master
	case fc.Master != nil:
		s.master = *fc.Master
	}

	// The address: --host (perhaps host:port) and --port, the config file's
	// host and port, the jobd config's listen or [master] addr.
	// Levels: 2 a flag, 1 the config file, 0 unset. A port inside --host
	// gives way to a --port of a higher level only.
	host, port := "", 0
	hostLevel, portLevel := 0, 0
	switch {
	case set("host"):
		host, hostLevel = g.host, 2
	case fc.Host != "":
		host, hostLevel = fc.Host, 1
	}
	switch {
	case set("port"):
		port, portLevel = g.port, 2
	case fc.Port != 0:
		port, portLevel = fc.Port, 1
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil {
			return nil, usageErr("host %q: the port must be a number", host)
		}
		switch {
		case portLevel == hostLevel && n != port:
			return nil, usageErr("host %q names port %s, but the port is also set to %d", host, p, port)
		case portLevel <= hostLevel:
			port, portLevel = n, hostLevel
		}
		host = h
	}
	hostSet, portSet := hostLevel > 0, portLevel > 0
	if portSet && (port < 1 || port > 65535) {
		return nil, usageErr("port %d: must be between 1 and 65535", port)
	}
	s.daemonNamed = hostSet || portSet || set("master") || fc.Master != nil
	if jc != nil {
		if jc.Master.Addr != "" {
			s.jobdMaster, s.jobdMasterPassword = jc.Master.Addr, jc.MasterPassword()
		}
		from, pw := jc.Listen, jc.Password
		if s.master {
			from, pw = jc.Master.Addr, jc.MasterPassword()
		}
		if from != "" {
			if h, p, err := net.SplitHostPort(from); err == nil {
				if !hostSet {
					host = localHost(h)
				}
				if !portSet {
					port, _ = strconv.Atoi(p)
				}
				s.daemonNamed = true
			}
			if s.password == "" {
				s.password = pw
			}
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = defaultWorkerPort
		if s.master {
			port = defaultMasterPort
		}
	}
	s.host, s.port = host, port

	// The password: --password, -P, JOBD_PASSWORD, the config file, the
	// jobd config.
	switch {
	case set("password"):
		s.password = g.password
	case g.passwordPrompt:
		if s.password, err = a.promptPassword(s); err != nil {
			return nil, err
		}
	case a.getenv(envPassword) != "":
		s.password = a.getenv(envPassword)
	case fc.Password != "":
		s.password = fc.Password
	}

	// The database: --dsn, JOBD_MYSQL_DSN, the config file, the jobd config.
	switch {
	case set("dsn"):
		s.dsn, s.dsnSource = g.dsn, "--dsn"
	case a.getenv(envDSN) != "":
		s.dsn, s.dsnSource = a.getenv(envDSN), envDSN
	case fc.DSN != "":
		s.dsn, s.dsnSource = fc.DSN, "dsn in "+a.configPath
	case jc != nil:
		s.dsn, s.dsnSource = jc.MySQL.DSN, jobdPath
	}
	switch {
	case set("table"):
		s.table = g.table
	case fc.Table != "":
		s.table = fc.Table
	case jc != nil:
		s.table = jc.MySQL.Table
	default:
		s.table = store.DefaultTable
	}

	switch {
	case set("timeout"):
		s.timeout = g.timeout
	case fc.Timeout != "":
		if s.timeout, err = time.ParseDuration(fc.Timeout); err != nil {
			return nil, usageErr("%s: timeout = %q: not a duration like 30s or 5m", a.configPath, fc.Timeout)
		}
	}
	if s.timeout < 0 {
		return nil, usageErr("--timeout %s: must not be negative", s.timeout)
	}
	return s, nil
}

// loadFileConfig reads --config, or ~/.jobctl.toml when it exists.
func (a *app) loadFileConfig() (*fileConfig, error) {
	path, explicit := a.flags.config, true
	if path == "" {
		explicit = false
		home := a.getenv("HOME")
		if home == "" {
			return &fileConfig{}, nil
		}
		path = filepath.Join(home, configName)
	}
	path = expandHome(path, a.getenv)
	a.configPath = path
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return &fileConfig{}, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usageErr("%s: cannot read the config file: %v", path, err)
	}
	fc := &fileConfig{}
	md, err := toml.Decode(string(data), fc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, usageErr("%s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, usageErr("%s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = strconv.Quote(k.String())
		}
		sort.Strings(keys)
		return nil, usageErr("%s: unknown key %s (known: host, port, master, password, dsn, table, jobd_config, timeout)",
			path, strings.Join(keys, ", "))
	}
	if fc.Password != "" || dsnHasPassword(fc.DSN) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(a.stderr, "jobctl: warning: %s holds a password and others can read it (chmod 600 %s)\n", path, path)
		}
	}
	return fc, nil
}

func dsnHasPassword(dsn string) bool {
	if dsn == "" {
		return false
	}
	cfg, err := store.ParseDSN(dsn)
	return err == nil && cfg.Passwd != ""
}

// promptPassword reads the password from the terminal without echo, or one
// line from stdin when it is not a terminal (echo pw | jobctl -P ...).
func (a *app) promptPassword(s *settings) (string, error) {
	if a.readPassword != nil {
		fmt.Fprintf(a.stderr, "Password for %s at %s: ", s.kind(), s.addr())
		b, err := a.readPassword()
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", usageErr("reading the password: %v", err)
		}
		return string(b), nil
	}
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := a.stdin.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
		}
		if err != nil {
			if len(line) == 0 {
				return "", usageErr("-P: no password on stdin")
			}
			break
		}
	}
	return strings.TrimSuffix(string(line), "\r"), nil
}

// localHost turns a listen address's wildcard host into one to dial.
func localHost(h string) string {
	switch h {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return h
}

// expandHome expands a leading ~/ in a path.
func expandHome(path string, getenv func(string) string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home := getenv("HOME"); home != "" {
			return filepath.Join(home, rest)
		}
	}
	return path
}
