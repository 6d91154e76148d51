package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// StartParams marks accepted jobs as running.
type StartParams struct {
	InstanceID int64
	IDs        []int64
	Started    time.Time
}

// JobsStart moves jobs held by the instance from accepted to running, sets
// time_started and counts the attempt. It reports, per id in order, whether
// the row changed; a job no longer held by the instance as accepted is left
// alone and reported false.
func (s *Store) JobsStart(ctx context.Context, p StartParams) ([]bool, error) {
	if len(p.IDs) == 0 {
		return nil, nil
	}
	query := fmt.Sprintf("UPDATE %s SET status = 'running', time_started = ?, attempts = attempts + 1"+
		" WHERE id IN (%s) AND instance_id = ? AND status = 'accepted'", s.byID, placeholders(len(p.IDs)))
	args := append([]any{p.Started.Unix()}, int64Args(p.IDs)...)
	args = append(args, p.InstanceID)
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("marking %d jobs running: %w", len(p.IDs), translate(err))
	}
	if n, _ := res.RowsAffected(); int(n) == len(p.IDs) {
		return allTrue(len(p.IDs)), nil
	}
	return s.checkApplied(ctx, p.IDs, nil, p.InstanceID, StatusRunning)
}

// FinishParams records the outcomes of jobs the instance ran.
type FinishParams struct {
	InstanceID int64
	Outcomes   []Outcome
	// RecordedBy, when set, is written as the row's instance_id: a live
	// instance recording the outcome of a dead one's job (recovery) puts its
	// own id there, so the dead instance, should it wake up, can tell its
	// own later write from the recovery's and learns it did not apply.
	RecordedBy int64
}

// JobsFinish writes outcomes to rows the instance holds as running, for the
// attempt that ran: status done, result, return_code, sig, stdout, stderr and
// time_finished, as few statements as the packet size allows (one for a
// typical batch). It reports, per outcome in order, whether the row has it:
// false means someone else moved the row meanwhile (it was recovered as lost)
// and it was left alone. Output is fitted to the columns first: valid UTF-8
// in the column's charset, and cut with a note when too long.
func (s *Store) JobsFinish(ctx context.Context, p FinishParams) ([]bool, error) {
	applied := make([]bool, 0, len(p.Outcomes))
	for _, chunk := range s.chunkOutcomes(p.Outcomes) {
		ok, err := s.finishChunk(ctx, p.InstanceID, p.RecordedBy, chunk)
		if err != nil {
			return nil, err
		}
		applied = append(applied, ok...)
	}
	return applied, nil
}

// fitted is an Outcome ready for SQL.
type fitted struct {
	o              *Outcome
	stdout, stderr string
	sig            any
	code           any
}

