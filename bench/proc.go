package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a jobd or jobd-master process started by the harness from a
// generated config, with its log read for the "started" line.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // where it listens, from its "started" log line

	exited  chan struct{}
	mu      sync.Mutex
	exitErr error
	tail    []string // the last lines of its log, for error messages
}

// startProc writes config to DIR/name.toml, starts bin with it and waits
// until its JSON log says readyMsg (with the listen address). env is added
// to the harness's environment.
func (e *env) startProc(name, bin, config, readyMsg string, env ...string) (*proc, error) {
	path := filepath.Join(e.tmp, name+".toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so a Ctrl-C reaches only the harness, which
	// stops it; killed if the harness dies without doing so.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			p.keep(line)
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == readyMsg {
				select {
				case ready <- rec.Listen:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited at start (%v):\n%s", name, p.err(), p.log())
	case <-time.After(time.Minute):
		p.kill()
		return nil, fmt.Errorf("%s did not start within a minute:\n%s", name, p.log())
	}
}

func (p *proc) keep(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > 40 {
		p.tail = p.tail[len(p.tail)-40:]
	}
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *proc) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits for the process to exit (SIGKILL after a
// minute). It returns an error when the exit was not clean.
func (p *proc) stop() error {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			p.kill()
			return fmt.Errorf("%s did not stop within a minute of SIGTERM", p.name)
		}
	}
	if err := p.err(); err != nil {
		return fmt.Errorf("%s: %v:\n%s", p.name, err, p.log())
	}
	return nil
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// procMem is a process's resident set, now and at its peak, in bytes.
type procMem struct{ RSS, HWM int64 }

// readMem reads VmRSS and VmHWM from /proc/PID/status.
func readMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "VmHWM:":
			m.HWM = kb << 10
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return m, nil
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ), 100 on Linux.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system) a process has used so far, and
// that of its children it has waited for (its launchers).
func cpuTime(pid int) (self, children time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it are
	// plain: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * clockTick
	}
	return tick(11) + tick(12), tick(13) + tick(14), nil
}

// stop stops a process, reporting an unclean exit as a warning: the
// measurement it served is complete.
func (e *env) stop(p *proc) {
	if err := p.stop(); err != nil {
		e.progress("warning: %v", err)
	}
}

// cpuTotals reads the machine's CPU time from /proc/stat: all of it, and the
// part spent idle (idle + iowait), in ticks.
func cpuTotals() (total, idle int64, err error) {
	line, _, _ := strings.Cut(readFile("/proc/stat"), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: unexpected format")
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user … steal; guest time is already in user
			total += n
		}
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total, idle, nil
}
