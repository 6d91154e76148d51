package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// This file holds what an operator's tool (jobctl) asks of the table beyond
// jobd's own work: listing jobs, reading a whole row, cancelling and
// retrying. Like every other write, cancel and retry are fenced on the status
// they change, so they never touch a job a worker holds.

// ErrWrongStatus says a job is not in a status the change applies to;
// JobChange.Status tells which status it has.
var ErrWrongStatus = errors.New("job is not in a status the change applies to")

// Statuses returns every status of the status column, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusWaiting, StatusManual, StatusAccepted, StatusRunning, StatusDone, StatusIgnored}
}

// DefaultListLimit is how many jobs JobsList returns when no limit is given.
const DefaultListLimit = 100

// JobsListParams filter JobsList. Empty filters match every job.
type JobsListParams struct {
	Statuses []Status
	Targets  []string
	Since    int64 // unix seconds: only jobs created at or after; 0: any
	Limit    int   // default DefaultListLimit
	Output   bool  // also read stdout and stderr (left empty otherwise)
}

// jobListColumns are the columns JobsList reads without the output.
const jobListColumns = jobColumns + ", time_started, time_finished, result, return_code, sig"

// JobsList returns jobs matching the filters, newest (highest id) first.
// Ordering by the primary key lets the server stop after Limit rows when the
// filters are unselective.
func (s *Store) JobsList(ctx context.Context, p JobsListParams) ([]Job, error) {
	if p.Limit <= 0 {
		p.Limit = DefaultListLimit
	}
	var where []string
	var args []any
	if len(p.Statuses) > 0 {
		where = append(where, fmt.Sprintf("status IN (%s)", placeholders(len(p.Statuses))))
		for _, st := range p.Statuses {
			args = append(args, string(st))
		}
	}
	if len(p.Targets) > 0 {
		where = append(where, fmt.Sprintf("target IN (%s)", placeholders(len(p.Targets))))
		for _, t := range p.Targets {
			args = append(args, t)
		}
	}
	if p.Since > 0 {
		where = append(where, "time_created >= ?")
		args = append(args, p.Since)
	}
	cols := jobListColumns
	if p.Output {
		cols = jobAllColumns
	}
	query := fmt.Sprintf("SELECT %s FROM %s", cols, s.table)
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, p.Limit)
	rows, err := s.db.QueryxContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", translate(err))
	}
	defer rows.Close()
	var jobs []Job
	for rows.Next() {
		var r jobRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("listing jobs: %w", translate(err))
		}
		jobs = append(jobs, r.job())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing jobs: %w", translate(err))
	}
	return jobs, nil
}

// Column is one column of a row as the table holds it.
type Column struct {
	Name string
	// Value is nil for NULL, int64 or uint64 for integers, float64 for
	// floating point, string for text (and any other value that is valid
	// UTF-8: decimals, dates, enums), []byte for binary data that is not.
	Value any
}

// JobRow returns every column of one job's row, in the table's column order:
// jobd's columns and the application's own. ErrNotFound when there is no such
// job.
func (s *Store) JobRow(ctx context.Context, id int64) ([]Column, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s WHERE id = ?", s.table), id)
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, translate(err))
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, translate(err))
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("job %d: %w", id, translate(err))
		}
		return nil, fmt.Errorf("job %d: %w", id, translate(sql.ErrNoRows))
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("job %d: %w", id, translate(err))
	}
	out := make([]Column, len(names))
	for i, name := range names {
		v := vals[i]
		if b, ok := v.([]byte); ok && utf8.Valid(b) {
			v = string(b)
		}
		out[i] = Column{Name: name, Value: v}
	}
	return out, rows.Err()
}

// JobChange is the fate of one job in JobsCancel or JobsRetry.
type JobChange struct {
	ID     int64
	Target string // "" with ErrNotFound
	// Status is the status the row had when the change was tried: the one
	// it left when Err is nil, the one that refused it with ErrWrongStatus;
	// "" with ErrNotFound.
	Status Status
	Err    error // nil: applied; ErrNotFound or ErrWrongStatus
}

// JobsCancelParams name jobs to cancel and why.
type JobsCancelParams struct {
	IDs    []int64
	Reason string // written to stderr as it is (fitted to the column)
}

