package launch

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// drainDelay bounds how long output is read after the launcher has exited
// and its group has been killed: only a process that left the group can still
// hold the pipes then.
const drainDelay = 2 * time.Second

// readersAfter is how long a launcher may run before its output is read as
// it comes. Most jobs end sooner: their output waits in the pipes and is read
// once they have exited, by the goroutine that waited for the exit, without
// a reader goroutine per stream or the pipes in the poller. A launcher that
// fills a pipe before then (64 KiB, on Linux) waits at most twice this long.
const readersAfter = 10 * time.Millisecond

// lazyReaders starts the readers of launchers that have run for
// readersAfter: one goroutine, while such launchers may run, looks every
// readersAfter at those started since its last look (in start order), rather
// than a timer per job.
var lazyReaders struct {
	mu      sync.Mutex
	queue   []*Process // launched without readers, in start order
	running bool       // the goroutine that looks at them runs
	off     bool       // tests: start no reader after the fact
}

// watchReaders queues a launcher started without readers.
func watchReaders(p *Process) {
	lazyReaders.mu.Lock()
	defer lazyReaders.mu.Unlock()
	lazyReaders.queue = append(lazyReaders.queue, p)
	if !lazyReaders.running {
		lazyReaders.running = true
		go startLateReaders()
	}
}

// startLateReaders runs while launchers are queued: every readersAfter it
// starts the readers of those that have run that long and still run, and
// forgets them.
func startLateReaders() {
	for {
		time.Sleep(readersAfter)
		lazyReaders.mu.Lock()
		now := time.Now()
		q := lazyReaders.queue
		i := 0
		for ; i < len(q) && now.Sub(q[i].result.Started) >= readersAfter; i++ {
			if !lazyReaders.off {
				q[i].readersIfRunning()
			}
		}
		clear(q[:i])
		lazyReaders.queue = append(q[:0], q[i:]...)
		if len(lazyReaders.queue) == 0 {
			lazyReaders.running = false
			lazyReaders.mu.Unlock()
			return
		}
		lazyReaders.mu.Unlock()
	}
}

// readersIfRunning starts the readers unless the launcher has exited (then
// supervise reads what is left) or they run already.
func (p *Process) readersIfRunning() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited && p.outR == nil {
		p.startReaders()
	}
}

// Result is the outcome of a job's process.
type Result struct {
	ExitCode *int   // nil when the process was ended by a signal
	Signal   string // "SIGTERM", "SIGKILL", … name of the signal that ended it; "" when it exited
	Stdout   []byte // captured, capped; raw bytes, not sanitised
	Stderr   []byte // same, plus jobd's notes (timeout, stop) appended on a line of their own
	TimedOut bool
	Started  time.Time
	Ended    time.Time // when the launcher's exit was seen
}

// OK reports whether the process exited with code 0.
func (r Result) OK() bool { return r.ExitCode != nil && *r.ExitCode == 0 }

// Why the group was sent SIGTERM.
const (
	endNone = iota
	endTimeout
	endStop
)

// Process is a started job. Its methods are safe for concurrent use.
type Process struct {
	pid     int
	pidfd   *os.File // nil where the kernel has no pidfds: then waited for by pid
	timeout time.Duration
	grace   time.Duration // Spec.KillGrace, defaulted
	done    chan struct{}
	result  Result // set before done is closed

	stdout, stderr capture
	outFd, errFd   int        // the parent's ends of the pipes, non-blocking
	outR, errR     *os.File   // the same, in the poller, once readers started
	reading        chan error // each reader sends how its stream ended

	mu        sync.Mutex
	exited    bool // the launcher has exited (maybe not reaped yet): signal nothing
	why       int  // endNone, endTimeout or endStop
	termAt    time.Time
	killAt    time.Time // when SIGKILL is due, once why != endNone
	killed    bool      // SIGKILL was sent by the kill timer
	deadline  *time.Timer
	killTimer *time.Timer
}

// devNull is /dev/null opened once for every launcher's stdin, instead of
// once per job.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// Start launches the job. A non-nil error means it could not start at all
// (template error, command not found, not executable, bad working directory,
// a NUL byte in a value); its message names the command, and the directory
// when one is set.
func Start(spec Spec, job Job) (*Process, error) {
	p, err := startProcess(spec, job)
	if err != nil {
		return nil, err
	}
	go p.supervise()
	return p, nil
}

// Run is Start, then Wait, in the caller's goroutine: the process is
// supervised there rather than in a goroutine of its own. started, when not
// nil, is called with the process once it runs and before it is waited for;
// other goroutines may use the process as they would one from Start.
func Run(spec Spec, job Job, started func(*Process)) (Result, error) {
	p, err := startProcess(spec, job)
	if err != nil {
		return Result{}, err
	}
	if started != nil {
		started(p)
	}
	p.supervise()
	return p.result, nil
}

