package store

import (
	"database/sql"
	"time"
)

// Status is a job row's status column.
type Status string

// The statuses of the original jobd, with their meaning unchanged.
const (
	StatusWaiting  Status = "waiting"  // queued; claimed by background polling
	StatusManual   Status = "manual"   // runs only through run-manual
	StatusAccepted Status = "accepted" // claimed by an instance, not started
	StatusRunning  Status = "running"  // the launcher process runs
	StatusDone     Status = "done"     // finished; see Result
	StatusIgnored  Status = "ignored"  // will never run; the reason is in stderr
)

// Result is a finished job's result column.
type Result string

// Results of a finished job.
const (
	ResultOK   Result = "ok"
	ResultFail Result = "fail"
)

// Job is one row of the jobs table, as far as jobd knows its columns.
// Columns the application added itself are never read or written.
type Job struct {
	ID           int64
	Target       string
	Slot         string // "" for NULL or empty: the target's own pool
	Status       Status
	Priority     int
	RunAt        int64 // unix seconds; 0 or past: due now
	Attempts     int   // launches so far
	InstanceID   int64 // the instance holding the job; 0 for none
	Manual       bool  // held for run-manual: goes back to manual, never retried
	TimeCreated  int64 // unix seconds
	TimeStarted  int64
	TimeFinished int64
	Result       Result // "" for NULL
	ReturnCode   *int
	Sig          string
	Stdout       string
	Stderr       string
}

// jobColumns are the columns jobd reads for claiming and running a job.
const jobColumns = "id, target, slot, status, priority, run_at, attempts, instance_id, manual, time_created"

// columns are where rows.Scan puts jobColumns, in their order.
func (r *jobRow) columns() []any {
	return []any{&r.ID, &r.Target, &r.Slot, &r.Status, &r.Priority, &r.RunAt, &r.Attempts, &r.InstanceID, &r.Manual, &r.TimeCreated}
}

// jobAllColumns are jobColumns plus the outcome columns.
const jobAllColumns = jobColumns + ", time_started, time_finished, result, return_code, sig, stdout, stderr"

// jobRow mirrors a row with its NULLs, for scanning.
type jobRow struct {
	ID           int64          `db:"id"`
	Target       string         `db:"target"`
	Slot         sql.NullString `db:"slot"`
	Status       string         `db:"status"`
	Priority     int            `db:"priority"`
	RunAt        int64          `db:"run_at"`
	Attempts     int            `db:"attempts"`
	InstanceID   sql.NullInt64  `db:"instance_id"`
	Manual       bool           `db:"manual"`
	TimeCreated  int64          `db:"time_created"`
	TimeStarted  int64          `db:"time_started"`
	TimeFinished int64          `db:"time_finished"`
	Result       sql.NullString `db:"result"`
	ReturnCode   sql.NullInt64  `db:"return_code"`
	Sig          sql.NullString `db:"sig"`
	Stdout       sql.NullString `db:"stdout"`
	Stderr       sql.NullString `db:"stderr"`
}

func (r *jobRow) job() Job {
	j := Job{
		ID:           r.ID,
		Target:       r.Target,
		Slot:         r.Slot.String,
		Status:       Status(r.Status),
		Priority:     r.Priority,
		RunAt:        r.RunAt,
		Attempts:     r.Attempts,
		InstanceID:   r.InstanceID.Int64,
		Manual:       r.Manual,
		TimeCreated:  r.TimeCreated,
		TimeStarted:  r.TimeStarted,
		TimeFinished: r.TimeFinished,
		Result:       Result(r.Result.String),
		Sig:          r.Sig.String,
		Stdout:       r.Stdout.String,
		Stderr:       r.Stderr.String,
	}
	if r.ReturnCode.Valid {
		c := int(r.ReturnCode.Int64)
		j.ReturnCode = &c
	}
	return j
}

// Outcome is what one run of a job produced, ready to be written to its row.
type Outcome struct {
	ID         int64
	Attempt    int // the attempt that ran (fence); the row's attempts column
	Result     Result
	ReturnCode *int   // nil when killed by a signal or never started
	Signal     string // "SIGTERM"…, or ""
	Stdout     []byte
	Stderr     []byte
	Finished   time.Time
}

// Clock tells the time. Tests pass a fake one so that delays and heartbeat
// staleness can be tested without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
