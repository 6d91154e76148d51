package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobd/jobd/store/storetest"
)

// env is what every measurement shares: the binaries built from the
// checkout, the private MariaDB, a temporary directory.
type env struct {
	opt  options
	root string // the module's root directory
	tmp  string

	jobdBin, masterBin, stampBin string

	srv       *storetest.Server
	admin     *sql.DB // no database selected: server status, version
	mysqldPID int
	dbVersion string

	progress func(format string, args ...any)
}

// serverArgs are the private MariaDB's options on top of storetest's. The
// durability is MariaDB's default (storetest trades it for speed), as in the
// original jobd's figures; the buffer pool holds the million-row table.
var serverArgs = []string{"--innodb-flush-log-at-trx-commit=1", "--innodb-buffer-pool-size=1G"}

// setup builds the binaries and starts the database. The caller closes env.
func setup(ctx context.Context, opt options, progress func(string, ...any)) (*env, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "jobd-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{opt: opt, root: root, tmp: tmp, progress: progress}
	progress("building jobd, jobd-master and the stamp launcher (no -race)")
	if err := e.build(ctx); err != nil {
		e.close()
		return nil, err
	}
	args := append(slices.Clip(serverArgs), strings.Fields(opt.serverArgs)...)
	progress("starting a private MariaDB (%s)", strings.Join(args, " "))
	e.srv, err = storetest.StartServer(storetest.ServerOptions{Args: args})
	if err != nil {
		e.close()
		return nil, err
	}
	if e.admin, err = openSQL(e.srv.DSN("")); err != nil {
		e.close()
		return nil, err
	}
	if err := e.inspectServer(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.admin != nil {
		e.admin.Close()
	}
	if e.srv != nil {
		_ = e.srv.Close()
	}
	if e.opt.keep {
		e.progress("kept %s", e.tmp)
		return
	}
	os.RemoveAll(e.tmp)
}

func (e *env) build(ctx context.Context) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("the go command is not in PATH (make bench adds /usr/local/go/bin)")
	}
	bin := filepath.Join(e.tmp, "bin")
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin+"/", "./cmd/jobd", "./cmd/jobd-master", "./bench/stamp")
	cmd.Dir = e.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	e.jobdBin = filepath.Join(bin, "jobd")
	e.masterBin = filepath.Join(bin, "jobd-master")
	e.stampBin = filepath.Join(bin, "stamp")
	return nil
}

// inspectServer learns the server's version and its process id (to read
// its CPU time).
func (e *env) inspectServer(ctx context.Context) error {
	if err := e.admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&e.dbVersion); err != nil {
		return err
	}
	var pidFile string
	if err := e.admin.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err != nil {
		return err
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("reading mariadbd's pid: %w", err)
	}
	e.mysqldPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return err
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/jobd/jobd") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the harness inside the jobd checkout (go run ./bench)")
		}
		dir = parent
	}
}

// machine describes where the benchmark ran.
type machine struct {
	CPU, Cores, RAM, Kernel, OS, MariaDB, Go, Date, Commit string
	LoadBefore, LoadAfter                                  string
}

func (e *env) describe(start time.Time) machine {
	m := machine{
		CPU:     firstField("/proc/cpuinfo", "model name", ":"),
		Cores:   strconv.Itoa(runtime.NumCPU()),
		Kernel:  strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		OS:      strings.Trim(firstField("/etc/os-release", "PRETTY_NAME", "="), `"`),
		MariaDB: e.dbVersion,
		Go:      runtime.Version(),
		Date:    start.UTC().Format("2006-01-02 15:04 MST"),
		Commit:  e.commit(),
	}
	if kb, err := strconv.ParseInt(strings.Fields(firstField("/proc/meminfo", "MemTotal", ":") + " 0")[0], 10, 64); err == nil {
		m.RAM = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	return m
}

// commit names the code measured: the checkout's commit, and whether the
// daemons' packages had uncommitted changes.
func (e *env) commit() string {
	out, err := exec.Command("git", "-C", e.root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	dirty, err := exec.Command("git", "-C", e.root, "status", "--porcelain", "--", "cmd", "jobd", "master", "rpc", "store", "migrations").Output()
	if err == nil && len(strings.TrimSpace(string(dirty))) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// firstField returns the value of the first "key<sep>value" line of a file.
func firstField(path, key, sep string) string {
	for line := range strings.Lines(readFile(path)) {
		k, v, ok := strings.Cut(line, sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
