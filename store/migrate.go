package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"

	"github.com/jobd/jobd/migrations"
)

// Migrator runs the schema migrations for one jobs table.
type Migrator struct {
	m  *migrate.Migrate
	db *sql.DB
}

// NewMigrator connects to dsn for running migrations on table. Close it
// when done.
func NewMigrator(ctx context.Context, dsn, table string) (*Migrator, error) {
	if table == "" {
		table = DefaultTable
	}
	src, err := migrations.Source(table)
	if err != nil {
		return nil, err
	}
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MultiStatements = true
	cfg.InterpolateParams = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to mysql at %s (database %q): %w", cfg.Addr, cfg.DBName, translate(err))
	}
	drv, err := migratemysql.WithInstance(db, &migratemysql.Config{
		MigrationsTable: migrations.HistoryTable(table),
		DatabaseName:    cfg.DBName,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("jobd", src, "mysql", drv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{m: m, db: db}, nil
}

// Up applies every migration not applied yet. Nothing to do is no error.
func (m *Migrator) Up() error {
	if err := m.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// Down rolls back the last n migrations.
func (m *Migrator) Down(n int) error {
	if n <= 0 {
		return fmt.Errorf("migrate down: the number of steps must be positive, got %d", n)
	}
	if err := m.m.Steps(-n); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Version returns the applied version (0 when none) and whether a failed
// migration left the schema dirty.
func (m *Migrator) Version() (uint, bool, error) {
	v, dirty, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("migrate version: %w", err)
	}
	return v, dirty, nil
}

// Force records version v as applied and clean, after a failed migration
// was repaired by hand. The migrations are idempotent, so forcing the
// version before the failed one and running Up again is safe.
func (m *Migrator) Force(v int) error {
	if err := m.m.Force(v); err != nil {
		return fmt.Errorf("migrate force: %w", err)
	}
	return nil
}

// Close releases the connection.
func (m *Migrator) Close() error {
	_, _ = m.m.Close()
	return nil
}

// Migrate brings the jobs table of dsn up to date: a shortcut for tests and
// tools.
func Migrate(ctx context.Context, dsn, table string) error {
	m, err := NewMigrator(ctx, dsn, table)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Up()
}
