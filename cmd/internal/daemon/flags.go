package daemon

import (
	"flag"
	"fmt"
	"os"
)

// Flags is the command line every daemon has.
type Flags struct {
	Config  string // --config FILE
	Check   bool   // --check-config: validate the config file and exit
	Version bool   // --version: print the version and exit
}

// ParseFlags parses the command line of daemon prog: --config FILE (config
// by default), --check-config and --version; usage is the text that -h
// prints before the flags. When it returns an error, it has said what is
// wrong on stderr; the error is flag.ErrHelp for -h and --help, which
// printed the usage.
func ParseFlags(prog, config, usage string, args []string) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.StringVar(&f.Config, "config", config, "config file")
	fs.BoolVar(&f.Check, "check-config", false, "validate the config file and exit")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q (see %s --help)\n", prog, fs.Arg(0), prog)
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}
