// Package origconf reads the config files of the original (Node.js) jobd
// and jobd-master for their convert-config commands: the ini reader as the
// original read its files (ini.go), a small TOML writer (toml.go), the
// mapping of the original's log levels (log.go), and the Converter that
// ties them together and reports what the original did not know.
//
// Converting an old config is a command-line feature, used by cmd/jobd and
// cmd/jobd-master only, so this package lives under cmd/internal (packages
// jobd and master cannot import it, and have no need to). The two
// converters stay with their commands (cmd/jobd/convert.go and
// cmd/jobd-master/convert.go) and are built on this package: each needs
// only its own daemon's package, so jobd-master never links jobd, and this
// package imports nothing but the standard library.
package origconf

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Converter is one conversion of an original config: the file read, the
// TOML written so far (the caller writes it with the embedded TOML's
// methods), the keys looked up and the warnings.
type Converter struct {
	TOML
	File *File

	prog     string // the daemon: "jobd" or "jobd-master"
	last     map[string]Entry
	used     map[string]bool
	warnings []string
}

// Open reads the original config at path for prog's convert-config
// command. Errors name the file, and the line where there is one.
func Open(path, prog string) (*Converter, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert-config: %w", err)
	}
	defer r.Close()
	f, err := Parse(path, r)
	if err != nil {
		return nil, err
	}
	return New(f, prog), nil
}

// New starts the conversion of f for prog's convert-config command.
func New(f *File, prog string) *Converter {
	c := &Converter{File: f, prog: prog, last: map[string]Entry{}, used: map[string]bool{}}
	for _, e := range f.Top {
		c.last[e.Key] = e // a key named twice: the last wins, as in the original
	}
	return c
}

// Get returns the entry of a top-level key and whether the file has it.
// Either way the key counts as one the original knew (see DropUnknown).
func (c *Converter) Get(key string) (Entry, bool) {
	c.used[key] = true
	e, ok := c.last[key]
	return e, ok
}

// Warn adds a warning.
func (c *Converter) Warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// Warnings returns the warnings so far.
func (c *Converter) Warnings() []string { return c.warnings }

// Header writes the comment that opens a converted config; reference
// names where every key is explained.
func (c *Converter) Header(reference string) {
	c.Comment("Converted by `%s convert-config` from %s.", c.prog, c.File.Path)
	c.Comment("Check it with `%s --check-config --config FILE`; %s explains every key.", c.prog, reference)
	c.Blank()
}

// DropUnknown warns of each top-level key never asked for with Get,
// naming the file and line, and lists them in a closing comment: keys the
// original did not know, so they are carried no further.
func (c *Converter) DropUnknown() {
	var unknown []string
	for _, e := range c.File.Top {
		if !c.used[e.Key] {
			unknown = append(unknown, e.Key)
			c.Warn("%s:%d: %q is not a key of the original %s; dropped", c.File.Path, e.Line, e.Key, c.prog)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		c.Blank()
		c.Comment("Dropped, unknown to the original %s: %s", c.prog, strings.Join(unknown, ", "))
	}
}
