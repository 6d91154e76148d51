package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Bucket asks for up to Limit waiting jobs of one target and slot. Slot ""
// is the target's own pool: jobs whose slot is NULL or empty. The first
// Start of them (in claim order) are marked running at once, with
// time_started and their attempt counted, because the caller launches them
// right away; the rest are accepted (held, not started).
type Bucket struct {
	Target string
	Slot   string
	Limit  int
	Start  int
	// After, when set, resumes after the last job the previous claim of
	// this bucket took, in claim order. Draining a queue, the entries of
	// just-claimed rows stay in the index (delete-marked) until InnoDB's
	// purge removes them, and a claim from the head would walk over all of
	// them; a claim from the cursor does not. Rows before the cursor that
	// became eligible since (a new job of higher priority, a retry come
	// due) are found by the next claim without a cursor.
	After *Cursor
}

// Cursor is a position in claim order, where a claim that got all it asked
// for stopped (Claimed.Next).
type Cursor struct {
	Priority int
	ID       int64
	// NullSlot and EmptySlot, for the target's own pool: the claim that
	// stopped here found rows whose slot is NULL, and rows whose slot is ''
	// (both mean "no slot"). A claim from the cursor asks only for the kinds
	// it found. The two are separate ranges of jobd_claim_idx, and a range
	// with no live entry costs the server a walk over every delete-marked
	// entry that follows it in the index (draining a queue: the rows claimed
	// or finished since the last purge), with a primary-key lookup for each:
	// most of a claim's cost when every job's slot is of the other kind.
	// Rows of the other kind that arrive later are found by the next claim
	// from the head (any poke or poll), as are rows that arrive before the
	// cursor.
	NullSlot, EmptySlot bool
}

// slotConds are the conditions a claim of the target's own pool asks for,
// from the head or from a cursor.
func (c *Cursor) slotConds() []string {
	switch {
	case c == nil || c.NullSlot == c.EmptySlot:
		return []string{"slot IS NULL", "slot = ''"}
	case c.NullSlot:
		return []string{"slot IS NULL"}
	default:
		return []string{"slot = ''"}
	}
}

// Claimed is what JobsClaim took.
type Claimed struct {
	// Jobs are the claimed jobs, bucket by bucket, each in claim order.
	Jobs []Job
	// Next holds, per bucket of the request, where the next claim of that
	// bucket resumes (its After): after the last job it took, when it took
	// as many as its Limit; nil when it took fewer (the queue may be empty,
	// the next claim starts from the head).
	Next []*Cursor
}

// afterCursor limits a claim to rows after a cursor; with the equality on
// (status, target, slot) it is a range on jobd_claim_idx, still in order.
const afterCursor = " AND (priority < ? OR (priority = ? AND id > ?))"

// ClaimParams says who claims what.
type ClaimParams struct {
	InstanceID int64
	Buckets    []Bucket
}

// claimSelect picks the next waiting jobs of one target and slot in claim
// order. With the equality on (status, target, slot) it reads
// jobd_claim_idx in order: no filesort, no scan beyond what it returns
// (TestClaimUsesIndex checks the plan). The index is named (Store.claimFrom):
// left to choose, the optimizer spent 0.1–0.2 ms per SELECT weighing the
// other indexes on status before taking this one, more than running it.
// "slot IS NULL" and "slot = ”" are
// asked separately because an OR of the two makes the server sort.
const claimSelect = "(SELECT " + jobColumns + " FROM %s WHERE status = 'waiting' AND target = ? AND %s AND run_at <= ?%s" +
	" ORDER BY priority DESC, id LIMIT ? FOR UPDATE SKIP LOCKED)"

// claimUpdate marks the selected rows as held by the instance. They are
// locked by the SELECT, so the status test is only a belt to the braces.
const claimUpdate = "UPDATE %s SET status = 'accepted', instance_id = ?, manual = ? WHERE id IN (%s) AND status = ?"

// claimStartUpdate marks selected rows as held and running: claimed and
// launched in one step.
const claimStartUpdate = "UPDATE %s SET status = 'running', instance_id = ?, manual = 0, time_started = ?, attempts = attempts + 1" +
	" WHERE id IN (%s) AND status = 'waiting'"

