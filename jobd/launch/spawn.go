package launch

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A launch is what os/exec would do, done with less: jobd starts a process
// for every job, and at a thousand jobs a second what a launch costs jobd is
// a fifth of its CPU. The differences that matter:
//
//   - The exit is waited for on a pidfd registered with Go's poller, so a
//     running job parks a goroutine, not a thread blocked in waitid. A thread
//     per running job, woken at every exit and handed back its P, cost more
//     than the fork itself.
//   - The child's ends of the pipes are plain descriptors, closed once it has
//     started. jobd's ends stay out of the poller, with no goroutine reading
//     them, unless the launcher runs longer than readersAfter (10 ms; one
//     goroutine checks for those, see lazyReaders): most jobs' output is
//     read after their exit by the goroutine that waited for it.
//   - The output is read straight into the capture; reading stops at a read
//     deadline (drainDelay after the exit) instead of a WaitDelay timer.
//
// Kernels without pidfds (before 5.4) get the same behaviour from a blocking
// waitid by pid.

// siginfoChild is the part of siginfo_t that waitid fills in for a child
// (Linux, every architecture Go supports): x/sys/unix.Siginfo keeps those
// fields in padding.
type siginfoChild struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	Uid    uint32
	Status int32
	_      [100]byte
}

// si_code values of a child that ended.
const (
	cldExited = 1 // CLD_EXITED: Status is the exit code
	cldKilled = 2 // CLD_KILLED: Status is the signal
	cldDumped = 3 // CLD_DUMPED: killed by Status, and dumped core
)

// waitid is the system call, with the child's fields of siginfo_t.
func waitid(idtype int, id int, info *siginfoChild, options int) error {
	for {
		_, _, e := unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id), uintptr(unsafe.Pointer(info)), uintptr(options), 0, 0)
		if e != unix.EINTR {
			if e != 0 {
				return e
			}
			return nil
		}
	}
}

// pidfdsWork reports whether this kernel gives pidfds that waitid accepts
// (CLONE_PIDFD is 5.2, waitid(P_PIDFD) 5.4).
var pidfdsWork = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	// Not our child: ECHILD if P_PIDFD is known, EINVAL if not.
	var info siginfoChild
	return waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG) == unix.ECHILD
})

// noPidfds makes forkExec wait by pid even where pidfds work (tests of the
// fallback).
var noPidfds atomic.Bool

// outputPipe makes a pipe for one of the launcher's streams: the read end,
// non-blocking (read at once after the exit, or put in the poller by
// startReaders, where a read deadline can stop it), and the write end for the
// child, blocking.
func outputPipe() (r, w int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return -1, -1, os.NewSyscallError("fcntl", err)
	}
	return fds[0], fds[1], nil
}

// lookPath finds a command named without a slash in jobd's PATH, as a shell
// or os/exec would; a name with a slash is used as it is (relative to Dir).
// Its errors are os/exec's, which name the command.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	return exec.LookPath(name)
}

// forkExec starts path with argv, env and dir, stdin from stdin and stdout
// and stderr to the given descriptors, as the leader of a new process group.
// It returns the pid and, where the kernel has them, a pidfd (else nil).
// Its error is os.StartProcess's: "fork/exec <path>: <errno>".
func forkExec(path string, argv, env []string, dir string, stdin, stdout, stderr int) (int, *os.File, error) {
	pidfd := -1
	sys := &syscall.SysProcAttr{Setpgid: true}
	if pidfdsWork() && !noPidfds.Load() {
		sys.PidFD = &pidfd
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(stdin), uintptr(stdout), uintptr(stderr)},
		Sys:   sys,
	})
	if err != nil {
		return 0, nil, &os.PathError{Op: "fork/exec", Path: path, Err: err}
	}
	if pidfd < 0 {
		return pid, nil, nil
	}
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.Close(pidfd)
		return pid, nil, nil // waited for by pid instead
	}
	return pid, os.NewFile(uintptr(pidfd), "pidfd"), nil
}

// errNoExit says waitid reported no child that ended, which it only does
// when something else reaped the launcher (SIGCHLD set to SIG_IGN).
var errNoExit = errors.New("no exit status")

// waitExited blocks until the launcher has exited, without reaping it.
func (p *Process) waitExited() error {
	var info siginfoChild
	if p.pidfd == nil {
		return waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT)
	}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		info = siginfoChild{}
		werr = waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG)
		return werr != nil || info.Pid != 0 // else not yet: wait until the pidfd is readable
	})
	if err != nil {
		return err
	}
	return werr
}

// reap collects the exited launcher's status: its exit code, or the signal
// that ended it.
func (p *Process) reap() (code int, sig syscall.Signal, err error) {
	var info siginfoChild
	if p.pidfd == nil {
		err = waitid(unix.P_PID, p.pid, &info, unix.WEXITED)
	} else if rc, cerr := p.pidfd.SyscallConn(); cerr != nil {
		err = cerr
	} else if cerr := rc.Control(func(fd uintptr) {
		err = waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG)
	}); cerr != nil {
		err = cerr
	}
	switch {
	case err != nil:
		return 0, 0, err
	case info.Pid == 0:
		return 0, 0, errNoExit
	case info.Code == cldExited:
		return int(info.Status), 0, nil
	case info.Code == cldKilled || info.Code == cldDumped:
		return 0, syscall.Signal(info.Status), nil
	}
	return 0, 0, errNoExit
}
