package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/jobd/jobd/migrations"
)

// Options configure a Store. Zero values mean defaults.
type Options struct {
	Table        string       // jobs table; default "jobs"
	Clock        Clock        // default SystemClock
	Logger       *slog.Logger // default: discard
	MaxOpenConns int          // default 8
}

// Store runs jobd's SQL against one jobs table.
type Store struct {
	db        *sqlx.DB
	claimDB   *sqlx.DB // several statements per request: claims only (claimtx.go)
	table     string   // quoted
	byID      string   // quoted, with FORCE INDEX (PRIMARY)
	claimFrom string   // quoted, with FORCE INDEX (jobd_claim_idx)
	instances string   // quoted
	clock     Clock
	log       *slog.Logger
	text      textLimits
	mariadb   bool
}

// DefaultTable is the jobs table name when the config names none.
const DefaultTable = "jobs"

// ParseDSN parses a go-sql-driver DSN ("user:pass@tcp(host:3306)/db"),
// with errors that never repeat the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid mysql dsn: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("invalid mysql dsn: no database name (expected user:password@tcp(host:3306)/database)")
	}
	return cfg, nil
}

// Redact returns the DSN with its password replaced, for messages.
func Redact(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "(unparsable dsn)"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxx"
	}
	return cfg.FormatDSN()
}

// connConfig returns the driver config jobd uses for a DSN: parameters
// interpolated client-side (one round trip per statement), utf8mb4, and
// bounded dial time.
func connConfig(dsn string) (*mysql.Config, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	cfg.ParseTime = false
	cfg.Collation = "utf8mb4_general_ci"
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	return cfg, nil
}

// Open connects to the database of dsn and checks that the jobs table has
// what jobd needs (run "jobd migrate up" otherwise).
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	if opt.Table == "" {
		opt.Table = DefaultTable
	}
	if err := migrations.ValidateTable(opt.Table); err != nil {
		return nil, err
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.MaxOpenConns <= 0 {
		opt.MaxOpenConns = 8
	}
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	mariadb, err := probeServer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Claims must not take gap locks that would block the application's
	// inserts: run every transaction at READ COMMITTED.
	if mariadb {
		cfg.Params["tx_isolation"] = "'READ-COMMITTED'"
	} else {
		cfg.Params["transaction_isolation"] = "'READ-COMMITTED'"
	}
	cfg.Params["innodb_lock_wait_timeout"] = "10"
	db, err := openPool(cfg, opt.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	multi := cfg.Clone()
	multi.MultiStatements = true
	claimDB, err := openPool(multi, 2)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		db:      db,
		claimDB: claimDB,
		table:   "`" + opt.Table + "`",
		// Statements that name rows by id say so: otherwise, for "id IN
		// (…) AND status = 'running'", the optimizer may pick an index on
		// status and walk every entry of that status, including the
		// delete-marked ones a draining queue leaves until purge (measured:
		// 2.5 ms of server CPU for a 15-row outcome write instead of 0.1).
		byID:      "`" + opt.Table + "` FORCE INDEX (PRIMARY)",
		claimFrom: "`" + opt.Table + "` FORCE INDEX (`" + ClaimIndex + "`)",
		instances: "`" + migrations.InstancesTable(opt.Table) + "`",
		clock:     opt.Clock,
		log:       opt.Logger,
		mariadb:   mariadb,
	}
	if err := s.checkSchema(ctx, cfg.DBName, opt.Table); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openPool opens a pool of at most max connections, kept idle a minute.
func openPool(cfg *mysql.Config, max int) (*sqlx.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	db.SetMaxOpenConns(max)
	db.SetMaxIdleConns(max)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// probeServer connects once to tell MariaDB from MySQL and to turn the
// first failure into a message that says where.
func probeServer(ctx context.Context, cfg *mysql.Config) (mariadb bool, err error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return false, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return false, fmt.Errorf("cannot connect to mysql at %s (database %q): %w", cfg.Addr, cfg.DBName, translate(err))
	}
	return strings.Contains(strings.ToLower(version), "mariadb"), nil
}

// requiredColumns are the columns jobd reads and writes.
var requiredColumns = []string{"id", "target", "slot", "status", "time_created", "time_started",
	"time_finished", "result", "return_code", "sig", "stdout", "stderr",
	"priority", "run_at", "attempts", "instance_id", "manual"}

func (s *Store) checkSchema(ctx context.Context, dbName, table string) error {
	var cols []struct {
		Name    string         `db:"COLUMN_NAME"`
		Charset sql.NullString `db:"CHARACTER_SET_NAME"`
		Octets  sql.NullInt64  `db:"CHARACTER_OCTET_LENGTH"`
	}
	err := s.db.SelectContext(ctx, &cols, `SELECT COLUMN_NAME, CHARACTER_SET_NAME, CHARACTER_OCTET_LENGTH
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, dbName, table)
	if err != nil {
		return fmt.Errorf("reading the schema of %s.%s: %w", dbName, table, translate(err))
	}
	have := map[string]int{}
	for i, c := range cols {
		have[strings.ToLower(c.Name)] = i
	}
	if len(cols) == 0 {
		return fmt.Errorf("table %s.%s does not exist: run `jobd migrate up --config FILE` to create it", dbName, table)
	}
	var missing []string
	for _, name := range requiredColumns {
		if _, ok := have[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s.%s lacks the columns %s: run `jobd migrate up --config FILE` to add them",
			dbName, table, strings.Join(missing, ", "))
	}
	var claimIdx int
	err = s.db.GetContext(ctx, &claimIdx, `SELECT COUNT(*) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = ?`, dbName, table, ClaimIndex)
	if err != nil {
		return fmt.Errorf("reading the indexes of %s.%s: %w", dbName, table, translate(err))
	}
	if claimIdx == 0 {
		return fmt.Errorf("table %s.%s lacks the index %s: run `jobd migrate up --config FILE` to add it "+
			"(if `jobd migrate version` already says 3, run `jobd migrate force 1` first: the migrations add only what is missing)",
			dbName, table, ClaimIndex)
	}
	var packet int64
	if err := s.db.GetContext(ctx, &packet, "SELECT @@max_allowed_packet"); err != nil {
		return fmt.Errorf("reading max_allowed_packet: %w", translate(err))
	}
	col := func(name string) textColumn {
		c := cols[have[name]]
		return textColumn{charset: strings.ToLower(c.Charset.String), octets: int(c.Octets.Int64)}
	}
	s.text = newTextLimits(packet, col("stdout"), col("stderr"), col("sig"))
	return nil
}

// ClaimIndex is the index claims read (migration 0002); Open checks that the
// table has it.
const ClaimIndex = "jobd_claim_idx"

// Close closes the connection pool.
func (s *Store) Close() error {
	err := s.db.Close()
	if cerr := s.claimDB.Close(); err == nil {
		err = cerr
	}
	return err
}

// DB exposes the pool for tests and tools that inspect rows.
func (s *Store) DB() *sqlx.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return translate(s.db.PingContext(ctx)) }

// now returns the clock's time as unix seconds, the unit of the original
// jobd's time columns.
func (s *Store) now() int64 { return s.clock.Now().Unix() }

// inTx runs fn in a transaction, retrying a few times on deadlock and lock
// wait timeout.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.retryTx(ctx, func() error { return s.tryTx(ctx, fn) })
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return translate(err)
	}
	return translate(tx.Commit())
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
