package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/jobd/jobd/store"
)

// The harness talks to the database as an application and an operator do:
// it inserts rows and watches them. That SQL is here rather than in store
// because it is the benchmark's own (bulk inserts with the sequence engine,
// cheap "anything left?" probes), not jobd's.

// benchDB is one database on the private server with jobd's table migrated,
// and a small pool for the harness's own statements.
type benchDB struct {
	name string
	dsn  string
	db   *sql.DB
}

// newDB creates a database with a migrated jobs table. Dropping it (close)
// keeps the server small between measurements.
func (e *env) newDB(ctx context.Context, prefix string) (*benchDB, error) {
	name, err := e.srv.CreateDatabase(prefix)
	if err != nil {
		return nil, err
	}
	b := &benchDB{name: name, dsn: e.srv.DSN(name)}
	if err := store.Migrate(ctx, b.dsn, store.DefaultTable); err != nil {
		_ = e.srv.DropDatabase(name)
		return nil, err
	}
	if b.db, err = openSQL(b.dsn); err != nil {
		_ = e.srv.DropDatabase(name)
		return nil, err
	}
	return b, nil
}

func (b *benchDB) close(e *env) {
	b.db.Close()
	_ = e.srv.DropDatabase(b.name)
}

// openSQL opens a pool with parameters interpolated by the client, so that
// each statement is one round trip (no prepare), as jobd's are.
func openSQL(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	return db, nil
}

// insertOne inserts one waiting job as an application does.
func (b *benchDB) insertOne(ctx context.Context, target string) (int64, error) {
	res, err := b.db.ExecContext(ctx, "INSERT INTO jobs (target, time_created) VALUES (?, UNIX_TIMESTAMP())", target)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// insertWaiting inserts n waiting jobs, spread round-robin over targets and
// over priorities 0…priorities-1, with MariaDB's sequence engine (a few
// statements, whatever n), and refreshes the table's statistics. It returns
// the first new id; the ids are consecutive.
func (b *benchDB) insertWaiting(ctx context.Context, n int, targets []string, priorities int) (int64, error) {
	pick := "ELT(1 + seq % " + fmt.Sprint(len(targets)) + strings.Repeat(", ?", len(targets)) + ")"
	args := make([]any, len(targets))
	for i, t := range targets {
		args[i] = t
	}
	const chunk = 200_000
	var first int64
	for start := 1; start <= n; start += chunk {
		end := min(start+chunk-1, n)
		q := fmt.Sprintf("INSERT INTO jobs (target, status, time_created, priority)"+
			" SELECT %s, 'waiting', UNIX_TIMESTAMP(), seq %% %d FROM seq_%d_to_%d", pick, max(priorities, 1), start, end)
		res, err := b.db.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("inserting %d jobs: %w", n, err)
		}
		if start == 1 {
			if first, err = res.LastInsertId(); err != nil {
				return 0, err
			}
		}
	}
	if _, err := b.db.ExecContext(ctx, "ANALYZE TABLE jobs"); err != nil {
		return 0, err
	}
	return first, nil
}

// unfinishedProbe returns the most advanced status among the jobs left to
// run (running, else accepted, else waiting), or no row when none is left.
// It reads one entry of jobd_claim_idx (status is its first column), so it
// costs the server next to nothing whatever the table's size, unlike a
// COUNT(*).
const unfinishedProbe = "SELECT status FROM jobs WHERE status IN ('waiting', 'accepted', 'running') ORDER BY status DESC LIMIT 1"

// mostAdvancedUnfinished runs unfinishedProbe; "" when no job is left.
func (b *benchDB) mostAdvancedUnfinished(ctx context.Context) (string, error) {
	var s string
	err := b.db.QueryRowContext(ctx, unfinishedProbe).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return s, err
}

// status reads one job's status.
func (b *benchDB) status(ctx context.Context, id int64) (string, error) {
	var s string
	err := b.db.QueryRowContext(ctx, "SELECT status FROM jobs WHERE id = ?", id).Scan(&s)
	return s, err
}

// waitStatus polls a job every interval until it has status want, for at
// most timeout, and returns when it saw it.
func (b *benchDB) waitStatus(ctx context.Context, id int64, want string, interval, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := b.status(ctx, id)
		if err != nil {
			return time.Time{}, fmt.Errorf("job %d: %w", id, err)
		}
		now := time.Now()
		if s == want {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("job %d still %s after %s", id, s, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// count runs a SELECT COUNT(*) (outside timed windows, or bounded by an
// index range).
func (b *benchDB) count(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := b.db.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// statusCounters are the server's statement counters the harness reads
// around a drain: Questions counts every statement clients send, and the
// Com_ ones split them by kind.
var statusCounters = []string{"Questions", "Com_select", "Com_insert", "Com_update", "Com_delete",
	"Com_begin", "Com_commit", "Com_rollback", "Com_set_option"}

// serverCounters reads statusCounters. The SHOW statement itself counts
// once in Questions.
func (e *env) serverCounters(ctx context.Context) (map[string]int64, error) {
	q := "SHOW GLOBAL STATUS WHERE Variable_name IN ('" + strings.Join(statusCounters, "', '") + "')"
	rows, err := e.admin.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, rows.Err()
}

// checkProbe explains unfinishedProbe on an empty migrated table and
// returns a warning when the server would sort or scan for it.
func (b *benchDB) checkProbe(ctx context.Context) (string, error) {
	rows, err := b.db.QueryContext(ctx, "EXPLAIN "+unfinishedProbe)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var plan []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		for i, c := range cols {
			plan = append(plan, c+"="+vals[i].String)
		}
	}
	p := strings.Join(plan, " ")
	if strings.Contains(p, "filesort") || strings.Contains(p, "type=ALL") {
		return "the drain probe is not an index dive: " + p, rows.Err()
	}
	return "", rows.Err()
}
