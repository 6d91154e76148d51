package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// HowToGetOne is appended to every "no database" failure.
const HowToGetOne = "jobd's tests need MariaDB: install it with `sudo apt-get install mariadb-server` " +
	"(`make test` does this for you), or point JOBD_TEST_MYSQL_DSN at a server, " +
	"e.g. JOBD_TEST_MYSQL_DSN='root:password@tcp(127.0.0.1:3306)/'"

// ServerOptions tune a private server.
type ServerOptions struct {
	// Args are extra mariadbd options, e.g. "--innodb-buffer-pool-size=1G".
	Args []string
}

// Server is a private MariaDB server owned by the test binary.
type Server struct {
	dir  string
	port int
	opts ServerOptions

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	admin   *sql.DB
	counter int
}

// StartServer initialises a data directory in a new temporary directory and
// starts mariadbd on a free loopback port.
func StartServer(opts ServerOptions) (*Server, error) {
	install, err := findBinary("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	if _, err := findBinary("mariadbd", "mysqld"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jobd-mariadb-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, opts: opts}
	// A temporary directory of its own: servers bootstrapping at the same
	// time (go test runs package binaries in parallel) lose each other's
	// temporary tables in a shared /tmp.
	if err := os.Mkdir(s.tmpdir(), 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + s.datadir(), "--tmpdir=" + s.tmpdir(), "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s failed: %v\n%s", install, err, tail(string(out), 2000))
	}
	var lastErr error
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			return nil, err
		}
		if lastErr = s.Start(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (s *Server) datadir() string { return filepath.Join(s.dir, "data") }

func (s *Server) tmpdir() string { return filepath.Join(s.dir, "tmp") }

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// DSN returns a go-sql-driver DSN for database db ("" for none).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("root@tcp(%s)/%s", s.Addr(), db)
}

// Start starts mariadbd (again) on the server's directory and port and
// waits until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("storetest: server already running")
	}
	bin, err := findBinary("mariadbd", "mysqld")
	if err != nil {
		return err
	}
	args := []string{"--no-defaults",
		"--datadir=" + s.datadir(),
		"--tmpdir=" + s.tmpdir(),
		"--socket=" + filepath.Join(s.dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(s.dir, "error.log"),
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve", "--skip-log-bin",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--max-connections=1000",
		"--innodb-buffer-pool-size=256M",
		"--innodb-log-file-size=128M",
		// Commits reach the OS at once and the disk within a second: a killed
		// mariadbd loses nothing, only a machine crash would.
		"--innodb-flush-log-at-trx-commit=2",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := openDB(s.DSN(""))
		if err == nil {
			err = db.Ping()
			if err == nil {
				if s.admin != nil {
					s.admin.Close()
				}
				s.admin = db
				return nil
			}
			db.Close()
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("mariadbd exited at start:\n%s", tail(s.errorLog(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			s.cmd = nil
			return fmt.Errorf("mariadbd did not accept connections within 60s:\n%s", tail(s.errorLog(), 2000))
		}
	}
}

func (s *Server) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return string(b)
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it.
func (s *Server) Stop() error { return s.signalAndWait(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.signalAndWait(syscall.SIGKILL) }

func (s *Server) signalAndWait(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGCONT) // a frozen server cannot shut down
	if err := s.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	return nil
}

// Freeze stops the server's process (SIGSTOP): connections stay open but
// nothing answers, like a hung database host.
func (s *Server) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("storetest: server not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	os.RemoveAll(s.dir)
	return err
}

// CreateDatabase creates a new empty database whose name starts with
// prefix and returns its name.
func (s *Server) CreateDatabase(prefix string) (string, error) {
	s.mu.Lock()
	s.counter++
	name := dbName(prefix, s.counter)
	admin := s.admin
	s.mu.Unlock()
	if admin == nil {
		return "", errors.New("storetest: server not running")
	}
	if _, err := admin.Exec("CREATE DATABASE `" + name + "`"); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, nil
}

// DropDatabase drops a database made by CreateDatabase.
func (s *Server) DropDatabase(name string) error {
	s.mu.Lock()
	admin := s.admin
	s.mu.Unlock()
	if admin == nil {
		return nil // the server is gone, and its directory with it
	}
	_, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
	return err
}

func openDB(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	return db, nil
}

// dbName makes a database name from a test name: lower-case letters, digits
// and _, at most 64 characters, unique by counter.
func dbName(prefix string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := fmt.Sprintf("_%d_%d", os.Getpid(), n)
	name := "t_" + b.String()
	if len(name)+len(suffix) > 64 {
		name = name[:64-len(suffix)]
	}
	return name + suffix
}

func findBinary(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/libexec", "/usr/local/mysql/bin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("cannot start a private MariaDB: %s not found in PATH or /usr/sbin. %s", names[0], HowToGetOne)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ctxTimeout is a short context for harness housekeeping.
func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
