package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrDeadlock        = errors.New("deadlock")
	ErrLockWaitTimeout = errors.New("lock wait timeout")
	ErrUnavailable     = errors.New("database unavailable")
	ErrInstanceLost    = errors.New("instance was declared lost")
	ErrNotManual       = errors.New("status is not manual")
	ErrNotServed       = errors.New("target is not served here")
	ErrUnknownSlot     = errors.New("slot is not configured for the target")
)

// MySQL and MariaDB error numbers jobd cares about.
const (
	erLockWaitTimeout = 1205
	erLockDeadlock    = 1213
	erConCount        = 1040 // too many connections
	erServerShutdown  = 1053
	erConnKilled      = 1927 // MariaDB: connection was killed
	erQueryKilled     = 1317
	erReadOnly        = 1290 // --read-only (a failover in progress)
	erNoSuchTable     = 1146
	erBadField        = 1054
)

// translate maps a driver error to the package's named errors, keeping the
// original text.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erLockDeadlock:
			return fmt.Errorf("%w: %w", ErrDeadlock, err)
		case erLockWaitTimeout:
			return fmt.Errorf("%w: %w", ErrLockWaitTimeout, err)
		case erConCount, erServerShutdown, erConnKilled, erQueryKilled, erReadOnly:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if isConnError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func isConnError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne), errors.As(err, &oe):
		return true
	}
	return false
}

func retryable(err error) bool {
	return errors.Is(err, ErrDeadlock) || errors.Is(err, ErrLockWaitTimeout)
}
