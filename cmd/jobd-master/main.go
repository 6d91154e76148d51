// Command jobd-master is the coordinator: jobd workers register with it,
// and it fans poke, pause, continue, status, run-manual and send-signal out
// to the workers serving the targets concerned.
//
//	jobd-master --config /etc/jobd-master.toml    run the daemon
//	jobd-master --config FILE --check-config      validate the config and exit
//	jobd-master --version
//	jobd-master convert-config OLD.conf           print the TOML for an original jobd-master ini config
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/jobd/jobd/cmd/internal/daemon"
	"github.com/jobd/jobd/master"
)

const prog = "jobd-master"

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "convert-config" {
		os.Exit(daemon.ConvertCommand(prog, "/etc/jobd-master.toml", args[1:], convertConfig))
	}
	os.Exit(run(args))
}

const usage = `Usage:
  jobd-master --config FILE [--check-config]   run the master (or only validate its config)
  jobd-master --version
  jobd-master convert-config OLD.conf          convert an original jobd-master ini config to TOML
`

func run(args []string) int {
	f, err := daemon.ParseFlags(prog, "/etc/jobd-master.toml", usage, args)
	if errors.Is(err, flag.ErrHelp) {
		return daemon.ExitOK
	} else if err != nil {
		return daemon.ExitUsage
	}
	if f.Version {
		fmt.Println(prog, daemon.Version())
		return daemon.ExitOK
	}
	cfg, err := master.LoadConfig(f.Config)
	if err != nil {
		daemon.Fail(prog, daemon.ExitUsage, err)
	}
	if f.Check {
		fmt.Printf("%s: config OK: listen %s\n", f.Config, cfg.Listen)
		return daemon.ExitOK
	}
	log, logFile, err := daemon.NewLogger(cfg.Log.Level, cfg.Log.Format, cfg.Log.File)
	if err != nil {
		daemon.Fail(prog, daemon.ExitUsage, fmt.Errorf("%s: %w", f.Config, err))
	}
	m := master.New(cfg, master.Options{Logger: log, Version: daemon.Version()})
	ctx, stop := daemon.Signals(log, daemon.Reloader(log, logFile, f.Config, master.LoadConfig, m.Reload))
	defer stop()
	if err := m.Run(ctx); err != nil {
		if logFile != nil {
			log.Error("jobd-master failed", "err", err)
		}
		// One plain line, as jobd prints: what a person starting it by hand
		// (or reading the journal) sees.
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return daemon.ExitError
	}
	return daemon.ExitOK
}