// JobsCancel marks waiting and manual jobs ignored, with the reason in
// stderr and time_finished set, and reports per id (duplicates removed, in
// order) whether it applied. A job in any other status is left alone: a
// claimed or running job belongs to its worker (signal it instead) and a
// finished one has its outcome.
func (s *Store) JobsCancel(ctx context.Context, p JobsCancelParams) ([]JobChange, error) {
	reason := fit([]byte(p.Reason), s.text.stderr)
	return s.jobsChange(ctx, p.IDs, []Status{StatusWaiting, StatusManual}, func(tx *sqlx.Tx, ids []int64) (int64, error) {
		q := fmt.Sprintf("UPDATE %s SET status = 'ignored', time_finished = ?, stderr = ?"+
			" WHERE id IN (%s) AND status IN ('waiting', 'manual')", s.byID, placeholders(len(ids)))
		res, err := tx.ExecContext(ctx, q, append([]any{s.now(), reason}, int64Args(ids)...)...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// JobsRetryParams name finished jobs to run again.
type JobsRetryParams struct {
	IDs    []int64
	Manual bool // back to manual (run only by run-manual) instead of waiting
}

// JobsRetry puts done and ignored jobs back to waiting (or manual), as if
// they were new: the outcome (result, return_code, sig, stdout, stderr,
// time_started, time_finished) is cleared, since the table keeps no history;
// attempts goes back to 0, so the target's max_attempts applies afresh;
// run_at is 0 (due now); instance_id NULL and manual 0. id, target, slot,
// priority, time_created and the application's columns are kept. It reports
// per id (duplicates removed, in order) whether it applied; a job in any
// other status is left alone.
func (s *Store) JobsRetry(ctx context.Context, p JobsRetryParams) ([]JobChange, error) {
	to := StatusWaiting
	if p.Manual {
		to = StatusManual
	}
	return s.jobsChange(ctx, p.IDs, []Status{StatusDone, StatusIgnored}, func(tx *sqlx.Tx, ids []int64) (int64, error) {
		q := fmt.Sprintf("UPDATE %s SET status = ?, instance_id = NULL, manual = 0, run_at = 0, attempts = 0,"+
			" result = NULL, return_code = NULL, sig = NULL, stdout = NULL, stderr = NULL, time_started = 0, time_finished = 0"+
			" WHERE id IN (%s) AND status IN ('done', 'ignored')", s.byID, placeholders(len(ids)))
		res, err := tx.ExecContext(ctx, q, append([]any{string(to)}, int64Args(ids)...)...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// jobsChange locks the rows of ids, applies update to those whose status is
// one of from, and reports each id's fate. The lock makes the report exact:
// no worker moves a row between the read and the fenced update.
func (s *Store) jobsChange(ctx context.Context, ids []int64, from []Status,
	update func(tx *sqlx.Tx, ids []int64) (int64, error)) ([]JobChange, error) {
	ids = uniqueIDs(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var out []JobChange
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID     int64  `db:"id"`
			Target string `db:"target"`
			Status string `db:"status"`
		}
		q := fmt.Sprintf("SELECT id, target, status FROM %s WHERE id IN (%s) FOR UPDATE", s.byID, placeholders(len(ids)))
		if err := tx.SelectContext(ctx, &rows, q, int64Args(ids)...); err != nil {
			return err
		}
		found := make(map[int64]int, len(rows))
		for i, r := range rows {
			found[r.ID] = i
		}
		out = make([]JobChange, len(ids))
		var eligible []int64
		for i, id := range ids {
			out[i] = JobChange{ID: id}
			at, ok := found[id]
			if ok {
				out[i].Target, out[i].Status = rows[at].Target, Status(rows[at].Status)
			}
			switch {
			case !ok:
				out[i].Err = ErrNotFound
			case !slices.Contains(from, out[i].Status):
				out[i].Err = ErrWrongStatus
			default:
				eligible = append(eligible, id)
			}
		}
		if len(eligible) == 0 {
			return nil
		}
		n, err := update(tx, eligible)
		if err != nil {
			return err
		}
		if int(n) != len(eligible) {
			return fmt.Errorf("changed %d of %d locked rows", n, len(eligible))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changing jobs %v: %w", ids, err)
	}
	return out, nil
}

// uniqueIDs drops repeated ids, keeping the first of each.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// MySQL error numbers of a refused login.
const (
	erDBAccessDenied = 1044
	erAccessDenied   = 1045
	erBadDB          = 1049
)

// IsConnectError reports whether err means the database could not be
// used at all: the server is unreachable or gone (ErrUnavailable), or it
// refused the login (wrong user or password, no access to the database, no
// such database). A failed statement on a working connection is not one.
func IsConnectError(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erDBAccessDenied, erAccessDenied, erBadDB:
			return true
		}
	}
	return false
}
