package jobdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a daemon process under test.
type Proc struct {
	t      testing.TB
	Name   string // for messages
	bin    string
	args   []string
	Config string // path of its config file

	mu       sync.Mutex
	cmd      *exec.Cmd
	lines    []string // its log (stderr), line by line
	addr     string
	started  chan struct{} // closed when the "started" line is seen
	exited   chan struct{}
	exitErr  error
	readyMsg string
}

// Start starts the process and waits until its log says it started
// (readyMsg, e.g. "jobd started"), learning its listen address from it.
func (p *Proc) Start() {
	p.t.Helper()
	if err := p.Begin()(); err != nil {
		p.t.Fatal(err)
	}
}

// Begin starts the process and returns at once; the returned function waits
// until it has started (or failed to). A jobd waiting for its database
// (mysql.wait_at_start) is started this way.
func (p *Proc) Begin() (await func() error) {
	p.t.Helper()
	started, exited, err := p.begin()
	if err != nil {
		p.t.Fatal(err)
	}
	return func() error {
		select {
		case <-started:
			return nil
		case <-exited:
			p.mu.Lock()
			err := p.exitErr
			p.mu.Unlock()
			return fmt.Errorf("%s exited at start (%v):\n%s", p.Name, err, p.Logs())
		case <-time.After(2 * time.Minute):
			p.Kill()
			return fmt.Errorf("%s did not start within 2 minutes:\n%s", p.Name, p.Logs())
		}
	}
}

func (p *Proc) begin() (started, exited chan struct{}, err error) {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	started, exited = make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	p.cmd, p.started, p.exited, p.addr, p.exitErr = cmd, started, exited, "", nil
	p.mu.Unlock()
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == p.readyMsg {
				if addr, ok := rec["listen"].(string); ok {
					p.mu.Lock()
					p.addr = addr
					p.mu.Unlock()
				}
				once.Do(func() { close(started) })
			}
		}
	}()
	go func() {
		<-scanDone
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	return started, exited, nil
}

// Addr is the address the process listens on.
func (p *Proc) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// PID is the process id.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Logs returns its log so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// LogContains reports whether a log line contains s.
func (p *Proc) LogContains(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.Name, err)
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Wait waits up to d for the process to exit and returns its exit code.
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s:\n%s", p.Name, d, p.Logs())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return exitCode(p.exitErr)
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Proc) Stop() int {
	p.t.Helper()
	select {
	case <-p.Exited():
	default:
		p.Signal(syscall.SIGTERM)
	}
	return p.Wait(2 * time.Minute)
}

// Kill kills the process with SIGKILL (its job processes live on, as after
// a crash) and waits for it.
func (p *Proc) Kill() {
	p.t.Helper()
	select {
	case <-p.Exited():
		return
	default:
	}
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	_ = cmd.Process.Kill()
	p.Wait(time.Minute)
}

// Restart starts the process again with the same arguments.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Start()
}

func (p *Proc) cleanup() {
	select {
	case <-p.Exited():
	default:
		p.mu.Lock()
		cmd := p.cmd
		p.mu.Unlock()
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.Exited()
		}
	}
	if p.t.Failed() {
		p.t.Logf("--- log of %s ---\n%s", p.Name, p.Logs())
	}
}

// newProc prepares a Proc running bin with a config file of the given text.
func newProc(t testing.TB, name, bin, configText, readyMsg string, extraArgs ...string) *Proc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, Name: name, bin: bin, Config: path, readyMsg: readyMsg,
		args: append([]string{"--config", path}, extraArgs...)}
	t.Cleanup(p.cleanup)
	return p
}
