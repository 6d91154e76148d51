package main

import (
	"os"
	"strings"
)

// The harness runs every process it starts (the raw spawn rate's /bin/true,
// jobd and so its launchers, MariaDB) in the C locale. GNU true given an
// argument, as the launcher /bin/true {id} is, looks at it and so first
// calls setlocale: in a locale such as C.UTF-8 that opens and maps the
// locale's files, which on some machines makes the launcher itself cost a
// third more than the ceiling's /bin/true, so that even a worker costing
// nothing could not reach the ratio the goal asks for. In the C locale the
// two do the same work, and the ratio measures jobd. The C locale is also
// what a systemd service gets where no system locale is configured.
//
// What the shell's locale costs is measured too: the spawn rate of
// /bin/true 1 in it, and a drain at concurrency 32 with jobd (and so its
// launchers) given it back (configuration "c32l").

// localeVar reports whether an environment variable sets the locale.
func localeVar(name string) bool {
	return name == "LANG" || name == "LANGUAGE" || strings.HasPrefix(name, "LC_")
}

// useCLocale switches the harness's own environment, which every process it
// starts inherits, to the C locale, and returns the locale assignments it
// had ("LANG=C.UTF-8", …), nil when they chose the C locale already.
func useCLocale() (shell []string) {
	custom := false
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if !localeVar(name) {
			continue
		}
		shell = append(shell, kv)
		if value != "" && value != "C" && value != "POSIX" && name != "LANGUAGE" {
			custom = true
		}
		os.Unsetenv(name)
	}
	os.Setenv("LANG", "C")
	if !custom {
		return nil
	}
	return shell
}
