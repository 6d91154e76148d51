package jobd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jobd/jobd/store"
)

// spool keeps outcomes that could not be written to the database in files,
// one per outcome, so they survive a restart of jobd during a database
// outage. Files are written only once a write has failed, so a healthy
// database costs no disk I/O. At start, jobd writes the spooled outcomes of
// its previous incarnation, fenced on that incarnation's instance id, before
// anything else.
type spool struct {
	dir string // "" when disabled
	log *slog.Logger
}

// spooled is the file format: the outcome and who held the job.
type spooled struct {
	InstanceID int64         `json:"instance_id"`
	Outcome    store.Outcome `json:"outcome"`
}

func (s *spool) enabled() bool { return s != nil && s.dir != "" }

func (s *spool) path(o store.Outcome) string {
	return filepath.Join(s.dir, fmt.Sprintf("outcome-%d-%d.json", o.ID, o.Attempt))
}

// save writes the outcomes not on disk yet, durably (temp file, fsync,
// rename), and marks them spooled.
func (s *spool) save(instance int64, fs []finishReq) {
	if !s.enabled() {
		return
	}
	for i := range fs {
		if fs[i].spooled {
			continue
		}
		if err := s.write(spooled{InstanceID: instance, Outcome: fs[i].out}); err != nil {
			s.log.Error("could not spool an outcome; it stays in memory only", "job", fs[i].out.ID, "err", err)
			continue
		}
		fs[i].spooled = true
	}
}

func (s *spool) write(sp spooled) error {
	data, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	final := s.path(sp.Outcome)
	tmp, err := os.CreateTemp(s.dir, ".outcome-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// remove deletes the files of outcomes now in the database.
func (s *spool) remove(fs []finishReq) {
	if !s.enabled() {
		return
	}
	for _, f := range fs {
		if f.spooled {
			if err := os.Remove(s.path(f.out)); err != nil && !os.IsNotExist(err) {
				s.log.Warn("could not remove a spooled outcome", "job", f.out.ID, "err", err)
			}
		}
	}
}

// open creates the directory and checks it is writable.
func (s *spool) open() error {
	if !s.enabled() {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("spool_dir: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("spool_dir %s is not writable: %w", s.dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// replay writes every spooled outcome, fenced on the instance that ran it,
// and deletes the files the database has taken (or refused: the job was
// recovered meanwhile). It returns how many were applied.
func (s *spool) replay(ctx context.Context, st *store.Store) (int, error) {
	if !s.enabled() {
		return 0, nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("reading spool_dir: %w", err)
	}
	byInstance := map[int64][]spooled{}
	files := map[int64][]string{}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "outcome-") && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(s.dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", path, err)
		}
		var sp spooled
		if err := json.Unmarshal(data, &sp); err != nil || sp.Outcome.ID == 0 {
			s.log.Error("unreadable spool file; moved aside", "file", path, "err", err)
			_ = os.Rename(path, path+".bad")
			continue
		}
		byInstance[sp.InstanceID] = append(byInstance[sp.InstanceID], sp)
		files[sp.InstanceID] = append(files[sp.InstanceID], path)
	}
	applied := 0
	for inst, sps := range byInstance {
		outs := make([]store.Outcome, len(sps))
		for i, sp := range sps {
			outs[i] = sp.Outcome
		}
		ok, err := st.JobsFinish(ctx, store.FinishParams{InstanceID: inst, Outcomes: outs})
		if err != nil {
			return applied, fmt.Errorf("writing spooled outcomes: %w", err)
		}
		for i, path := range files[inst] {
			if ok[i] {
				applied++
			} else {
				s.log.Warn("spooled outcome not applied: the job was recovered meanwhile", "job", outs[i].ID)
			}
			_ = os.Remove(path)
		}
	}
	return applied, nil
}
