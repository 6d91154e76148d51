package master

import (
	"context"
	"encoding/json"

	"github.com/jobd/jobd/rpc"
)

// statusAnswer answers the master's status. It has rpc.MasterStatus's
// shape, with each worker's own status passed through as it came, so keys
// a worker adds (ours, or a newer original's) reach the client.
type statusAnswer struct {
	Workers     []workerInfo    `json:"workers"`
	MemoryUsage rpc.MemoryUsage `json:"memoryUsage"`
	// RememberedPokes (an extension) lists poked targets that no worker
	// served, waiting for one to register.
	RememberedPokes []string `json:"rememberedPokes,omitempty"`
}

// workerInfo is rpc.WorkerInfo with the worker's status kept raw.
type workerInfo struct {
	Name              string          `json:"name"`
	RemoteAddr        string          `json:"remoteAddr"`
	RemotePort        int             `json:"remotePort"`
	Targets           []string        `json:"targets"`
	WorkerStatus      json.RawMessage `json:"workerStatus,omitempty"`
	WorkerStatusError string          `json:"workerStatusError,omitempty"`
}

// status lists the registered workers; with pollWorkers each one's own
// status is asked for at once and waited for up to request_timeout, so a
// stuck worker shows as workerStatusError instead of holding up the answer.
func (m *Master) status(ctx context.Context, pollWorkers bool) *statusAnswer {
	ws := m.reg.list()
	ans := &statusAnswer{Workers: make([]workerInfo, len(ws)), RememberedPokes: m.reg.waitingTargets()}
	for i, w := range ws {
		ans.Workers[i] = workerInfo{Name: w.name, RemoteAddr: w.host, RemotePort: w.port, Targets: w.targets}
	}
	if pollWorkers {
		rs := make([]routed, len(ws))
		for i, w := range ws {
			rs[i] = routed{w: w}
		}
		each(ctx, rs, func(ctx context.Context, i int, r routed) error {
			var raw json.RawMessage
			err := m.workerStatus(ctx, r.w, &raw)
			info := &ans.Workers[i]
			switch {
			case err != nil:
				info.WorkerStatusError = m.describe(r.w, err)
			case len(raw) == 0 || string(raw) == "null":
				info.WorkerStatusError = "worker " + r.w.String() + ": empty status answer"
			default:
				info.WorkerStatus = raw
			}
			return nil
		})
	}
	ans.MemoryUsage = rpc.ReadMemoryUsage()
	return ans
}

// workerStatus asks w for its status, waiting up to request_timeout.
func (m *Master) workerStatus(ctx context.Context, w *worker, reply any) error {
	ctx, cancel := m.callTimeout(ctx)
	defer cancel()
	return w.conn.Call(ctx, rpc.ReqStatus, nil, reply)
}
