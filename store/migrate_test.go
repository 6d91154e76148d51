package store_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// originalSchema is the jobs table as the original jobd's README creates it,
// plus two columns of the application's own.
const originalSchema = "CREATE TABLE `%s` (" +
	"`id` int(10) UNSIGNED NOT NULL AUTO_INCREMENT," +
	"`target` char(16) NOT NULL," +
	"%s" +
	"`time_created` int(10) UNSIGNED NOT NULL," +
	"`time_started` int(10) UNSIGNED NOT NULL DEFAULT 0," +
	"`time_finished` int(10) UNSIGNED NOT NULL DEFAULT 0," +
	"`status` enum('waiting','manual','accepted','running','done','ignored') NOT NULL DEFAULT 'waiting'," +
	"`result` enum('ok','fail') DEFAULT NULL," +
	"`return_code` tinyint(3) UNSIGNED DEFAULT NULL," +
	"`sig` char(10) DEFAULT NULL," +
	"`stdout` mediumtext DEFAULT NULL," +
	"`stderr` mediumtext DEFAULT NULL," +
	"`job_name` varchar(100) NOT NULL DEFAULT ''," +
	"`job_data` text DEFAULT NULL," +
	"PRIMARY KEY (`id`)," +
	"KEY `status_target_idx` (`status`, `target`, `id`)" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8"

func sqlOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// dump returns every row of a table with the given columns, as text, in id
// order, so two dumps can be compared value for value.
func dump(t *testing.T, db *sql.DB, table string, cols []string) []string {
	t.Helper()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = "IFNULL(HEX(`" + c + "`), 'NULL')"
	}
	rows, err := db.Query(fmt.Sprintf("SELECT CONCAT_WS('|', %s) FROM `%s` ORDER BY id", strings.Join(quoted, ", "), table))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func showCreate(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var name, ddl string
	require.NoError(t, db.QueryRow("SHOW CREATE TABLE `"+table+"`").Scan(&name, &ddl))
	return ddl
}

func columnsOf(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", table)
	require.NoError(t, err)
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		cols = append(cols, c)
	}
	return cols
}

func TestMigrateEmptyDatabase(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := storetest.Context(t)
	m, err := store.NewMigrator(ctx, db.DSN, "")
	require.NoError(t, err)
	defer m.Close()
	v, dirty, err := m.Version()
	require.NoError(t, err)
	require.Equal(t, uint(0), v)
	require.False(t, dirty)

	require.NoError(t, m.Up())
	v, dirty, err = m.Version()
	require.NoError(t, err)
	require.Equal(t, uint(4), v)
	require.False(t, dirty)

	sdb := sqlOpen(t, db.DSN)
	require.Equal(t, []string{"id", "target", "slot", "time_created", "time_started", "time_finished", "status", "result",
		"return_code", "sig", "stdout", "stderr", "priority", "run_at", "attempts", "instance_id", "manual"}, columnsOf(t, sdb, "jobs"))
	ddl := showCreate(t, sdb, "jobs")
	require.Contains(t, ddl, "KEY `jobd_claim_idx` (`status`,`target`,`slot`,`priority` DESC,`id`,`run_at`)")
	require.Contains(t, ddl, "KEY `jobd_due_idx`")
	require.NotContains(t, ddl, "jobd_instance_idx", "0004 drops it")
	require.Contains(t, columnsOf(t, sdb, "jobs_instances"), "heartbeat_at")

	// The store opens on it.
	db.Open(t, store.Options{})
}