// JobsClaim claims the next eligible waiting jobs of each bucket for an
// instance, in one short transaction, and returns them bucket by bucket,
// each in claim order (higher priority first, then older id): the first
// Start of a bucket as running, the others as accepted. Attempts is the
// count before this claim. Jobs whose run_at is in the future are skipped.
// Jobs locked by a concurrent claimer are skipped, never waited for: any
// number of instances may claim the same targets at once and each job goes
// to exactly one.
func (s *Store) JobsClaim(ctx context.Context, p ClaimParams) (Claimed, error) {
	var parts []string
	var args []any
	now := s.now()
	for _, b := range p.Buckets {
		if b.Limit <= 0 {
			continue
		}
		after, cur := "", []any(nil)
		if b.After != nil {
			after, cur = afterCursor, []any{b.After.Priority, b.After.Priority, b.After.ID}
		}
		if b.Slot == "" {
			for _, cond := range b.After.slotConds() {
				parts = append(parts, fmt.Sprintf(claimSelect, s.claimFrom, cond, after))
				args = append(append(append(args, b.Target, now), cur...), b.Limit)
			}
		} else {
			parts = append(parts, fmt.Sprintf(claimSelect, s.claimFrom, "slot = ?", after))
			args = append(append(append(args, b.Target, b.Slot, now), cur...), b.Limit)
		}
	}
	out := Claimed{Next: make([]*Cursor, len(p.Buckets))}
	if len(parts) == 0 {
		return out, nil
	}
	query := strings.Join(parts, " UNION ALL ")
	var (
		claimed   []Job
		run, hold []int64
	)
	err := s.retryTx(ctx, func() error {
		_, err := s.claimTx(ctx, query, args, func(rows []jobRow) []claimStmt {
			claimed, out.Next = pickBuckets(rows, p.Buckets)
			run, hold = run[:0], hold[:0]
			for _, j := range claimed {
				if j.Status == StatusRunning {
					run = append(run, j.ID)
				} else {
					hold = append(hold, j.ID)
				}
			}
			var stmts []claimStmt
			if len(run) > 0 {
				stmts = append(stmts, claimStmt{fmt.Sprintf(claimStartUpdate, s.byID, placeholders(len(run))),
					append([]any{p.InstanceID, now}, int64Args(run)...), len(run)})
			}
			if len(hold) > 0 {
				args := append([]any{p.InstanceID, false}, int64Args(hold)...)
				stmts = append(stmts, claimStmt{fmt.Sprintf(claimUpdate, s.byID, placeholders(len(hold))),
					append(args, string(StatusWaiting)), len(hold)})
			}
			return stmts
		})
		if errors.Is(err, errClaimChanged) {
			// Give back what the committed claim took rather than leave
			// rows held by nobody.
			_, _ = s.JobsUnstart(ctx, p.InstanceID, run)
			_, _ = s.JobsRelease(ctx, p.InstanceID, hold)
			return fmt.Errorf("%w; gave the claimed rows back", err)
		}
		return err
	})
	if err != nil {
		return Claimed{}, fmt.Errorf("claiming jobs: %w", err)
	}
	for i := range claimed {
		claimed[i].InstanceID = p.InstanceID
		if claimed[i].Status == StatusRunning {
			claimed[i].TimeStarted = now
		}
	}
	out.Jobs = claimed
	return out, nil
}

