// Package store is jobd's only door to the database: the job vocabulary (Job,
// Status, Result) and every SQL statement of the project.
//
// # The job lifecycle
//
//	waiting ──claim──▶ accepted ──start──▶ running ──finish──▶ done (result ok|fail)
//	manual  ──run-manual──▶ accepted ──▶ running ──▶ done
//	waiting/manual ──unknown slot──▶ ignored (reason in stderr)
//	accepted ──release/recover──▶ waiting
//	running  ──retry/recover──▶ waiting (attempts left) or done (fail)
//
// Applications insert rows as waiting (or manual); jobd never inserts or
// deletes a row. Every write to a claimed row is fenced: it names the instance
// that holds the row, the status it expects and, once started, the attempt
// number, and it applies only while all three still hold. Each fenced method
// reports which rows it changed, so a worker that was presumed dead (and whose
// jobs were recovered by another) cannot overwrite what happened since.
//
// # Transactions
//
// Exported methods own their transaction; claiming is one short transaction
// (SELECT … FOR UPDATE SKIP LOCKED, then UPDATE … WHERE id IN (…)), retried on
// deadlock and lock wait timeout. No lock is held while a job runs.
//
// # Errors
//
// Driver errors are translated here: ErrNotFound, ErrDeadlock,
// ErrLockWaitTimeout and ErrUnavailable (the server cannot be reached), so
// callers never look at MySQL error numbers.
package store
