package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// tenv is one test's world: a migrated database, a launcher whose
// behaviour depends on the target, a home directory with a ~/.jobctl.toml,
// and the environment jobctl sees.
type tenv struct {
	t    *testing.T
	db   *storetest.DB
	st   *store.Store
	dir  string // the launcher's scratch directory (the release file)
	home string
	vars map[string]string
}

// launcherScript behaves by target: ok exits 0, fail exits 3, hold runs
// until the release file exists, term kills itself with SIGTERM. Each job
// prints a line on stdout and one on stderr first.
const launcherScript = `id=$1; target=$2
echo "hello from job $id ($target)"
echo "a warning from job $id" >&2
case $target in
fail) exit 3 ;;
hold) while [ ! -f %[1]s/release ]; do sleep 0.05; done ;;
term) kill -TERM $$; sleep 5 ;;
esac
exit 0`

// workerTargets are the targets of the test worker.
const workerTargets = `[targets.ok]
concurrency = 2
slots = { fast = 1 }
[targets.fail]
concurrency = 1
[targets.hold]
concurrency = 2
[targets.term]
concurrency = 1
`

func newTenv(t *testing.T) *tenv {
	t.Helper()
	st, db := storetest.NewStore(t, store.Options{})
	home := t.TempDir()
	return &tenv{t: t, db: db, st: st, dir: t.TempDir(), home: home,
		vars: map[string]string{"HOME": home, "USER": "tester"}}
}

// worker starts a jobd serving workerTargets with the test launcher; top
// adds top-level keys.
func (e *tenv) worker(name, top string) *jobdtest.Proc {
	e.t.Helper()
	return e.workerWith(name, top, workerTargets)
}

// workerWith starts a jobd with the test launcher and body (targets, and
// [master] to register with one).
func (e *tenv) workerWith(name, top, body string) *jobdtest.Proc {
	e.t.Helper()
	script := jobdtest.Script(e.t, fmt.Sprintf(launcherScript, e.dir))
	return jobdtest.StartJobd(e.t, jobdtest.JobdSpec{
		Name: name,
		DSN:  e.db.DSN,
		// Jobs start on pokes; the safety-net poll stays out of the way.
		Top:  `poll_interval = "1h"` + "\n" + top,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n%s", script+" {id} {target}", body),
	})
}

// config writes ~/.jobctl.toml.
func (e *tenv) config(text string) {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.home, configName), []byte(text), 0o600))
}

// configFor writes a ~/.jobctl.toml naming the daemon at addr and the
// database, so command lines in goldens carry nothing volatile.
func (e *tenv) configFor(addr string, extra string) {
	e.t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(e.t, err)
	e.config(fmt.Sprintf("host = %q\nport = %s\ndsn = %q\n%s", host, port, e.db.DSN, extra))
}

// release lets hold jobs finish.
func (e *tenv) release() {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.dir, "release"), nil, 0o644))
}

// result is what one jobctl run printed and returned.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
}

// jobctl runs jobctl in-process with the test's environment.
func (e *tenv) jobctl(args ...string) result {
	e.t.Helper()
	return e.jobctlCtx(storetest.Context(e.t), args...)
}

func (e *tenv) jobctlCtx(ctx context.Context, args ...string) result {
	e.t.Helper()
	var out, errOut jobdtest.SyncBuffer
	code := run(ctx, args, env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return e.vars[k] },
	})
	return result{args: args, stdout: out.String(), stderr: errOut.String(), code: code}
}

// ok runs jobctl and requires exit 0.
func (e *tenv) ok(args ...string) result {
	e.t.Helper()
	r := e.jobctl(args...)
	require.Equal(e.t, 0, r.code, "jobctl %s:\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// job reads a job's row.
func (e *tenv) job(id int64) store.Job {
	e.t.Helper()
	j, err := e.st.JobGet(storetest.Context(e.t), id)
	require.NoError(e.t, err)
	return j
}

// waitStatus waits until the job has the status.
func (e *tenv) waitStatus(id int64, want store.Status) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := e.st.JobGet(storetest.Context(e.t), id)
		if err == nil && j.Status == want {
			return j
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			require.NoError(e.t, err)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after 30s: job %d is not %s (last seen %q, %v)", id, want, j.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// transcript shows a run as a person at a terminal would see it.
func (r result) transcript() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ jobctl %s\n", shellJoin(r.args))
	b.WriteString(r.stdout)
	if r.stderr != "" {
		b.WriteString("[stderr]\n" + r.stderr)
	}
	if r.code != 0 {
		fmt.Fprintf(&b, "[exit %d]\n", r.code)
	}
	return b.String()
}

// shellJoin quotes arguments as a shell command line would need them.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\*?{}()<>|&;") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// masks replace what changes from run to run: times, ports, ids of
// processes and instances, versions, uptime, memory.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`), "YYYY-MM-DD hh:mm:ss"},
	{regexp.MustCompile(`\b1[7-9]\d{8}\b`), "UNIXTIME"},
	{regexp.MustCompile(`instance \d+`), "instance N"},
	{regexp.MustCompile(`(?m)^instance_id( +)\d+$`), "instance_id${1}N"},
	{regexp.MustCompile(`version [^,\s]+`), "version V"},
	{regexp.MustCompile(`up [0-9dhms.µ]+`), "up T"},
	{regexp.MustCompile(`memory [0-9.]+ [KMGTPE]?i?B`), "memory M"},
	{regexp.MustCompile(`"(instanceId|instance_id|remotePort)": \d+`), `"$1": N`},
	{regexp.MustCompile(`"version": "[^"]*"`), `"version": "V"`},
	{regexp.MustCompile(`"uptime": [0-9.e+-]+`), `"uptime": T`},
	{regexp.MustCompile(`"memoryUsage": \{[^}]*\}`), `"memoryUsage": {…}`},
}

// portRE finds loopback ports; they are masked keeping their width, so
// columns stay aligned in the goldens.
var portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

func mask(s string) string {
	s = portRE.ReplaceAllStringFunc(s, func(m string) string {
		return "127.0.0.1:" + strings.Repeat("P", len(m)-len("127.0.0.1:"))
	})
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// golden compares the masked transcripts of runs with
// testdata/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name string, runs ...result) {
	t.Helper()
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = mask(r.transcript())
	}
	got := strings.Join(parts, "\n")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run go test ./cmd/jobctl -run %s -update", t.Name())
	require.Equal(t, string(want), got, "%s differs (after checking the change, rewrite it with -update)", path)
}

// requireOneLine checks an error report: one line on stderr starting with
// "jobctl: ", never a panic or a stack trace.
func requireOneLine(t *testing.T, r result) {
	t.Helper()
	require.True(t, strings.HasPrefix(r.stderr, "jobctl: "), "jobctl %s: stderr %q", strings.Join(r.args, " "), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "jobctl %s: one line, got %q", strings.Join(r.args, " "), r.stderr)
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		require.NotContains(t, r.stderr, bad, "jobctl %s", strings.Join(r.args, " "))
	}
}