// chunkOutcomes fits outcomes and groups them so one statement stays well
// under max_allowed_packet even with every byte escaped.
func (s *Store) chunkOutcomes(outs []Outcome) [][]fitted {
	var chunks [][]fitted
	var cur []fitted
	size := 0
	limit := (s.text.packet - statementSlack) / 2
	for i := range outs {
		o := &outs[i]
		f := fitted{o: o, stdout: fit(o.Stdout, s.text.stdout), stderr: fit(o.Stderr, s.text.stderr)}
		if o.Signal != "" {
			f.sig = fitShort(o.Signal, s.text.sig)
		}
		if o.ReturnCode != nil {
			f.code = *o.ReturnCode
		}
		n := 2*(len(f.stdout)+len(f.stderr)) + 256
		if len(cur) > 0 && (size+n > limit || len(cur) >= 500) {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += n
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func (s *Store) finishChunk(ctx context.Context, instance, recordedBy int64, fs []fitted) ([]bool, error) {
	ids := make([]int64, len(fs))
	attempts := make([]int, len(fs))
	for i, f := range fs {
		ids[i] = f.o.ID
		attempts[i] = f.o.Attempt
	}
	var b caseBuilder
	b.set("result", fs, func(f fitted) any { return string(f.o.Result) })
	b.set("return_code", fs, func(f fitted) any { return f.code })
	b.set("sig", fs, func(f fitted) any { return f.sig })
	b.set("stdout", fs, func(f fitted) any { return f.stdout })
	b.set("stderr", fs, func(f fitted) any { return f.stderr })
	b.set("time_finished", fs, func(f fitted) any { return f.o.Finished.Unix() })
	holder := instance
	if recordedBy != 0 {
		b.sets = append(b.sets, "instance_id = ?")
		b.args = append(b.args, recordedBy)
		holder = recordedBy
	}
	query := fmt.Sprintf("UPDATE %s SET status = 'done', %s WHERE id IN (%s) AND instance_id = ? AND status = 'running' AND attempts = %s",
		s.byID, b.sql(), placeholders(len(fs)), b.caseOf(fs, func(f fitted) any { return f.o.Attempt }))
	args := append(b.args, int64Args(ids)...)
	args = append(args, instance)
	args = append(args, b.caseArgs...)
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("recording %d finished jobs: %w", len(fs), translate(err))
	}
	if n, _ := res.RowsAffected(); int(n) == len(fs) {
		return allTrue(len(fs)), nil
	}
	return s.checkApplied(ctx, ids, attempts, holder, StatusDone)
}

// caseBuilder builds the assignments of a multi-row UPDATE with per-row
// values: "col = CASE id WHEN ? THEN ? … END", or "col = ?" when every row
// gets the same value (a batch of successful jobs differs only in its ids
// and, often, its output), which keeps the statement short for the server to
// parse.
type caseBuilder struct {
	sets     []string
	args     []any
	caseArgs []any
}

func (b *caseBuilder) set(col string, fs []fitted, val func(fitted) any) {
	expr, args := valueOf(fs, val)
	b.sets = append(b.sets, col+" = "+expr)
	b.args = append(b.args, args...)
}

func (b *caseBuilder) caseOf(fs []fitted, val func(fitted) any) string {
	expr, args := valueOf(fs, val)
	b.caseArgs = append(b.caseArgs, args...)
	return expr
}

// valueOf is the SQL for each row's value and its arguments: one
// placeholder when all rows share it, else a CASE on id. The values are
// strings, integers or nil, so == compares them.
func valueOf(fs []fitted, val func(fitted) any) (string, []any) {
	first := val(fs[0])
	same := true
	for _, f := range fs[1:] {
		if val(f) != first {
			same = false
			break
		}
	}
	if same {
		return "?", []any{first}
	}
	var sb strings.Builder
	args := make([]any, 0, 2*len(fs))
	sb.WriteString("CASE id")
	for _, f := range fs {
		sb.WriteString(" WHEN ? THEN ?")
		args = append(args, f.o.ID, val(f))
	}
	sb.WriteString(" END")
	return sb.String(), args
}

func (b *caseBuilder) sql() string { return strings.Join(b.sets, ", ") }

// checkApplied tells, after a fenced UPDATE changed fewer rows than asked,
// which rows now carry the instance's write: status want, still held by the
// instance and, when given, at the expected attempt. A write repeated after a
// commit whose answer was lost is thus reported as applied.
func (s *Store) checkApplied(ctx context.Context, ids []int64, attempts []int, instance int64, want Status) ([]bool, error) {
	var rows []struct {
		ID       int64  `db:"id"`
		Status   string `db:"status"`
		Instance *int64 `db:"instance_id"`
		Attempts int    `db:"attempts"`
	}
	query := fmt.Sprintf("SELECT id, status, instance_id, attempts FROM %s WHERE id IN (%s)", s.byID, placeholders(len(ids)))
	if err := s.db.SelectContext(ctx, &rows, query, int64Args(ids)...); err != nil {
		return nil, fmt.Errorf("checking which writes applied: %w", translate(err))
	}
	type state struct {
		status   string
		instance int64
		attempts int
	}
	by := map[int64]state{}
	for _, r := range rows {
		st := state{status: r.Status, attempts: r.Attempts}
		if r.Instance != nil {
			st.instance = *r.Instance
		}
		by[r.ID] = st
	}
	out := make([]bool, len(ids))
	for i, id := range ids {
		st, ok := by[id]
		out[i] = ok && st.status == string(want) && st.instance == instance && (attempts == nil || st.attempts == attempts[i])
	}
	return out, nil
}

func allTrue(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

// Requeue puts one job back to waiting.
type Requeue struct {
	ID      int64
	Attempt int      // with From running: the attempt that ran (fence)
	RunAt   int64    // unix seconds; 0: due now
	Output  *Outcome // when set, the row keeps this attempt's result and output
}

// RequeueParams requeues jobs held by an instance in status From.
type RequeueParams struct {
	InstanceID int64
	From       Status // accepted or running
	Jobs       []Requeue
}

// JobsRequeue puts jobs the instance holds back to waiting (a run-manual job
// back to manual), for retries and recovery: instance_id cleared, run_at as
// given, the attempt count kept, and with Output the last attempt's result and
// output kept in the row. It reports, per job in order, whether it applied.
func (s *Store) JobsRequeue(ctx context.Context, p RequeueParams) ([]bool, error) {
	applied := make([]bool, len(p.Jobs))
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		for i, j := range p.Jobs {
			ok, err := s.requeueOne(ctx, tx, p.InstanceID, p.From, j)
			if err != nil {
				return err
			}
			applied[i] = ok
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("requeueing %d jobs: %w", len(p.Jobs), err)
	}
	return applied, nil
}

func (s *Store) requeueOne(ctx context.Context, tx *sqlx.Tx, instance int64, from Status, j Requeue) (bool, error) {
	sets := "status = IF(manual, 'manual', 'waiting'), instance_id = NULL, manual = 0, run_at = ?"
	args := []any{j.RunAt}
	if o := j.Output; o != nil {
		var code, sig any
		if o.ReturnCode != nil {
			code = *o.ReturnCode
		}
		if o.Signal != "" {
			sig = fitShort(o.Signal, s.text.sig)
		}
		sets += ", result = ?, return_code = ?, sig = ?, stdout = ?, stderr = ?"
		args = append(args, string(o.Result), code, sig, fit(o.Stdout, s.text.stdout), fit(o.Stderr, s.text.stderr))
	}
	where := "id = ? AND instance_id = ? AND status = ?"
	args = append(args, j.ID, instance, from)
	if from == StatusRunning {
		where += " AND attempts = ?"
		args = append(args, j.Attempt)
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s", s.byID, sets, where), args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// JobsUnstart takes back a claim that marked jobs running (Bucket.Start)
// when the instance did not launch them after all (it began shutting down
// while the claim ran): back to waiting, with the attempt and start time
// taken back. Never pass it a job whose process was started. It returns how
// many it put back.
func (s *Store) JobsUnstart(ctx context.Context, instance int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	query := fmt.Sprintf("UPDATE %s SET status = 'waiting', instance_id = NULL, attempts = attempts - 1, time_started = 0"+
		" WHERE id IN (%s) AND instance_id = ? AND status = 'running'", s.byID, placeholders(len(ids)))
	res, err := s.db.ExecContext(ctx, query, append(int64Args(ids), instance)...)
	if err != nil {
		return 0, fmt.Errorf("taking back %d claimed jobs: %w", len(ids), translate(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// JobsRelease puts accepted (claimed, never started) jobs of the instance
// back to waiting, or to manual for run-manual jobs, as on shutdown. It
// returns how many it released.
func (s *Store) JobsRelease(ctx context.Context, instance int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	query := fmt.Sprintf("UPDATE %s SET status = IF(manual, 'manual', 'waiting'), instance_id = NULL, manual = 0"+
		" WHERE id IN (%s) AND instance_id = ? AND status = 'accepted'",
		s.byID, placeholders(len(ids)))
	res, err := s.db.ExecContext(ctx, query, append(int64Args(ids), instance)...)
	if err != nil {
		return 0, fmt.Errorf("releasing %d claimed jobs: %w", len(ids), translate(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ignoreUpdate marks one row ignored with a reason, fenced on its status.
const ignoreUpdate = "UPDATE %s SET status = 'ignored', time_finished = ?, stderr = ? WHERE id = ? AND status = ?"

// IgnoreParams marks one job ignored.
type IgnoreParams struct {
	ID         int64
	InstanceID int64  // the holder; 0 for an unclaimed (waiting or manual) row
	From       Status // the status the row must still have
	Reason     string
}

// JobIgnore marks a job ignored with its reason in stderr ("jobd: ignored:
// …"), fenced on its holder and status. It reports whether it applied.
func (s *Store) JobIgnore(ctx context.Context, p IgnoreParams) (bool, error) {
	query := fmt.Sprintf(ignoreUpdate, s.byID) + " AND instance_id <=> ?"
	var holder any
	if p.InstanceID != 0 {
		holder = p.InstanceID
	}
	reason := fit([]byte("jobd: ignored: "+p.Reason), s.text.stderr)
	res, err := s.db.ExecContext(ctx, query, s.now(), reason, p.ID, p.From, holder)
	if err != nil {
		return false, fmt.Errorf("ignoring job %d: %w", p.ID, translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// JobGet returns one job with every column jobd knows.
func (s *Store) JobGet(ctx context.Context, id int64) (Job, error) {
	var r jobRow
	err := s.db.GetContext(ctx, &r, fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", jobAllColumns, s.table), id)
	if err != nil {
		return Job{}, fmt.Errorf("job %d: %w", id, translate(err))
	}
	return r.job(), nil
}