func TestMigrateOriginalTableKeepsEverything(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		slotCol  string
		withSlot bool
	}{
		{name: "with slot", slotCol: "`slot` char(16) DEFAULT NULL,", withSlot: true},
		{name: "before slots existed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := storetest.NewDB(t)
			sdb := sqlOpen(t, db.DSN)
			const table = "queue_jobs"
			_, err := sdb.Exec(fmt.Sprintf(originalSchema, table, tc.slotCol))
			require.NoError(t, err)

			// 1,000 rows in every status, with NULLs and odd values.
			statuses := []string{"waiting", "manual", "accepted", "running", "done", "ignored"}
			var values []string
			for i := 1; i <= 1000; i++ {
				st := statuses[i%len(statuses)]
				result, code, sig, out := "NULL", "NULL", "NULL", "NULL"
				if st == "done" {
					result, code, sig, out = "'fail'", fmt.Sprint(i%256), "'SIGTERM'", fmt.Sprintf("'out %d \\'quoted\\' ü'", i)
				}
				slot := ""
				if tc.withSlot {
					slot = "NULL, "
					if i%4 == 0 {
						slot = "'s1', "
					}
				}
				values = append(values, fmt.Sprintf("(%d, 't%d', %s%d, %d, %d, '%s', %s, %s, %s, %s, 'err', 'name-%d', '{\"n\":%d}')",
					i, i%7, slot, 1600000000+i, i, i*2, st, result, code, sig, out, i, i))
			}
			cols := "id, target, time_created, time_started, time_finished, status, result, return_code, sig, stdout, stderr, job_name, job_data"
			if tc.withSlot {
				cols = "id, target, slot, time_created, time_started, time_finished, status, result, return_code, sig, stdout, stderr, job_name, job_data"
			}
			_, err = sdb.Exec(fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", table, cols, strings.Join(values, ", ")))
			require.NoError(t, err)

			original := columnsOf(t, sdb, table)
			before := dump(t, sdb, table, original)
			require.Len(t, before, 1000)

			require.NoError(t, store.Migrate(storetest.Context(t), db.DSN, table))

			after := columnsOf(t, sdb, table)
			for _, c := range original {
				require.Contains(t, after, c, "an original column was lost")
			}
			require.Subset(t, after, []string{"slot", "priority", "run_at", "attempts", "instance_id"})
			require.Equal(t, before, dump(t, sdb, table, original), "a value changed")
			var n int
			require.NoError(t, sdb.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE priority = 0 AND run_at = 0 AND attempts = 0 AND instance_id IS NULL").Scan(&n))
			require.Equal(t, 1000, n, "new columns must start at their defaults")

			// A second run changes nothing, even with the history table gone
			// (the migrations themselves are idempotent).
			ddl := showCreate(t, sdb, table)
			require.NoError(t, store.Migrate(storetest.Context(t), db.DSN, table))
			_, err = sdb.Exec("DROP TABLE " + table + "_schema_migrations")
			require.NoError(t, err)
			require.NoError(t, store.Migrate(storetest.Context(t), db.DSN, table))
			require.Equal(t, ddl, showCreate(t, sdb, table))
			require.Equal(t, before, dump(t, sdb, table, original))

			// The store works on the migrated table: the waiting rows can be claimed.
			s := db.Open(t, store.Options{Table: table})
			claimed, err := s.JobsClaim(storetest.Context(t), store.ClaimParams{InstanceID: 1, Buckets: []store.Bucket{{Target: "t1", Limit: 1000}}})
			require.NoError(t, err)
			require.NotEmpty(t, claimed.Jobs)
			for _, j := range claimed.Jobs {
				require.Equal(t, "t1", j.Target)
				require.Empty(t, j.Slot)
			}
		})
	}
}

func TestMigrateDownAndUpAgain(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := storetest.Context(t)
	db.Migrate(t, "")
	s := db.Open(t, store.Options{})
	_, err := s.JobsInsert(ctx, []store.NewJob{{Target: "a"}, {Target: "b", Slot: "s"}})
	require.NoError(t, err)
	s.Close()

	m, err := store.NewMigrator(ctx, db.DSN, "")
	require.NoError(t, err)
	defer m.Close()
	sdb := sqlOpen(t, db.DSN)
	require.NotContains(t, showCreate(t, sdb, "jobs"), "jobd_instance_idx")
	require.NoError(t, m.Down(1))
	require.Contains(t, showCreate(t, sdb, "jobs"), "KEY `jobd_instance_idx` (`instance_id`,`status`)", "down 4 adds the index back")
	require.NoError(t, m.Down(1))
	require.NotContains(t, columnsOf(t, sdb, "jobs_instances"), "id", "down 3 drops the instances table")
	require.NoError(t, m.Down(1))
	require.NotContains(t, columnsOf(t, sdb, "jobs"), "priority")
	require.Contains(t, columnsOf(t, sdb, "jobs"), "slot", "slot belongs to the original schema and stays")
	require.NoError(t, m.Down(1))
	var n int
	require.NoError(t, sdb.QueryRow("SELECT COUNT(*) FROM jobs").Scan(&n))
	require.Equal(t, 2, n, "migrating down never drops the jobs table")
	require.Error(t, m.Down(1), "nothing left to undo")

	require.NoError(t, m.Up())
	v, _, err := m.Version()
	require.NoError(t, err)
	require.Equal(t, uint(4), v)
	require.NotContains(t, showCreate(t, sdb, "jobs"), "jobd_instance_idx")

	// A table at version 3 that has the index, as earlier versions of
	// migration 2 built it, loses it in 4.
	require.NoError(t, m.Down(1))
	require.Contains(t, showCreate(t, sdb, "jobs"), "KEY `jobd_instance_idx`")
	require.NoError(t, m.Up())
	require.NotContains(t, showCreate(t, sdb, "jobs"), "jobd_instance_idx")
}

func TestOpenNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := storetest.Context(t)
	_, err := store.Open(ctx, db.DSN, store.Options{})
	require.ErrorContains(t, err, "does not exist: run `jobd migrate up")

	sdb := sqlOpen(t, db.DSN)
	_, err = sdb.Exec(fmt.Sprintf(originalSchema, "jobs", ""))
	require.NoError(t, err)
	_, err = store.Open(ctx, db.DSN, store.Options{})
	require.ErrorContains(t, err, "lacks the columns slot, priority, run_at, attempts, instance_id, manual")

	// Every column, but not the index claims read.
	require.NoError(t, store.Migrate(ctx, db.DSN, "jobs"))
	_, err = sdb.Exec("ALTER TABLE jobs DROP INDEX " + store.ClaimIndex)
	require.NoError(t, err)
	_, err = store.Open(ctx, db.DSN, store.Options{})
	require.ErrorContains(t, err, "lacks the index jobd_claim_idx: run `jobd migrate up")

	_, err = store.Open(ctx, db.DSN, store.Options{Table: "jobs; DROP TABLE x"})
	require.ErrorContains(t, err, "not a plain identifier")

	_, err = store.Open(ctx, "not a dsn", store.Options{})
	require.ErrorContains(t, err, "invalid mysql dsn")
}
