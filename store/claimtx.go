package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// A claim is a transaction of four statements: START TRANSACTION, the
// SELECT … FOR UPDATE SKIP LOCKED, the UPDATE of what it picked, COMMIT.
// Sent one by one, that is four round trips, and a worker's free room waits
// for all four: on a busy 2-core machine each round trip waits for the
// server's thread to be scheduled, and the wait showed as idle CPU while
// jobs were waiting to run. Claims therefore go over connections that
// accept several statements per request (their own small pool, used for
// nothing else) in two round trips: "START TRANSACTION; SELECT …", then
// "UPDATE …; COMMIT".

// claimStmt is one UPDATE of a claim and how many rows it must change.
type claimStmt struct {
	query string
	args  []any
	want  int
}

// errClaimChanged says an UPDATE of a claim changed other than the rows it
// named, although the SELECT had locked them: short of a server fault it
// cannot happen. The claim is committed by then.
var errClaimChanged = errors.New("a claim's UPDATE changed other than the rows it locked")

// claimTx runs one claim: the SELECT (query, args) in a new transaction,
// then the UPDATEs plan makes of its rows and COMMIT, in one request. It
// returns, for each UPDATE, the rows it changed; errClaimChanged when one
// changed other than its want (committed all the same). On any other error
// nothing is committed, except when the error is the connection's during
// the second request, when the outcome is unknown (as with any COMMIT).
func (s *Store) claimTx(ctx context.Context, query string, args []any, plan func([]jobRow) []claimStmt) (changed []int64, err error) {
	conn, err := s.claimDB.Connx(ctx)
	if err != nil {
		return nil, translate(err)
	}
	defer conn.Close()
	rows, err := selectJobRows(ctx, conn, "START TRANSACTION; "+query, args)
	if err != nil {
		s.abandonTx(conn)
		return nil, translate(err)
	}
	stmts := plan(rows)
	var q strings.Builder
	var all []any
	for _, st := range stmts {
		q.WriteString(st.query)
		q.WriteString("; ")
		all = append(all, st.args...)
	}
	q.WriteString("COMMIT")
	affected, err := execMulti(ctx, conn.Conn, q.String(), all)
	if err != nil {
		s.abandonTx(conn)
		return nil, translate(err)
	}
	changed = affected[:len(stmts)]
	for i, n := range changed {
		if int(n) != stmts[i].want {
			return changed, fmt.Errorf("%w: %d of %d", errClaimChanged, n, stmts[i].want)
		}
	}
	return changed, nil
}

// selectJobRows runs a query of jobColumns and scans its rows in order,
// without sqlx's reflection: a claim's rows are read at every claim.
func selectJobRows(ctx context.Context, conn *sqlx.Conn, query string, args []any) ([]jobRow, error) {
	rs, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []jobRow
	for rs.Next() {
		var r jobRow
		if err := rs.Scan(r.columns()...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// abandonTx rolls back whatever a failed claim left open, so the connection
// goes back to the pool clean, or is closed when it cannot be.
func (s *Store) abandonTx(conn *sqlx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// execMulti runs statements sent as one request and returns the rows each
// of them changed (what database/sql's Result cannot tell: it has the last
// statement's only).
func execMulti(ctx context.Context, conn *sql.Conn, query string, args []any) ([]int64, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	var affected []int64
	err := conn.Raw(func(dc any) error {
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return errors.New("the mysql driver cannot execute statements directly")
		}
		res, err := ex.ExecContext(ctx, query, named)
		if err != nil {
			return err
		}
		mr, ok := res.(mysql.Result)
		if !ok {
			return errors.New("the mysql driver does not count rows per statement")
		}
		affected = mr.AllRowsAffected()
		return nil
	})
	return affected, err
}

// retryTx runs fn again, a few times with a short backoff, while it fails
// with a deadlock or a lock wait timeout.
func (s *Store) retryTx(ctx context.Context, fn func() error) error {
	const attempts = 6
	var err error
	for i := range attempts {
		err = fn()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		backoff := time.Duration(1<<i)*2*time.Millisecond + rand.N(3*time.Millisecond)
		s.log.Debug("retrying transaction", "err", err, "attempt", i+1, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
	return err
}
