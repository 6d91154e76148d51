package launch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// helperEnv, set in a Spec's Env, makes the test binary act as a launcher
// that prints a report of what it was given (see reportSelf) and exits.
const helperEnv = "LAUNCH_TEST_HELPER=report"

func TestMain(m *testing.M) {
	if os.Getenv("LAUNCH_TEST_HELPER") == "report" {
		reportSelf()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// report is what the helper launcher saw.
type report struct {
	Args [][]byte          // without argv[0]; bytes, which JSON keeps exactly
	Env  map[string]string // the last value of each name
	Dups []string          // names that appear more than once
	Dir  string
}

func reportSelf() {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	r := report{Args: [][]byte{}, Env: map[string]string{}, Dir: dir, Dups: []string{}}
	for _, a := range os.Args[1:] {
		r.Args = append(r.Args, []byte(a))
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := r.Env[k]; dup {
			r.Dups = append(r.Dups, k)
		}
		r.Env[k] = v
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		panic(err)
	}
}

// helperSpec is a direct-mode Spec running the test binary as the reporting
// launcher, with args after it in the template.
func helperSpec(t *testing.T, args string) Spec {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	// A -race binary sleeps 1s before exiting unless told not to.
	return Spec{Command: shellQuote(exe) + " " + args, Env: []string{helperEnv, "GORACE=atexit_sleep_ms=0"}}
}

func decodeReport(t *testing.T, r Result) report {
	t.Helper()
	require.True(t, r.OK(), "helper failed: %s", r.Stderr)
	var rep report
	require.NoError(t, json.Unmarshal(r.Stdout, &rep), "stdout: %q", r.Stdout)
	return rep
}

// waitTimeout bounds every wait in these tests; reaching it fails the test.
const waitTimeout = 20 * time.Second

// start starts a job and makes sure it is over when the test ends, passed
// or not.
func start(t *testing.T, spec Spec, job Job) *Process {
	t.Helper()
	p, err := Start(spec, job)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		select {
		case <-p.Done():
		case <-time.After(waitTimeout):
			t.Errorf("job %d still running at the end of the test", p.PID())
		}
	})
	return p
}

// wait waits for p, failing the test if it takes longer than waitTimeout.
func wait(t *testing.T, p *Process) Result {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(waitTimeout):
		t.Fatalf("job %d still running after %s", p.PID(), waitTimeout)
		return Result{}
	}
}

// run starts a job and waits for it.
func run(t *testing.T, spec Spec, job Job) Result {
	t.Helper()
	return wait(t, start(t, spec, job))
}

// eventually polls cond every few milliseconds until it holds, failing the
// test if it does not within waitTimeout.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{waitTimeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running reports whether pid is a live process: it exists and is not a
// zombie (an orphan killed here may stay a zombie if pid 1 does not reap).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// readPid waits for a file holding a pid and returns the pid.
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, "no pid in %s", path)
	return pid
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	eventually(t, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, "%s never appeared", filepath.Base(path))
}

// sh is a direct-mode Spec running script with /bin/sh -c, in dir.
func sh(script, dir string) Spec {
	return Spec{Command: "/bin/sh -c " + shellQuote(script), Dir: dir}
}

func TestRunning(t *testing.T) {
	t.Parallel()
	require.True(t, running(os.Getpid()))
	require.False(t, running(1<<22+12345), "a pid above pid_max cannot be running")
}
