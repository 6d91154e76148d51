// Command jobd is the worker daemon: it claims jobs of the targets it serves
// from the jobs table, runs them, and records their outcome.
//
//	jobd --config /etc/jobd.toml              run the daemon
//	jobd --config FILE --check-config         validate the config and exit
//	jobd --version
//	jobd migrate up|down [N]|version|force V --config FILE
//	jobd convert-config OLD.conf              print the TOML for an original jobd ini config
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/jobd/jobd/cmd/internal/daemon"
	"github.com/jobd/jobd/jobd"
)

const prog = "jobd"

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "migrate":
			os.Exit(migrateCmd(args[1:]))
		case "convert-config":
			os.Exit(daemon.ConvertCommand(prog, "/etc/jobd.toml", args[1:], convertConfig))
		}
	}
	os.Exit(run(args))
}

const usage = `Usage:
  jobd --config FILE [--check-config]     run the worker daemon (or only validate its config)
  jobd --version
  jobd migrate up|down [N]|version|force V --config FILE
  jobd convert-config OLD.conf            convert an original jobd ini config to TOML
`

func run(args []string) int {
	f, err := daemon.ParseFlags(prog, "/etc/jobd.toml", usage, args)
	if errors.Is(err, flag.ErrHelp) {
		return daemon.ExitOK
	} else if err != nil {
		return daemon.ExitUsage
	}
	if f.Version {
		fmt.Println(prog, daemon.Version())
		return daemon.ExitOK
	}
	cfg, err := jobd.LoadConfig(f.Config)
	if err != nil {
		daemon.Fail(prog, daemon.ExitUsage, err)
	}
	if f.Check {
		plural := "s"
		if len(cfg.Targets) == 1 {
			plural = ""
		}
		fmt.Printf("%s: config OK: %d target%s\n", f.Config, len(cfg.Targets), plural)
		return daemon.ExitOK
	}
	log, logFile, err := daemon.NewLogger(cfg.Log.Level, cfg.Log.Format, cfg.Log.File)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			// The level and format were validated: this is the file.
			err = fmt.Errorf("log.file = %q: cannot open it: %w", cfg.Log.File, pe.Err)
		}
		daemon.Fail(prog, daemon.ExitUsage, fmt.Errorf("%s: %w", f.Config, err))
	}
	if stop, err := daemon.CPUProfile(os.Getenv("JOBD_CPUPROFILE")); err != nil {
		daemon.Fail(prog, daemon.ExitError, err)
	} else {
		defer stop()
	}
	defer func() {
		if err := daemon.WriteMemProfile(os.Getenv("JOBD_MEMPROFILE")); err != nil {
			log.Error("could not write the memory profile", "err", err)
		}
	}()
	w := jobd.New(cfg, jobd.Options{Logger: log, Version: daemon.Version()})
	ctx, stop := daemon.Signals(log, daemon.Reloader(log, logFile, f.Config, jobd.LoadConfig, w.Reload))
	defer stop()
	if err := w.Run(ctx); err != nil {
		if logFile != nil {
			// The file is for operators; a person at the terminal needs the line too.
			log.Error("jobd failed", "err", err)
		}
		// One plain line, not a log record with its escaped quotes: it is
		// what a person starting jobd by hand (or reading the journal) sees.
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return daemon.ExitError
	}
	return daemon.ExitOK
}
