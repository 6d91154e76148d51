package master

import (
	"context"
	"strconv"

	"github.com/jobd/jobd/rpc"
)

// sendSignal signals jobs on the workers that run them. The master does not
// know which worker holds a job, so every worker serving a job's target is
// asked (each with only its jobs, all at once, up to request_timeout) and
// the answers are merged: a job is true when any worker's signal reached a
// process of it. Every job gets an entry; a job no worker answered true for
// (not running, unserved target, its worker failed) is false.
func (m *Master) sendSignal(ctx context.Context, jobs []rpc.SignalJob) rpc.SendSignalReply {
	ans := rpc.SendSignalReply{}
	var rs []routed
	var perWorker []map[int64]int
	for _, w := range m.reg.list() {
		mine := map[int64]int{}
		for _, j := range jobs {
			if w.serves[j.Target] {
				mine[j.ID] = j.Signal
			}
		}
		if len(mine) > 0 {
			rs = append(rs, routed{w: w})
			perWorker = append(perWorker, mine)
		}
	}
	for _, j := range jobs {
		ans[strconv.FormatInt(j.ID, 10)] = false
	}
	replies := make([]rpc.SendSignalReply, len(rs))
	errs := each(ctx, rs, func(ctx context.Context, i int, r routed) error {
		ctx, cancel := m.callTimeout(ctx)
		defer cancel()
		var err error
		replies[i], err = r.w.conn.SendSignal(ctx, perWorker[i])
		return err
	})
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			m.log.Warn("send-signal failed on a worker", "worker", rs[i].w.String(), "err", err)
			continue
		}
		for key, ok := range replies[i] {
			id := parseID(key)
			if _, asked := perWorker[i][id]; asked && ok {
				ans[strconv.FormatInt(id, 10)] = true
			}
		}
	}
	m.log.Info("send-signal", "jobs", len(jobs), "workers", len(rs), "failed", failed)
	return ans
}

// parseID reads a job id key; 0 for a key that is not one.
func parseID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return id
}
