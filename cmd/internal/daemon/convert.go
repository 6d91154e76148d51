package daemon

import (
	"fmt"
	"io"
	"os"
)

// ConvertCommand is the convert-config command of daemon prog: it prints
// the TOML that convert makes of the original's ini config named in args
// on stdout, and convert's warnings on stderr. dest is where the usage line
// suggests to put the TOML. It returns the exit code, or exits with
// ExitUsage and one line when the config cannot be converted.
func ConvertCommand(prog, dest string, args []string, convert func(path string) (toml string, warnings []string, err error)) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: %s convert-config OLD.conf > %s\n", prog, dest)
		return ExitUsage
	}
	text, warnings, err := convert(args[0])
	if err != nil {
		Fail(prog, ExitUsage, err)
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", prog, w)
	}
	_, _ = io.WriteString(os.Stdout, text)
	return ExitOK
}
