package jobdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/jobd/jobd/store/storetest"
)

// built is one binary, built once per test binary.
type built struct {
	once sync.Once
	path string
	err  error
	out  string
}

var bins struct {
	mu  sync.Mutex
	dir string
	m   map[string]*built
}

// moduleRoot is the repository root, found from this file's path.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Bin returns the path of a freshly built binary: "jobd", "jobd-master" or
// "jobctl", built once per test binary, with the race detector when the
// tests run with it, so the daemons' own races fail the tests too.
func Bin(t testing.TB, name string) string {
	t.Helper()
	return binary(t, name, raceEnabled)
}

// PlainBin is Bin without the race detector, for measuring memory and speed.
func PlainBin(t testing.TB, name string) string {
	t.Helper()
	return binary(t, name, false)
}

func binary(t testing.TB, name string, race bool) string {
	t.Helper()
	key := name
	if race {
		key += "-race"
	}
	bins.mu.Lock()
	if bins.m == nil {
		bins.m = map[string]*built{}
		dir, err := os.MkdirTemp("", "jobd-bin-")
		if err != nil {
			bins.mu.Unlock()
			t.Fatal(err)
		}
		bins.dir = dir
		storetest.AtExit(Cleanup)
	}
	b := bins.m[key]
	if b == nil {
		b = &built{}
		bins.m[key] = b
	}
	dir := bins.dir
	bins.mu.Unlock()
	b.once.Do(func() {
		b.path = filepath.Join(dir, key)
		args := []string{"build", "-o", b.path}
		if race {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/"+name)
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		b.err, b.out = err, string(out)
	})
	if b.err != nil {
		t.Fatalf("building %s: %v\n%s", name, b.err, b.out)
	}
	return b.path
}

// Cleanup removes the built binaries. It runs by itself when storetest.Main
// ends; a TestMain without it calls it after m.Run.
func Cleanup() {
	bins.mu.Lock()
	defer bins.mu.Unlock()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
}