// pickBuckets keeps at most Limit rows per bucket, in claim order, and says
// where the next claim of each bucket resumes (Claimed.Next). The target's
// own pool is read as two sub-queries (NULL and empty slot), merged here.
func pickBuckets(rows []jobRow, buckets []Bucket) (picked []Job, next []*Cursor) {
	type key struct{ target, slot string }
	by := map[key][]Job{}
	type kinds struct{ null, empty bool }
	seen := map[string]kinds{} // targets' own pools: the kinds of empty slot found
	for i := range rows {
		j := rows[i].job()
		k := key{j.Target, j.Slot}
		by[k] = append(by[k], j)
		if j.Slot == "" {
			ks := seen[j.Target]
			if rows[i].Slot.Valid {
				ks.empty = true
			} else {
				ks.null = true
			}
			seen[j.Target] = ks
		}
	}
	next = make([]*Cursor, len(buckets))
	for bi, b := range buckets {
		jobs := by[key{b.Target, b.Slot}]
		slices.SortFunc(jobs, func(a, b Job) int {
			if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		if len(jobs) > b.Limit {
			jobs = jobs[:b.Limit]
		}
		for i := range jobs {
			jobs[i].Status = StatusAccepted
			if i < b.Start {
				jobs[i].Status = StatusRunning
			}
		}
		if n := len(jobs); n > 0 && n == b.Limit {
			next[bi] = &Cursor{Priority: jobs[n-1].Priority, ID: jobs[n-1].ID}
			if b.Slot == "" {
				ks := seen[b.Target]
				next[bi].NullSlot, next[bi].EmptySlot = ks.null, ks.empty
			}
		}
		picked = append(picked, jobs...)
	}
	return picked, next
}

// ManualClaimParams names manual jobs to claim for run-manual, and what the
// instance serves: each served target with its configured slots.
type ManualClaimParams struct {
	InstanceID int64
	IDs        []int64
	Targets    map[string][]string
}

// ManualClaim is the fate of one requested id: Job is set when it was
// claimed; Err says why not (ErrNotFound, ErrNotManual, ErrNotServed, or
// ErrUnknownSlot, in which case the row was marked ignored).
type ManualClaim struct {
	ID  int64
	Job *Job
	Err error
}

// JobsClaimManual claims the listed jobs for run-manual. Only rows in status
// manual are taken; any other row is left untouched (run-manual never steals
// a waiting job or rewrites a finished one). A manual job of a served target
// naming a slot the target lacks is marked ignored with the reason.
func (s *Store) JobsClaimManual(ctx context.Context, p ManualClaimParams) ([]ManualClaim, error) {
	if len(p.IDs) == 0 {
		return nil, nil
	}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE id IN (%s) FOR UPDATE", jobColumns, s.byID, placeholders(len(p.IDs)))
	var out []ManualClaim
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		out = out[:0]
		var rows []jobRow
		if err := tx.SelectContext(ctx, &rows, query, int64Args(p.IDs)...); err != nil {
			return err
		}
		found := map[int64]Job{}
		for i := range rows {
			found[rows[i].ID] = rows[i].job()
		}
		var accept, ignore []int64
		reasons := map[int64]string{}
		for _, id := range p.IDs {
			j, ok := found[id]
			switch {
			case !ok:
				out = append(out, ManualClaim{ID: id, Err: fmt.Errorf("job %d: %w", id, ErrNotFound)})
			case j.Status != StatusManual:
				out = append(out, ManualClaim{ID: id, Err: fmt.Errorf("job %d: %w (it is %s)", id, ErrNotManual, j.Status)})
			default:
				slots, served := p.Targets[j.Target]
				switch {
				case !served:
					out = append(out, ManualClaim{ID: id, Err: fmt.Errorf("job %d: %w: target %q", id, ErrNotServed, j.Target)})
				case j.Slot != "" && !slices.Contains(slots, j.Slot):
					reason := fmt.Sprintf("slot %q is not configured for target %q", j.Slot, j.Target)
					reasons[id] = reason
					ignore = append(ignore, id)
					out = append(out, ManualClaim{ID: id, Err: fmt.Errorf("job %d: %w: %s; marked ignored", id, ErrUnknownSlot, reason)})
				default:
					j.Status = StatusAccepted
					j.InstanceID = p.InstanceID
					j.Manual = true
					out = append(out, ManualClaim{ID: id, Job: &j})
					accept = append(accept, id)
				}
			}
			delete(found, id) // a duplicated id is reported once
		}
		if len(accept) > 0 {
			args := append([]any{p.InstanceID, true}, int64Args(accept)...)
			args = append(args, StatusManual)
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(claimUpdate, s.byID, placeholders(len(accept))), args...); err != nil {
				return err
			}
		}
		for _, id := range ignore {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(ignoreUpdate, s.byID), s.now(), "jobd: ignored: "+reasons[id], id, StatusManual); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming manual jobs: %w", err)
	}
	return out, nil
}

// IgnoreSlotsParams names a served target and the slots configured for it.
type IgnoreSlotsParams struct {
	Target string
	Slots  []string
	Limit  int
}

// JobsIgnoreUnknownSlots marks waiting jobs of a target that name a slot the
// target lacks as ignored, with the reason in stderr, and returns their ids.
// Such jobs would otherwise wait forever. NOT IN becomes index ranges, so
// only the offending rows are read.
func (s *Store) JobsIgnoreUnknownSlots(ctx context.Context, p IgnoreSlotsParams) ([]int64, error) {
	if p.Limit <= 0 {
		p.Limit = 1000
	}
	query := fmt.Sprintf("SELECT id FROM %s WHERE status = 'waiting' AND target = ? AND slot IS NOT NULL AND slot <> ''", s.table)
	args := []any{p.Target}
	if len(p.Slots) > 0 {
		query += fmt.Sprintf(" AND slot NOT IN (%s)", placeholders(len(p.Slots)))
		for _, sl := range p.Slots {
			args = append(args, sl)
		}
	}
	query += " LIMIT ? FOR UPDATE SKIP LOCKED"
	args = append(args, p.Limit)
	var ids []int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		ids = ids[:0]
		if err := tx.SelectContext(ctx, &ids, query, args...); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		upd := fmt.Sprintf("UPDATE %s SET status = 'ignored', time_finished = ?,"+
			" stderr = CONCAT('jobd: ignored: slot \"', slot, '\" is not configured for target \"', target, '\"')"+
			" WHERE id IN (%s) AND status = 'waiting'", s.byID, placeholders(len(ids)))
		_, err := tx.ExecContext(ctx, upd, append([]any{s.now()}, int64Args(ids)...)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ignoring jobs of unknown slots of %q: %w", p.Target, err)
	}
	return ids, nil
}

