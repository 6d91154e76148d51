package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/jobd/jobd/cmd/internal/origconf"
	"github.com/jobd/jobd/jobd"
)

// convertConfig reads a config file of the original jobd (ini format) and
// returns the equivalent TOML for this jobd, with comments where something
// has no equivalent or changes meaning. Problems are errors naming the file
// and line; keys it does not know are carried as comments and listed in
// warnings.
func convertConfig(path string) (toml string, warnings []string, err error) {
	oc, err := origconf.Open(path, prog)
	if err != nil {
		return "", nil, err
	}
	c := converter{oc}
	c.Header("the README's configuration reference")
	for _, step := range []func() error{c.server, c.master, c.mysql, c.launcher} {
		if err := step(); err != nil {
			return "", nil, err
		}
	}
	c.Log("info")
	if err := c.targets(); err != nil {
		return "", nil, err
	}
	c.DropUnknown()
	for _, s := range c.File.Sections {
		if s.Name != "targets" {
			c.Warn("%s: section [%s] is not one the original jobd reads; dropped", path, s.Name)
		}
	}
	return c.String(), c.Warnings(), nil
}

// converter converts the keys of an original jobd config.
type converter struct {
	*origconf.Converter
}

// val returns a top-level key's value and whether the file has the key.
func (c converter) val(k string) (string, bool) {
	e, ok := c.Get(k)
	return e.Value, ok
}

// num returns a key's integer value, and whether it has one.
func (c converter) num(k string) (int, bool, error) {
	e, ok := c.Get(k)
	if !ok || e.Value == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(e.Value)
	if err != nil {
		return 0, false, fmt.Errorf("%s:%d: %s = %q: not an integer", c.File.Path, e.Line, k, e.Value)
	}
	return n, true, nil
}

// server converts the keys of the server: name, where it listens, who may
// talk to it.
func (c converter) server() error {
	if v, ok := c.val("name"); ok && v != "" {
		c.KV("name", v)
	}
	host, _ := c.val("host")
	if host == "" {
		host = "127.0.0.1"
	}
	port, hasPort, err := c.num("port")
	if err != nil {
		return err
	}
	if !hasPort {
		port = 7080
	}
	c.KV("listen", net.JoinHostPort(host, strconv.Itoa(port)))
	if v, ok := c.val("password"); ok && v != "" {
		c.KV("password", v)
	}
	v, _ := c.val("always_allow_localhost")
	c.KV("always_allow_localhost", origconf.Bool(v))
	return nil
}

// master converts the master_* keys into [master].
func (c converter) master() error {
	mh, ok := c.val("master_host")
	if !ok || mh == "" {
		c.val("master_port")
		c.val("master_reconnect_timeout")
		return nil
	}
	mp, has, err := c.num("master_port")
	if err != nil {
		return err
	}
	if !has {
		mp = 7081
	}
	c.Section("master")
	c.KV("addr", net.JoinHostPort(mh, strconv.Itoa(mp)))
	rt, has, err := c.num("master_reconnect_timeout")
	if err != nil {
		return err
	}
	if !has {
		rt = 10 // the original's default
	}
	c.KV("reconnect_interval", fmt.Sprintf("%ds", rt))
	return nil
}

// mysql converts the mysql_* keys into [mysql]: one DSN, and the table.
func (c converter) mysql() error {
	c.Section("mysql")
	mcfg := mysql.NewConfig()
	mcfg.User, _ = c.val("mysql_user")
	mcfg.Passwd, _ = c.val("mysql_password")
	mhost, _ := c.val("mysql_host")
	if mhost == "" {
		mhost = "127.0.0.1"
	}
	mport, has, err := c.num("mysql_port")
	if err != nil {
		return err
	}
	if !has {
		mport = 3306
	}
	mcfg.Net = "tcp"
	mcfg.Addr = net.JoinHostPort(mhost, strconv.Itoa(mport))
	mcfg.DBName, _ = c.val("mysql_database")
	if mcfg.Passwd != "" {
		c.Comment("The password may instead come from the environment variable %s.", jobd.EnvMySQLPassword)
	}
	c.KV("dsn", mcfg.FormatDSN())
	if v, ok := c.val("mysql_table"); ok && v != "" {
		c.KV("table", v)
	}
	if v, ok := c.val("mysql_fetch_limit"); ok {
		c.Comment("mysql_fetch_limit = %s has no equivalent: jobd claims only as many jobs as its targets have room for.", v)
	}
	return nil
}

// launcher converts launcher, launcher.cwd, launcher.env.* and
// max_output_buffer into [launcher].
func (c converter) launcher() error {
	c.Section("launcher")
	if v, ok := c.val("launcher"); ok {
		if strings.ContainsAny(v, `"'\`) {
			c.Comment("The original split this command on spaces only; jobd applies shell quoting rules to it.")
		}
		c.KV("command", v)
	}
	if v, ok := c.val("launcher.cwd"); ok && v != "" {
		c.KV("cwd", v)
	}
	if n, has, err := c.num("max_output_buffer"); err != nil {
		return err
	} else if has {
		c.KV("max_output_buffer", n)
	}
	var env []string
	for _, e := range c.File.Top {
		if k, ok := strings.CutPrefix(e.Key, "launcher.env."); ok {
			env = append(env, k)
		}
	}
	if len(env) > 0 {
		c.Section("launcher.env")
		for _, k := range env {
			v, _ := c.val("launcher.env." + k)
			c.KV(origconf.Key(k), v)
		}
	}
	return nil
}

// targets converts the [targets] section, name = concurrency, into a
// [targets.NAME] table each.
func (c converter) targets() error {
	targets := c.File.Section("targets")
	if len(targets) == 0 {
		c.Warn("%s: no [targets] section: the converted config serves no target", c.File.Path)
	}
	for _, e := range targets {
		n, err := strconv.Atoi(e.Value)
		if err != nil || n < 1 {
			return fmt.Errorf("%s:%d: targets.%s = %q: concurrency must be a positive integer", c.File.Path, e.Line, e.Key, e.Value)
		}
		c.Section("targets." + origconf.Key(e.Key))
		c.KV("concurrency", n)
	}
	return nil
}
