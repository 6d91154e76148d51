// Command stamp is the benchmark's launcher for the latency measurements: it
// writes the time it began running, in unix nanoseconds, to the file
// DIR/NAME and exits. It does nothing else, so the time it writes is as
// close as a Go program gets to the moment its process was started.
//
//	stamp DIR NAME
package main

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	if len(os.Args) != 3 {
		os.Stderr.WriteString("usage: stamp DIR NAME\n")
		os.Exit(2)
	}
	path := filepath.Join(os.Args[1], os.Args[2])
	if err := os.WriteFile(path, strconv.AppendInt(nil, now, 10), 0o644); err != nil {
		os.Stderr.WriteString("stamp: " + err.Error() + "\n")
		os.Exit(1)
	}
}