// JobsEligible reports whether a bucket has waiting jobs due now, without
// locking anything. A claim that came back short may have skipped rows
// another instance held locked at that moment, and that instance may have
// released some of them: this tells a short claim from an empty queue.
func (s *Store) JobsEligible(ctx context.Context, target, slot string) (bool, error) {
	now := s.now()
	probe := "(SELECT 1 FROM %s WHERE status = 'waiting' AND target = ? AND %s AND run_at <= ? LIMIT 1)"
	var query string
	var args []any
	if slot == "" {
		query = fmt.Sprintf(probe, s.claimFrom, "slot IS NULL") + " UNION ALL " + fmt.Sprintf(probe, s.claimFrom, "slot = ''")
		args = []any{target, now, target, now}
	} else {
		query = fmt.Sprintf(probe, s.claimFrom, "slot = ?")
		args = []any{target, slot, now}
	}
	var found []int
	if err := s.db.SelectContext(ctx, &found, query, args...); err != nil {
		return false, fmt.Errorf("looking for waiting jobs of %q: %w", target, translate(err))
	}
	return len(found) > 0, nil
}

// JobsNextDue returns the earliest run_at after now among waiting jobs of the
// targets, so a worker can wake when a delayed job comes due. ok is false
// when no delayed job waits. One index dive per target (jobd_due_idx).
func (s *Store) JobsNextDue(ctx context.Context, targets []string) (due int64, ok bool, err error) {
	if len(targets) == 0 {
		return 0, false, nil
	}
	now := s.now()
	parts := make([]string, len(targets))
	args := make([]any, 0, 2*len(targets))
	for i, t := range targets {
		parts[i] = fmt.Sprintf("(SELECT MIN(run_at) AS due FROM %s WHERE status = 'waiting' AND target = ? AND run_at > ?)", s.table)
		args = append(args, t, now)
	}
	var mins []sql.NullInt64
	if err := s.db.SelectContext(ctx, &mins, strings.Join(parts, " UNION ALL "), args...); err != nil {
		return 0, false, fmt.Errorf("finding the next delayed job: %w", translate(err))
	}
	for _, m := range mins {
		if m.Valid && (!ok || m.Int64 < due) {
			due, ok = m.Int64, true
		}
	}
	return due, ok, nil
}

// PlanRow is one row of EXPLAIN.
type PlanRow struct {
	Table string
	Type  string // access type: ref, range, ALL (a full scan)…
	Key   string // the index used
	Rows  int64
	Extra string // "Using filesort" means the server sorts
}

// ClaimPlan explains the claim queries for one target and slot, as jobd
// runs them, from the head of the queue and from a cursor. A healthy table
// shows jobd_claim_idx, no filesort and no full scan; an operator can check a
// production table with it.
func (s *Store) ClaimPlan(ctx context.Context, target, slot string) ([]PlanRow, error) {
	var queries []string
	var args [][]any
	now := s.now()
	for _, after := range []string{"", afterCursor} {
		var cur []any
		if after != "" {
			cur = []any{0, 0, 1}
		}
		if slot == "" {
			for _, cond := range []string{"slot IS NULL", "slot = ''"} {
				queries = append(queries, fmt.Sprintf(claimSelect, s.claimFrom, cond, after))
				args = append(args, append(append([]any{target, now}, cur...), 100))
			}
		} else {
			queries = append(queries, fmt.Sprintf(claimSelect, s.claimFrom, "slot = ?", after))
			args = append(args, append(append([]any{target, slot, now}, cur...), 100))
		}
	}
	var out []PlanRow
	for i, q := range queries {
		plan, err := s.explain(ctx, strings.Trim(q, "()"), args[i]...)
		if err != nil {
			return nil, fmt.Errorf("explaining the claim query: %w", err)
		}
		out = append(out, plan...)
	}
	return out, nil
}

// explain returns EXPLAIN's rows for one query.
func (s *Store) explain(ctx context.Context, query string, args ...any) ([]PlanRow, error) {
	rows, err := s.db.QueryxContext(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []PlanRow
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return nil, err
		}
		str := func(k string) string {
			if b, ok := m[k].([]byte); ok {
				return string(b)
			}
			if v, ok := m[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
			return ""
		}
		var n int64
		fmt.Sscan(str("rows"), &n)
		out = append(out, PlanRow{Table: str("table"), Type: str("type"), Key: str("key"), Rows: n, Extra: str("Extra")})
	}
	return out, rows.Err()
}
