package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Instance is one jobd process that registered with the database.
type Instance struct {
	ID          int64
	Name        string
	Host        string
	PID         int
	Version     string
	Targets     []string
	State       string // alive, stopped, lost
	StartedAt   time.Time
	HeartbeatAt time.Time
}

type instanceRow struct {
	ID          int64  `db:"id"`
	Name        string `db:"name"`
	Host        string `db:"host"`
	PID         int    `db:"pid"`
	Version     string `db:"version"`
	Targets     string `db:"targets"`
	State       string `db:"state"`
	StartedAt   int64  `db:"started_at"`
	HeartbeatAt int64  `db:"heartbeat_at"`
}

const instanceColumns = "id, name, host, pid, version, targets, state, started_at, heartbeat_at"

func (r instanceRow) instance() Instance {
	in := Instance{ID: r.ID, Name: r.Name, Host: r.Host, PID: r.PID, Version: r.Version, State: r.State,
		StartedAt: time.UnixMilli(r.StartedAt), HeartbeatAt: time.UnixMilli(r.HeartbeatAt)}
	_ = json.Unmarshal([]byte(r.Targets), &in.Targets)
	return in
}

// InstanceRegisterParams describe a starting jobd.
type InstanceRegisterParams struct {
	Name    string
	Host    string
	PID     int
	Version string
	Targets []string
}

// InstanceRegister records a new instance as alive and returns its id, the
// value jobd writes into instance_id of the rows it claims.
func (s *Store) InstanceRegister(ctx context.Context, p InstanceRegisterParams) (int64, error) {
	targets, _ := json.Marshal(p.Targets)
	now := s.clock.Now().UnixMilli()
	res, err := s.db.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (name, host, pid, version, targets, state, started_at, heartbeat_at)"+
		" VALUES (?, ?, ?, ?, ?, 'alive', ?, ?)", s.instances), p.Name, p.Host, p.PID, p.Version, string(targets), now, now)
	if err != nil {
		return 0, fmt.Errorf("registering instance: %w", translate(err))
	}
	return res.LastInsertId()
}

// InstanceHeartbeatParams refresh an instance's liveness and targets.
type InstanceHeartbeatParams struct {
	ID      int64
	Targets []string
}

// InstanceHeartbeat writes the instance's heartbeat. It returns
// ErrInstanceLost when another instance has declared it lost meanwhile: its
// jobs were recovered, and its fenced writes will no longer apply.
func (s *Store) InstanceHeartbeat(ctx context.Context, p InstanceHeartbeatParams) error {
	targets, _ := json.Marshal(p.Targets)
	res, err := s.db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET heartbeat_at = ?, targets = ? WHERE id = ? AND state = 'alive'", s.instances),
		s.clock.Now().UnixMilli(), string(targets), p.ID)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance %d: %w", p.ID, ErrInstanceLost)
	}
	return nil
}

// InstanceStop marks an instance as cleanly stopped.
func (s *Store) InstanceStop(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET state = 'stopped', stopped_at = ? WHERE id = ? AND state = 'alive'", s.instances),
		s.clock.Now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("marking instance %d stopped: %w", id, translate(err))
	}
	return nil
}

// InstanceMarkLost declares an alive instance lost. Only one caller wins
// (the row is fenced on state alive); it reports whether this one did.
func (s *Store) InstanceMarkLost(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET state = 'lost', stopped_at = ? WHERE id = ? AND state = 'alive'", s.instances),
		s.clock.Now().UnixMilli(), id)
	if err != nil {
		return false, fmt.Errorf("marking instance %d lost: %w", id, translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// InstancesStale lists alive instances whose heartbeat is older than
// lostAfter, other than the caller.
func (s *Store) InstancesStale(ctx context.Context, lostAfter time.Duration, exclude int64) ([]Instance, error) {
	cutoff := s.clock.Now().Add(-lostAfter).UnixMilli()
	return s.instancesWhere(ctx, "state = 'alive' AND heartbeat_at < ? AND id <> ?", cutoff, exclude)
}

// InstancesPrevious lists other instances of the same name and host still
// marked alive: earlier incarnations of a restarted jobd.
func (s *Store) InstancesPrevious(ctx context.Context, name, host string, exclude int64) ([]Instance, error) {
	return s.instancesWhere(ctx, "name = ? AND host = ? AND state = 'alive' AND id <> ?", name, host, exclude)
}

// InstanceGet returns one instance.
func (s *Store) InstanceGet(ctx context.Context, id int64) (Instance, error) {
	ins, err := s.instancesWhere(ctx, "id = ?", id)
	if err != nil {
		return Instance{}, err
	}
	if len(ins) == 0 {
		return Instance{}, fmt.Errorf("instance %d: %w", id, ErrNotFound)
	}
	return ins[0], nil
}

func (s *Store) instancesWhere(ctx context.Context, where string, args ...any) ([]Instance, error) {
	var rows []instanceRow
	err := s.db.SelectContext(ctx, &rows, fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY id", instanceColumns, s.instances, where), args...)
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", translate(err))
	}
	out := make([]Instance, len(rows))
	for i, r := range rows {
		out[i] = r.instance()
	}
	return out, nil
}

// JobsHeldByDead lists the accepted and running jobs held by instances that
// are not alive (lost or stopped), or alive with a heartbeat older than
// lostAfter, leaving out the caller's own. These are the jobs recovery
// handles; each recovery write is fenced on the dead holder, so two
// recoverers never both apply.
func (s *Store) JobsHeldByDead(ctx context.Context, lostAfter time.Duration, exclude int64, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 1000
	}
	cutoff := s.clock.Now().Add(-lostAfter).UnixMilli()
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, s.heldByDeadQuery(), cutoff, exclude, limit); err != nil {
		return nil, fmt.Errorf("finding jobs of dead instances: %w", translate(err))
	}
	out := make([]Job, len(rows))
	for i := range rows {
		out[i] = rows[i].job()
	}
	return out, nil
}

// The jobs an instance holds are found by status: no index leads with
// instance_id (one that did would be rewritten at every claim and every
// finish, for queries that run at start-up and during recovery), while the
// accepted and running rows are few, at most what the fleet runs at once,
// and every status index has them at its front.

// heldByDeadQuery reads the jobs held by dead instances: arguments the
// heartbeat cutoff, the instance to leave out, the limit.
func (s *Store) heldByDeadQuery() string {
	cols := "j." + strings.ReplaceAll(jobColumns, ", ", ", j.")
	return fmt.Sprintf("SELECT %s FROM %s j JOIN %s i ON i.id = j.instance_id"+
		" WHERE j.status IN ('accepted', 'running') AND (i.state <> 'alive' OR i.heartbeat_at < ?) AND i.id <> ?"+
		" ORDER BY j.id LIMIT ?", cols, s.table, s.instances)
}

// heldByQuery reads the jobs one instance holds: argument the instance.
func (s *Store) heldByQuery() string {
	return fmt.Sprintf("SELECT %s FROM %s WHERE status IN ('accepted', 'running') AND instance_id = ? ORDER BY id", jobColumns, s.table)
}

// JobsHeldBy lists the accepted and running jobs of one instance.
func (s *Store) JobsHeldBy(ctx context.Context, instance int64) ([]Job, error) {
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, s.heldByQuery(), instance); err != nil {
		return nil, fmt.Errorf("finding jobs of instance %d: %w", instance, translate(err))
	}
	out := make([]Job, len(rows))
	for i := range rows {
		out[i] = rows[i].job()
	}
	return out, nil
}
