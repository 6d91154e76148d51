package storetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/jobd/jobd/store"
)

// EnvDSN names the environment variable that points the tests at an
// existing server instead of a private one.
const EnvDSN = "JOBD_TEST_MYSQL_DSN"

// atExit holds functions Main runs after the tests (os.Exit skips defers).
var atExit struct {
	mu sync.Mutex
	fs []func()
}

// AtExit registers f to run when Main finishes, after the tests.
func AtExit(f func()) {
	atExit.mu.Lock()
	defer atExit.mu.Unlock()
	atExit.fs = append(atExit.fs, f)
}

// shared is the server of this test binary, started on first use.
var shared struct {
	once   sync.Once
	server *Server // nil when EnvDSN is used
	base   string  // EnvDSN's value
	err    error
}

// Main runs the tests of a package, then stops the shared server and checks
// that no goroutine was left running.
func Main(m interface{ Run() int }, opts ...goleak.Option) {
	code := m.Run()
	if shared.server != nil {
		_ = shared.server.Close()
	}
	atExit.mu.Lock()
	for _, f := range atExit.fs {
		f()
	}
	atExit.mu.Unlock()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func sharedServer() (*Server, string, error) {
	shared.once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			shared.base = dsn
			return
		}
		shared.server, shared.err = StartServer(ServerOptions{})
	})
	return shared.server, shared.base, shared.err
}

// DB is a database of its own for one test.
type DB struct {
	Name string
	DSN  string
}

// NewDB creates a fresh empty database for the test on the shared server and
// drops it when the test ends.
func NewDB(t testing.TB) *DB {
	t.Helper()
	srv, base, err := sharedServer()
	if err != nil {
		t.Fatalf("no database for the test: %v", err)
	}
	if srv != nil {
		return srv.NewDB(t)
	}
	return externalDB(t, base)
}

// NewDB creates a fresh empty database for the test on this server.
func (s *Server) NewDB(t testing.TB) *DB {
	t.Helper()
	name, err := s.CreateDatabase(t.Name())
	if err != nil {
		t.Fatalf("no database for the test: %v", err)
	}
	t.Cleanup(func() { _ = s.DropDatabase(name) })
	return &DB{Name: name, DSN: s.DSN(name)}
}

func externalDB(t testing.TB, base string) *DB {
	t.Helper()
	admin, err := openDB(base)
	if err != nil {
		t.Fatalf("%s=%q is not a usable DSN: %v. %s", EnvDSN, base, err, HowToGetOne)
	}
	defer admin.Close()
	name := dbName(t.Name(), int(time.Now().UnixNano()%1_000_000))
	if _, err := admin.Exec("CREATE DATABASE `" + name + "`"); err != nil {
		t.Fatalf("cannot create a database on %s=%q: %v. %s", EnvDSN, base, err, HowToGetOne)
	}
	t.Cleanup(func() {
		if db, err := openDB(base); err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
			db.Close()
		}
	})
	cfg, _ := mysql.ParseDSN(base) // parsed by openDB above
	cfg.DBName = name
	return &DB{Name: name, DSN: cfg.FormatDSN()}
}

// NewServer starts a private server for one test, which it may stop, kill,
// freeze and restart; it is removed when the test ends.
func NewServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	s, err := StartServer(opts)
	if err != nil {
		t.Fatalf("no database server for the test: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Migrate runs jobd's migrations on db for table ("" for "jobs").
func (db *DB) Migrate(t testing.TB, table string) {
	t.Helper()
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := store.Migrate(ctx, db.DSN, table); err != nil {
		t.Fatalf("migrating %s: %v", db.Name, err)
	}
}

// Open opens a Store on db; it is closed when the test ends.
func (db *DB) Open(t testing.TB, opt store.Options) *store.Store {
	t.Helper()
	ctx, cancel := ctxTimeout()
	defer cancel()
	s, err := store.Open(ctx, db.DSN, opt)
	if err != nil {
		t.Fatalf("opening the store on %s: %v", db.Name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewStore is NewDB, Migrate and Open in one: a migrated jobs table in a
// fresh database.
func NewStore(t testing.TB, opt store.Options) (*store.Store, *DB) {
	t.Helper()
	db := NewDB(t)
	db.Migrate(t, opt.Table)
	return db.Open(t, opt), db
}

// Clock is a clock tests move by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var _ store.Clock = (*Clock)(nil)

// Context returns a context for one test step, cancelled when the test ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
