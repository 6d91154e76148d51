package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hostile values for targets and slots: each would run something, add an
// argument or change the command if it were not substituted safely.
var hostileValues = []string{
	"a b; touch pwned",
	"$(touch pwned)",
	"`touch pwned`",
	"'; touch pwned; '",
	`"; touch pwned; "`,
	`' "$(touch pwned)" '`,
	"x\ntouch pwned\n",
	"'\n touch pwned \n'",
	"\xff'; touch pwned; '",
	"\r\n;touch pwned #",
	"|| touch pwned &",
	`\`, `\'`, `'`, "*", "~", "-n", "{slot}", "$HOME", "#", "if", "!", "a=b", "%s", "\t",
	"\xff\xfe", "ü", "",
}

func TestDirectModeArguments(t *testing.T) {
	t.Parallel()
	spec := helperSpec(t, `{id} {target} --slot={slot} '{target}' "a b"`)
	for i, v := range hostileValues {
		slot := hostileValues[len(hostileValues)-1-i]
		rep := decodeReport(t, run(t, spec, Job{ID: 42, Target: v, Slot: slot, Attempt: 1}))
		want := [][]byte{[]byte("42"), []byte(v), []byte("--slot=" + slot), []byte(v), []byte("a b")}
		require.Equal(t, want, rep.Args, "target %q slot %q", v, slot)
	}
}

func TestShellModeValuesArriveLiterally(t *testing.T) {
	t.Parallel()
	for i, v := range hostileValues {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			slot := hostileValues[len(hostileValues)-1-i]
			spec := Spec{
				Command: `printf '%s' {target}; printf '|%s|' {slot} x{slot}y; printf '%s' "$JOBD_TARGET"`,
				Shell:   true,
				Dir:     dir,
			}
			r := run(t, spec, Job{ID: 1, Target: v, Slot: slot})
			require.True(t, r.OK(), "stderr: %s", r.Stderr)
			require.Equal(t, v+"|"+slot+"||x"+slot+"y|"+v, string(r.Stdout), "target %q slot %q", v, slot)
			require.Empty(t, r.Stderr)
			require.NoFileExists(t, filepath.Join(dir, "pwned"))
		})
	}
}

func TestEnvironmentAndDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := helperSpec(t, "")
	spec.Dir = dir
	spec.Env = append(spec.Env, "LAUNCH_TEST_EXTRA=x=y", "HOME=/elsewhere", "JOBD_JOB_ID=overridden", "LAUNCH_TEST_TWICE=1", "LAUNCH_TEST_TWICE=2")
	rep := decodeReport(t, run(t, spec, Job{ID: 1234567890123, Target: "tgt", Slot: "", Attempt: 3}))
	require.Empty(t, rep.Args)
	require.Empty(t, rep.Dups, "one entry per name")
	require.Equal(t, "1234567890123", rep.Env["JOBD_JOB_ID"], "the job's variables win over Spec.Env")
	require.Equal(t, "tgt", rep.Env["JOBD_TARGET"])
	require.Contains(t, rep.Env, "JOBD_SLOT")
	require.Empty(t, rep.Env["JOBD_SLOT"])
	require.Equal(t, "3", rep.Env["JOBD_ATTEMPT"])
	require.Equal(t, "x=y", rep.Env["LAUNCH_TEST_EXTRA"])
	require.Equal(t, "2", rep.Env["LAUNCH_TEST_TWICE"], "the last of Spec.Env's entries for a name")
	require.Equal(t, "/elsewhere", rep.Env["HOME"], "Spec.Env wins over jobd's environment")
	require.Equal(t, os.Getenv("PATH"), rep.Env["PATH"], "jobd's environment is passed on")
	want, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	got, err := filepath.EvalSymlinks(rep.Dir)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Without Dir, jobd's own directory.
	spec.Dir = ""
	rep = decodeReport(t, run(t, spec, Job{ID: 1}))
	cwd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, cwd, rep.Dir)
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	r := run(t, sh("echo out; echo err >&2; exit 3", ""), Job{ID: 1})
	require.NotNil(t, r.ExitCode)
	require.Equal(t, 3, *r.ExitCode)
	require.False(t, r.OK())
	require.Empty(t, r.Signal)
	require.False(t, r.TimedOut)
	require.Equal(t, "out\n", string(r.Stdout))
	require.Equal(t, "err\n", string(r.Stderr))
	require.False(t, r.Started.IsZero())
	require.False(t, r.Ended.Before(r.Started))

	r = run(t, Spec{Command: "/bin/true {id}"}, Job{ID: 1})
	require.True(t, r.OK())
	require.Equal(t, 0, *r.ExitCode)
	require.Nil(t, r.Stdout)
	require.Nil(t, r.Stderr)
}

// Stdin is /dev/null, read-only, for every job, also many at once.
func TestStdinIsDevNull(t *testing.T) {
	t.Parallel()
	spec := sh(`readlink /proc/self/fd/0; wc -c; if echo x 2>/dev/null >&0; then echo writable; fi`, "")
	var ps []*Process
	for i := range 5 {
		ps = append(ps, start(t, spec, Job{ID: int64(i + 1)}))
	}
	for _, p := range ps {
		r := wait(t, p)
		require.True(t, r.OK(), "stderr: %s", r.Stderr)
		require.Equal(t, "/dev/null\n0\n", string(r.Stdout))
	}
}

func TestOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p := start(t, sh(`cut -d' ' -f5 /proc/$$/stat; cut -d' ' -f5 /proc/self/stat`, ""), Job{ID: 1})
	r := wait(t, p)
	require.True(t, r.OK(), "stderr: %s", r.Stderr)
	pgid := strconv.Itoa(p.PID())
	require.Equal(t, pgid+"\n"+pgid+"\n", string(r.Stdout), "launcher and its child in the group of the launcher's pid")
	require.NotEqual(t, strconv.Itoa(unix.Getpgrp()), pgid)
}

func TestLeftoverChildrenAreKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := run(t, sh(`sleep 1000 & echo $! >pid; echo started`, dir), Job{ID: 1})
	require.True(t, r.OK(), "stderr: %s", r.Stderr)
	require.Equal(t, "started\n", string(r.Stdout))
	require.Empty(t, r.Stderr)
	pid := readPid(t, filepath.Join(dir, "pid"))
	eventually(t, func() bool { return !running(pid) }, "the background sleep %d still runs", pid)
}

func TestEscapedChildCannotHoldTheJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The sleep leaves the group and keeps the job's stdout and stderr open.
	// The launcher waits until the sleep has its own session (field 6 of
	// /proc/pid/stat): killing the group must not get it first.
	p := start(t, sh(`setsid sleep 1000 & echo $! >pid
		until [ "$(cut -d' ' -f6 /proc/$!/stat)" = "$!" ]; do sleep 0.01; done
		echo started`, dir), Job{ID: 1})
	pid := readPid(t, filepath.Join(dir, "pid"))
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	r := wait(t, p)
	require.True(t, r.OK())
	require.Equal(t, "started\n", string(r.Stdout))
	require.Equal(t, "jobd: stopped reading output 2s after the launcher exited: "+
		"a process outside its process group still held it open\n", string(r.Stderr))
	require.True(t, running(pid), "a process that left the group is not killed")
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := sh(`echo before; sleep 1000 & echo $! >pid; sleep 1000`, dir)
	spec.Timeout = time.Second
	r := run(t, spec, Job{ID: 1})
	require.True(t, r.TimedOut)
	require.Nil(t, r.ExitCode)
	require.Equal(t, "SIGTERM", r.Signal)
	require.Equal(t, "before\n", string(r.Stdout))
	require.Equal(t, "jobd: timed out after 1s; sent SIGTERM to the process group\n", string(r.Stderr))
	pid := readPid(t, filepath.Join(dir, "pid"))
	eventually(t, func() bool { return !running(pid) }, "the background sleep %d still runs", pid)
}

func TestTimeoutThenKILLWhenTERMIsIgnored(t *testing.T) {
	t.Parallel()
	spec := sh(`trap '' TERM; printf partial >&2; sleep 1000`, "")
	spec.Timeout = time.Second // time enough for sh to set the trap first
	spec.KillGrace = 300 * time.Millisecond
	r := run(t, spec, Job{ID: 1})
	require.True(t, r.TimedOut)
	require.Nil(t, r.ExitCode)
	require.Equal(t, "SIGKILL", r.Signal)
	require.Equal(t, "partial\njobd: timed out after 1s; sent SIGTERM to the process group, then SIGKILL after 300ms\n", string(r.Stderr))
	require.GreaterOrEqual(t, r.Ended.Sub(r.Started), 1300*time.Millisecond, "SIGKILL only after the grace")
}

func TestNoTimeoutNote(t *testing.T) {
	t.Parallel()
	spec := sh("echo done", "")
	spec.Timeout = time.Hour
	r := run(t, spec, Job{ID: 1})
	require.True(t, r.OK())
	require.False(t, r.TimedOut)
	require.Nil(t, r.Stderr)
}

func TestStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The launcher's background child says it got SIGTERM too, and the
	// launcher waits for it before exiting with 7.
	// (The launcher sets its trap before it starts the child that says ready.)
	p := start(t, sh(`trap 'wait; echo got TERM; exit 7' TERM
		(trap 'echo child got TERM; exit 0' TERM; touch ready; while :; do sleep 0.01; done) 2>/dev/null &
		wait`, dir), Job{ID: 1})
	waitFile(t, filepath.Join(dir, "ready"))
	p.Stop(waitTimeout)
	r := wait(t, p)
	require.NotNil(t, r.ExitCode, "signal %s", r.Signal)
	require.Equal(t, 7, *r.ExitCode)
	require.False(t, r.TimedOut)
	require.Equal(t, "child got TERM\ngot TERM\n", string(r.Stdout))
	require.Equal(t, "jobd: stopped; sent SIGTERM to the process group\n", string(r.Stderr))
}

func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := sh(`trap '' TERM; touch ready; sleep 1000`, dir)
	spec.KillGrace = time.Hour
	p := start(t, spec, Job{ID: 1})
	waitFile(t, filepath.Join(dir, "ready"))
	p.Stop(0) // the Spec's hour
	p.Stop(time.Hour)
	require.True(t, p.Signal(0), "still running after SIGTERM")
	p.Stop(50 * time.Millisecond) // brings SIGKILL closer
	r := wait(t, p)
	require.Equal(t, "SIGKILL", r.Signal)
	require.Nil(t, r.ExitCode)
	require.False(t, r.TimedOut)
	note, ok := strings.CutPrefix(string(r.Stderr), "jobd: stopped; sent SIGTERM to the process group, then SIGKILL after ")
	require.True(t, ok, "stderr: %q", r.Stderr)
	grace, err := time.ParseDuration(strings.TrimSuffix(note, "\n"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, grace, 50*time.Millisecond)
	require.Less(t, grace, time.Hour)
}

func TestSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Both the launcher and its background child trap USR1; the launcher
	// waits (at most 10s) for the child's word before printing both.
	p := start(t, sh(`trap 'echo launcher >got.l' USR1
		(trap 'echo child >got.c; exit 0' USR1; touch ready; while :; do sleep 0.01; done) 2>/dev/null &
		wait
		i=0; until [ -s got.c ] || [ $i -ge 1000 ]; do sleep 0.01; i=$((i+1)); done
		cat got.l got.c`, dir), Job{ID: 1})
	waitFile(t, filepath.Join(dir, "ready"))
	require.True(t, p.Signal(syscall.SIGUSR1))
	r := wait(t, p)
	require.True(t, r.OK(), "signal %q stderr %s", r.Signal, r.Stderr)
	require.Equal(t, "launcher\nchild\n", string(r.Stdout))
	require.False(t, p.Signal(syscall.SIGUSR1), "after exit")
	require.False(t, p.Signal(0))
	p.Stop(time.Millisecond) // no effect after exit
	require.Equal(t, r, p.Wait())
}

func TestSignalEndsTheJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, sh(`touch ready; sleep 1000`, dir), Job{ID: 1})
	waitFile(t, filepath.Join(dir, "ready"))
	require.True(t, p.Signal(syscall.SIGTERM))
	r := wait(t, p)
	require.Nil(t, r.ExitCode)
	require.Equal(t, "SIGTERM", r.Signal)
	require.False(t, r.OK())
	require.False(t, r.TimedOut)
	require.Nil(t, r.Stderr, "no note: jobd did not end it on its own")
}

// A change to jobd's environment reaches the next launch. (Not parallel:
// t.Setenv.)
func TestEnvironmentChangesReachLaunchers(t *testing.T) {
	spec := helperSpec(t, "")
	require.NotContains(t, decodeReport(t, run(t, spec, Job{ID: 1})).Env, "LAUNCH_TEST_LATER")
	t.Setenv("LAUNCH_TEST_LATER", "set")
	rep := decodeReport(t, run(t, spec, Job{ID: 2}))
	require.Equal(t, "set", rep.Env["LAUNCH_TEST_LATER"])
	require.Empty(t, rep.Dups)
}

// Where the kernel has no pidfds, the launcher is waited for by pid: the same
// results, from the same kinds of ends. (Not parallel: it switches the
// fallback on for the whole package while it runs.)
func TestWaitedForByPidWithoutPidfds(t *testing.T) {
	p := start(t, sh("echo out", ""), Job{ID: 1})
	require.NotNil(t, p.pidfd, "this kernel has pidfds")
	require.True(t, wait(t, p).OK())

	noPidfds.Store(true)
	t.Cleanup(func() { noPidfds.Store(false) })
	dir := t.TempDir()

	p = start(t, sh(`echo out; echo err >&2; sleep 1000 & echo $! >pid; exit 3`, dir), Job{ID: 1})
	require.Nil(t, p.pidfd)
	r := wait(t, p)
	require.NotNil(t, r.ExitCode)
	require.Equal(t, 3, *r.ExitCode)
	require.Equal(t, "out\n", string(r.Stdout))
	require.Equal(t, "err\n", string(r.Stderr))
	pid := readPid(t, filepath.Join(dir, "pid"))
	eventually(t, func() bool { return !running(pid) }, "the background sleep %d still runs", pid)

	spec := sh(`touch ready; sleep 1000`, dir)
	p = start(t, spec, Job{ID: 2})
	waitFile(t, filepath.Join(dir, "ready"))
	require.True(t, p.Signal(syscall.SIGUSR2))
	r = wait(t, p)
	require.Nil(t, r.ExitCode)
	require.Equal(t, "SIGUSR2", r.Signal)

	spec.Timeout = 200 * time.Millisecond
	r = run(t, spec, Job{ID: 3})
	require.True(t, r.TimedOut)
	require.Equal(t, "SIGTERM", r.Signal)
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "launcher.sh")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644))
	for _, tc := range []struct {
		spec Spec
		job  Job
		want string
	}{
		{Spec{Command: "no-such-launcher-xyz /srv/x.php {id}"}, Job{ID: 42},
			`cannot start launcher "no-such-launcher-xyz /srv/x.php 42": exec: "no-such-launcher-xyz": executable file not found in $PATH`},
		{Spec{Command: dir + "/missing {id}"}, Job{ID: 42},
			`cannot start launcher "` + dir + `/missing 42": fork/exec ` + dir + `/missing: no such file or directory`},
		{Spec{Command: notExec + " {id}"}, Job{ID: 42},
			`cannot start launcher "` + notExec + ` 42": fork/exec ` + notExec + `: permission denied`},
		{Spec{Command: "/bin/true {id}", Dir: dir + "/nope"}, Job{ID: 42},
			`cannot start launcher "/bin/true 42" in directory "` + dir + `/nope": stat ` + dir + `/nope: no such file or directory`},
		{Spec{Command: "/bin/true", Dir: notExec}, Job{ID: 42},
			`cannot start launcher "/bin/true" in directory "` + notExec + `": ` + notExec + ` is not a directory`},
		{Spec{Command: "echo hi", Shell: true, Dir: dir + "/nope"}, Job{ID: 42},
			`cannot start launcher "echo hi" in directory "` + dir + `/nope": stat ` + dir + `/nope: no such file or directory`},
		{Spec{Command: "echo {target}", Shell: true, Dir: dir + "/nope"}, Job{ID: 42, Target: "a b"},
			`cannot start launcher "echo 'a b'" in directory "` + dir + `/nope": stat `},
		{Spec{Command: "{slot} {id}"}, Job{ID: 42},
			`cannot start launcher: launcher template "{slot} {id}": the command is empty after substitution`},
		{Spec{Command: "php 'x.php {id}"}, Job{ID: 42},
			`cannot start launcher: launcher template "php 'x.php {id}": 1:5: reached EOF without closing quote`},
		{Spec{Command: `echo "{target}"`, Shell: true}, Job{ID: 42},
			`cannot start launcher: launcher template "echo \"{target}\"": 1:7: {target} cannot be substituted safely here`},
		{Spec{Command: "/bin/echo {target}"}, Job{ID: 42, Target: "a\x00b"},
			`cannot start launcher: target "a\x00b" contains a NUL byte`},
		{Spec{Command: "/bin/echo 'a b' {id}"}, Job{ID: 42, Target: "a\x00b"},
			`cannot start launcher: target "a\x00b" contains a NUL byte`},
	} {
		p, err := Start(tc.spec, tc.job)
		require.Error(t, err, tc.spec.Command)
		require.Nil(t, p)
		require.Contains(t, err.Error(), tc.want)
	}
	// A quoted argument is shown quoted.
	_, err := Start(Spec{Command: `/nonexistent/x 'a b' {target}`}, Job{Target: "it's"})
	require.EqualError(t, err, `cannot start launcher "/nonexistent/x 'a b' \"it's\"": fork/exec /nonexistent/x: no such file or directory`)
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// Not parallel: it counts the file descriptors of the whole process.
func TestNoFDLeak(t *testing.T) {
	dir := t.TempDir()
	run(t, Spec{Command: "/bin/true"}, Job{ID: 1}) // the runtime's own first-use descriptors
	before := openFDs(t)
	for i := range 20 {
		_, err := Start(Spec{Command: "/bin/true", Dir: dir + "/nope"}, Job{ID: int64(i)})
		require.Error(t, err)
		_, err = Start(Spec{Command: dir + "/nope"}, Job{ID: int64(i)})
		require.Error(t, err)
		_, err = Start(Spec{Command: "no-such-launcher-xyz"}, Job{ID: int64(i)})
		require.Error(t, err)
		r := run(t, sh("echo out; echo err >&2", ""), Job{ID: int64(i)})
		require.True(t, r.OK())
	}
	require.Equal(t, before, openFDs(t))
}

// seqBytes is the length of the output of seq 1 n.
func seqBytes(n int) int {
	total := 0
	for digits, lo := 1, 1; lo <= n; digits, lo = digits+1, lo*10 {
		hi := min(n, lo*10-1)
		total += (hi - lo + 1) * (digits + 1)
	}
	return total
}

// Not parallel: it measures the memory of the whole process.
func TestHugeOutputIsCapped(t *testing.T) {
	const lines = 25_000_000 // about 214 MB on stdout
	const zeros = 200 << 20  // on stderr at the same time
	outBytes := seqBytes(lines)
	require.Greater(t, outBytes, 200<<20)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := run(t, sh(fmt.Sprintf("seq 1 %d & head -c %d /dev/zero >&2; wait", lines, zeros), ""), Job{ID: 1})
	runtime.GC()
	runtime.ReadMemStats(&after)

	require.True(t, r.OK(), "stderr tail: %q", r.Stderr[max(0, len(r.Stderr)-200):])
	const half = DefaultMaxOutput / 2
	note := fmt.Sprintf("\n[jobd: %d bytes omitted here; %d bytes of output, over the cap of %d; kept the first %d and the last %d]\n",
		outBytes-DefaultMaxOutput, outBytes, DefaultMaxOutput, half, half)
	require.Len(t, r.Stdout, DefaultMaxOutput+len(note))
	require.Equal(t, note, string(r.Stdout[half:half+len(note)]))
	require.True(t, strings.HasPrefix(string(r.Stdout), "1\n2\n3\n"))
	require.True(t, strings.HasSuffix(string(r.Stdout), fmt.Sprintf("\n%d\n%d\n", lines-1, lines)))

	note = fmt.Sprintf("\n[jobd: %d bytes omitted here; %d bytes of output, over the cap of %d; kept the first %d and the last %d]\n",
		zeros-DefaultMaxOutput, zeros, DefaultMaxOutput, half, half)
	require.Len(t, r.Stderr, DefaultMaxOutput+len(note))
	require.Equal(t, note, string(r.Stderr[half:half+len(note)]))
	require.Equal(t, strings.Repeat("\x00", half), string(r.Stderr[:half]))

	// Both buffers grow by doubling to 1 MiB: a few MiB allocated in all,
	// where keeping everything would take over 400 MiB.
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20), "allocated")
	require.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(16<<20), "heap grew")
}

func TestBothStreamsReadConcurrently(t *testing.T) {
	t.Parallel()
	// Far more than a pipe holds on stderr before anything on stdout: reading
	// stdout first would never finish.
	r := run(t, sh("head -c 1000000 /dev/zero >&2; echo out; head -c 1000000 /dev/zero; echo err >&2", ""), Job{ID: 1})
	require.True(t, r.OK())
	require.Len(t, r.Stdout, 4+1000000)
	require.Len(t, r.Stderr, 1000000+4)
	require.Equal(t, "out\n", string(r.Stdout[:4]))
	require.Equal(t, "err\n", string(r.Stderr[1000000:]))
}

func TestOutputIsRaw(t *testing.T) {
	t.Parallel()
	r := run(t, sh(`printf 'a\377\376\000b\303(\n'; printf '\000\377' >&2`, ""), Job{ID: 1})
	require.True(t, r.OK())
	require.Equal(t, []byte("a\xff\xfe\x00b\xc3(\n"), r.Stdout)
	require.Equal(t, []byte("\x00\xff"), r.Stderr)
}

func TestSmallCap(t *testing.T) {
	t.Parallel()
	spec := sh("seq 1 1000; seq 1 3 >&2", "")
	spec.MaxOutput = 20
	r := run(t, spec, Job{ID: 1})
	require.True(t, r.OK())
	out := seqBytes(1000)
	require.Equal(t, fmt.Sprintf("1\n2\n3\n4\n5\n\n[jobd: %d bytes omitted here; %d bytes of output, over the cap of 20; kept the first 10 and the last 10]\n\n999\n1000\n",
		out-20, out), string(r.Stdout))
	require.Equal(t, "1\n2\n3\n", string(r.Stderr))
}

// Not parallel: it checks that this process has no child left at all.
func TestManyJobsAtOnce(t *testing.T) {
	const jobs = 200
	var wg sync.WaitGroup
	results := make([]Result, jobs)
	errs := make([]error, jobs)
	for i := range jobs {
		wg.Go(func() {
			p, err := Start(Spec{Command: "/bin/echo {id} {target}"}, Job{ID: int64(i), Target: "t"})
			if err != nil {
				errs[i] = err
				return
			}
			results[i] = p.Wait()
		})
	}
	wg.Wait()
	for i := range jobs {
		require.NoError(t, errs[i])
		require.True(t, results[i].OK())
		require.Equal(t, fmt.Sprintf("%d t\n", i), string(results[i].Stdout))
	}
	// Every child was reaped: no child, not even a zombie (WNOWAIT leaves
	// any it finds alone).
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	require.ErrorIs(t, err, unix.ECHILD)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, sh(`trap 'exit 5' TERM; sleep 1000 & touch ready; wait`, dir), Job{ID: 1})
	waitFile(t, filepath.Join(dir, "ready"))
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		wg.Go(func() {
			p.Signal(0)
			_ = p.PID()
			if i%2 == 0 {
				p.Stop(time.Duration(i+1) * time.Second)
			}
			p.Signal(0) // racing with the exit
			results[i] = p.Wait()
			<-p.Done()
		})
	}
	wg.Wait()
	require.NotNil(t, results[0].ExitCode)
	require.Equal(t, 5, *results[0].ExitCode)
	for _, r := range results {
		require.Equal(t, results[0], r)
		require.Same(t, results[0].ExitCode, r.ExitCode, "the same Result every time")
	}
}

// setLateReaders turns the starting of readers after the fact off or on.
func setLateReaders(on bool) {
	lazyReaders.mu.Lock()
	lazyReaders.off = !on
	lazyReaders.mu.Unlock()
}

// Not parallel: it turns off the starting of readers after the fact, which
// only tests do, while no other job runs. A launcher that runs longer than
// readersAfter has its output read as it comes; with that off, its output
// waits in the pipes and is read after the exit, without reader goroutines.
// Either way all of it is kept, on both streams.
func TestOutputReadAfterExitOrAsItComes(t *testing.T) {
	defer setLateReaders(true)
	script := "head -c 3000 /dev/zero | tr '\\0' o; sleep 0.3; head -c 2000 /dev/zero | tr '\\0' e >&2"
	for _, late := range []bool{false, true} {
		setLateReaders(late)
		p := start(t, sh(script, ""), Job{ID: 1})
		r := wait(t, p)
		require.True(t, r.OK())
		require.Equal(t, strings.Repeat("o", 3000), string(r.Stdout))
		require.Equal(t, strings.Repeat("e", 2000), string(r.Stderr))
		require.Equal(t, late, p.outR != nil, "readers started after the fact")
	}
	// More than a pipe holds, before any reader: the launcher waits for
	// them, then goes on.
	r := run(t, sh("head -c 300000 /dev/zero >&2; echo done", ""), Job{ID: 1})
	require.True(t, r.OK())
	require.Len(t, r.Stderr, 300000)
	require.Equal(t, "done\n", string(r.Stdout))
}

func TestRun(t *testing.T) {
	t.Parallel()
	waited := make(chan Result, 1)
	r, err := Run(sh("echo out; echo err >&2; exit 3", ""), Job{ID: 1}, func(p *Process) {
		require.NotZero(t, p.PID())
		go func() { waited <- p.Wait() }()
	})
	require.NoError(t, err)
	require.NotNil(t, r.ExitCode)
	require.Equal(t, 3, *r.ExitCode)
	require.Equal(t, "out\n", string(r.Stdout))
	require.Equal(t, "err\n", string(r.Stderr))
	require.Equal(t, r, <-waited, "Wait from another goroutine gets the same result")

	_, err = Run(Spec{Command: "/nonexistent/launcher"}, Job{ID: 1}, func(*Process) { t.Error("started called for a launcher that did not start") })
	require.ErrorContains(t, err, "/nonexistent/launcher")
}
