package storetest

import (
	"fmt"
	"testing"
	"time"
)

// FillWaiting inserts n waiting jobs spread over targets t0…t(targets-1)
// with priorities 0-2, fast (MariaDB's sequence engine), for scale tests and
// benchmarks.
func FillWaiting(t testing.TB, db *DB, table string, n, targets int) {
	t.Helper()
	if table == "" {
		table = "jobs"
	}
	sqlDB, err := openDB(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	const chunk = 200_000
	for start := 1; start <= n; start += chunk {
		end := min(start+chunk-1, n)
		q := fmt.Sprintf("INSERT INTO `%s` (target, status, time_created, priority)"+
			" SELECT CONCAT('t', seq %% %d), 'waiting', %d, seq %% 3 FROM seq_%d_to_%d", table, targets, time.Now().Unix(), start, end)
		if _, err := sqlDB.Exec(q); err != nil {
			t.Fatalf("filling %s: %v", table, err)
		}
	}
	if _, err := sqlDB.Exec("ANALYZE TABLE `" + table + "`"); err != nil {
		t.Fatalf("analyzing %s: %v", table, err)
	}
}