// startProcess starts the launcher; the caller supervises it.
func startProcess(spec Spec, job Job) (*Process, error) {
	argv, err := spec.argv(job)
	if err != nil {
		return nil, fmt.Errorf("cannot start launcher: %w", err)
	}
	path, err := lookPath(argv[0])
	if err != nil {
		return nil, startError(spec, argv, err)
	}
	stdin, err := devNull()
	if err != nil {
		return nil, startError(spec, argv, err)
	}
	p := &Process{
		timeout: spec.Timeout,
		grace:   spec.killGrace(),
		done:    make(chan struct{}),
		reading: make(chan error, 2),
	}
	p.stdout.init(spec.maxOutput())
	p.stderr.init(spec.maxOutput())
	var outW, errW int
	if p.outFd, outW, err = outputPipe(); err != nil {
		return nil, startError(spec, argv, err)
	}
	if p.errFd, errW, err = outputPipe(); err != nil {
		unix.Close(p.outFd)
		unix.Close(outW)
		return nil, startError(spec, argv, err)
	}
	p.result.Started = time.Now()
	p.pid, p.pidfd, err = forkExec(path, argv, spec.environ(job), spec.Dir, int(stdin.Fd()), outW, errW)
	unix.Close(outW)
	unix.Close(errW)
	if err != nil {
		unix.Close(p.outFd)
		unix.Close(p.errFd)
		return nil, startError(spec, argv, err)
	}
	if spec.Timeout > 0 {
		p.mu.Lock()
		p.deadline = time.AfterFunc(spec.Timeout, p.timedOut)
		p.mu.Unlock()
	}
	if p.pidfd == nil {
		// Waited for by a blocking waitid, in a goroutine that cannot read
		// anything before the exit: read the output as it comes from the
		// start.
		p.startReaders()
	} else {
		watchReaders(p)
	}
	return p, nil
}

// startReaders puts the pipes in the poller and reads each stream, as it
// comes, into its capture. Called once, before anything else reads them:
// at the start, or with p.mu held before the exit is noted, or by supervise
// after it.
func (p *Process) startReaders() {
	p.outR = os.NewFile(uintptr(p.outFd), "|0")
	p.errR = os.NewFile(uintptr(p.errFd), "|0")
	go p.read(&p.stdout, p.outR)
	go p.read(&p.stderr, p.errR)
}

// read copies one of the launcher's streams into its capture until EOF, or
// until the read deadline that supervise sets when the launcher has exited.
func (p *Process) read(c *capture, r *os.File) {
	_, err := c.ReadFrom(r)
	p.reading <- err
}

// readNow reads what a pipe holds into c without waiting: eof reports that
// every writer has closed it, err a failed read.
func readNow(c *capture, fd int) (eof bool, err error) {
	for {
		n, err := unix.Read(fd, c.space())
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false, nil
		case err != nil:
			return false, os.NewSyscallError("read", err)
		case n == 0:
			return true, nil
		default:
			c.commit(n)
		}
	}
}

