package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jobd/jobd/cmd/internal/daemon"
	"github.com/jobd/jobd/jobd"
	"github.com/jobd/jobd/store"
)

// migrateCmd is jobd migrate: it moves the schema of the configured table
// up or down, forces its version, or prints it.
func migrateCmd(args []string) int {
	fs := flag.NewFlagSet(prog+" migrate", flag.ContinueOnError)
	configPath := fs.String("config", "/etc/jobd.toml", "config file (its [mysql] dsn and table are used)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jobd migrate up|down [N]|version|force V --config FILE\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the action.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return daemon.ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) == 0 {
		fs.Usage()
		return daemon.ExitUsage
	}
	switch rest[0] {
	case "up", "down", "force", "version":
	default:
		// Before connecting: a typo is not a database problem.
		fmt.Fprintf(os.Stderr, "%s: unknown migrate action %q: use up, down [N], version or force V\n", prog, rest[0])
		return daemon.ExitUsage
	}
	cfg, err := jobd.LoadConfig(*configPath)
	if err != nil {
		daemon.Fail(prog, daemon.ExitUsage, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	m, err := store.NewMigrator(ctx, cfg.MySQL.DSN, cfg.MySQL.Table)
	if err != nil {
		daemon.Fail(prog, daemon.ExitError, err)
	}
	defer m.Close()
	action, params := rest[0], rest[1:]
	number := func(def int) (int, error) {
		if len(params) == 0 {
			return def, nil
		}
		n, err := strconv.Atoi(params[0])
		if err != nil || len(params) > 1 {
			return 0, fmt.Errorf("migrate %s: expected one number, got %q", action, params)
		}
		return n, nil
	}
	switch action {
	case "up":
		err = m.Up()
	case "down":
		var n int
		if n, err = number(1); err == nil {
			err = m.Down(n)
		}
	case "force":
		var n int
		if len(params) == 0 {
			err = fmt.Errorf("migrate force: which version? (jobd migrate force V)")
		} else if n, err = number(0); err == nil {
			err = m.Force(n)
		}
	case "version":
	}
	if err != nil {
		daemon.Fail(prog, daemon.ExitError, err)
	}
	v, dirty, err := m.Version()
	if err != nil {
		daemon.Fail(prog, daemon.ExitError, err)
	}
	state := ""
	if dirty {
		state = " (dirty: a migration failed half-way; fix it, then `jobd migrate force V` and `up` again)"
	}
	fmt.Printf("table %s: schema version %d%s\n", cfg.MySQL.Table, v, state)
	return daemon.ExitOK
}