// startError says what could not be started, where, and why. When a working
// directory is set and unusable it says so: the child's failed chdir comes
// back from exec as "fork/exec <command>: no such file or directory", which
// reads as if the command were missing.
func startError(spec Spec, argv []string, err error) error {
	what := "cannot start launcher " + strconv.Quote(displayArgv(spec.Shell, argv))
	if spec.Dir == "" {
		return fmt.Errorf("%s: %w", what, err)
	}
	what += " in directory " + strconv.Quote(spec.Dir)
	if st, serr := os.Stat(spec.Dir); serr != nil {
		return fmt.Errorf("%s: %w", what, serr)
	} else if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", what, spec.Dir)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// displayArgv is argv as a command line: the script alone in shell mode,
// otherwise the words, quoted where needed.
func displayArgv(shell bool, argv []string) string {
	if shell {
		return argv[len(argv)-1]
	}
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if needsQuotes(a) {
			b.WriteString(shellQuote(a))
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// needsQuotes reports whether a must be quoted to be read back as one word.
func needsQuotes(a string) bool {
	for i := 0; i < len(a); i++ {
		if c := a[i]; !isPlainByte(c) || c == '{' || c == '}' {
			return true
		}
	}
	return a == ""
}

// PID is the launcher's process id, which is also its process group id.
func (p *Process) PID() int { return p.pid }

// Done is closed when the process has ended and Wait will not block.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the job has ended and returns the result (the same value,
// sharing the same byte slices, on every call).
func (p *Process) Wait() Result {
	<-p.done
	return p.result
}

// Signal sends sig to the job's whole process group. It reports whether the
// signal was delivered to a live process: false once the launcher has exited.
func (p *Process) Signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exited && unix.Kill(-p.pid, sig) == nil
}

// Stop ends the job early (jobd shutting down): SIGTERM to the group now,
// SIGKILL after grace if the launcher still runs; grace <= 0 means the Spec's
// KillGrace. It returns at once; Wait reports the outcome. Stopping a job that
// is already being stopped or timed out can only bring SIGKILL closer.
func (p *Process) Stop(grace time.Duration) {
	if grace <= 0 {
		grace = p.grace
	}
	p.terminate(endStop, grace)
}

// timedOut runs when the timeout expires.
func (p *Process) timedOut() { p.terminate(endTimeout, p.grace) }

// terminate sends SIGTERM to the group, the first time, and makes sure
// SIGKILL follows within grace.
func (p *Process) terminate(why int, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	now := time.Now()
	if p.why == endNone {
		p.why, p.termAt, p.killAt = why, now, now.Add(grace)
		_ = unix.Kill(-p.pid, unix.SIGTERM)
		p.killTimer = time.AfterFunc(grace, p.kill)
		return
	}
	if !p.killed && now.Add(grace).Before(p.killAt) {
		p.killAt = now.Add(grace)
		p.killTimer.Reset(grace)
	}
}

// kill sends SIGKILL to the group when the grace after SIGTERM is over.
func (p *Process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || p.killed {
		return
	}
	p.killed = true
	_ = unix.Kill(-p.pid, unix.SIGKILL)
}

// supervise waits for the launcher to exit, kills what is left of its group,
// reaps it, waits for the output and publishes the result.
func (p *Process) supervise() {
	// Wait for the exit without reaping: the zombie keeps the pid, and with
	// it the group id, from being reused while the group is killed.
	err := p.waitExited()
	ended := time.Now()

	p.mu.Lock()
	p.exited = true
	if err == nil {
		_ = unix.Kill(-p.pid, unix.SIGKILL)
	}
	if p.deadline != nil {
		p.deadline.Stop()
	}
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	why, killed, grace := p.why, p.killed, p.killAt.Sub(p.termAt)
	p.mu.Unlock()

	code, sig, rerr := p.reap()
	if p.pidfd != nil {
		p.pidfd.Close()
	}
	cut, readErr := p.collectOutput(ended)

	r := &p.result
	r.Ended = ended
	r.TimedOut = why == endTimeout
	r.Stdout = p.stdout.bytes()
	r.Stderr = p.stderr.bytes()
	switch {
	case rerr != nil:
		// Only if something else reaped it (SIGCHLD ignored?): no exit status.
		r.Stderr = appendNote(r.Stderr, fmt.Sprintf("jobd: cannot wait for the launcher: %v", rerr))
	case sig != 0:
		if r.Signal = SignalName(sig); r.Signal == "" {
			r.Signal = "signal " + strconv.Itoa(int(sig))
		}
	default:
		r.ExitCode = &code
	}
	if readErr != nil {
		r.Stderr = appendNote(r.Stderr, fmt.Sprintf("jobd: cannot read the launcher's output: %v", readErr))
	}
	if cut {
		r.Stderr = appendNote(r.Stderr, fmt.Sprintf("jobd: stopped reading output %s after the launcher exited: "+
			"a process outside its process group still held it open", drainDelay))
	}
	switch why {
	case endTimeout:
		r.Stderr = appendNote(r.Stderr, terminationNote(fmt.Sprintf("timed out after %s", p.timeout), killed, grace))
	case endStop:
		r.Stderr = appendNote(r.Stderr, terminationNote("stopped", killed, grace))
	}
	close(p.done)
}

// collectOutput reads the rest of the output once the launcher has exited and
// its group was killed, and closes the pipes. Without readers yet, what the
// pipes hold is read at once; only when a pipe is still open for writing (a
// process of the group not dead yet, or one that left the group) are readers
// started. The pipes reach EOF at once unless a process that left the group
// holds them: reading stops drainDelay after the exit (cut).
func (p *Process) collectOutput(ended time.Time) (cut bool, readErr error) {
	if p.outR == nil {
		outEOF, err := readNow(&p.stdout, p.outFd)
		errEOF, err2 := readNow(&p.stderr, p.errFd)
		if err == nil {
			err = err2
		}
		if err != nil || (outEOF && errEOF) {
			unix.Close(p.outFd)
			unix.Close(p.errFd)
			return false, err
		}
		p.startReaders()
	}
	deadlineSet := false
	for range 2 {
		var err error
		select {
		case err = <-p.reading:
		default:
			if !deadlineSet {
				deadline := ended.Add(drainDelay)
				_ = p.outR.SetReadDeadline(deadline)
				_ = p.errR.SetReadDeadline(deadline)
				deadlineSet = true
			}
			err = <-p.reading
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			cut = true
		} else if err != nil {
			readErr = err
		}
	}
	p.outR.Close()
	p.errR.Close()
	return cut, readErr
}

func terminationNote(what string, killed bool, grace time.Duration) string {
	note := "jobd: " + what + "; sent SIGTERM to the process group"
	if killed {
		note += ", then SIGKILL after " + grace.Round(time.Millisecond).String()
	}
	return note
}

// appendNote adds a line of jobd's to captured stderr, on a line of its own.
func appendNote(b []byte, note string) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	b = append(b, note...)
	return append(b, '\n')
}
