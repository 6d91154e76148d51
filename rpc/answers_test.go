package rpc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadMemoryUsage(t *testing.T) {
	t.Parallel()
	m := ReadMemoryUsage()
	require.Positive(t, m.RSS, "from /proc/self/statm")
	require.Positive(t, m.HeapUsed)
	require.GreaterOrEqual(t, m.HeapTotal, m.HeapUsed)
}

// Our answers keep the original's keys; extensions appear only when set.
func TestAnswerShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{WorkerStatus{
			Targets:     map[string]TargetStatus{"t1": {Concurrency: 5, Length: 2}},
			MemoryUsage: MemoryUsage{RSS: 12345678},
		}, `{"targets":{"t1":{"paused":false,"concurrency":5,"length":2}},"jobPromisesCount":0,"memoryUsage":{"rss":12345678,"heapTotal":0,"heapUsed":0}}`},
		{WorkerStatus{
			Targets:       map[string]TargetStatus{"t1": {Running: new(1), Queued: new(0), Slots: map[string]SlotStatus{"s": {Concurrency: 2, Running: 1}}}},
			Name:          "web-3",
			InstanceID:    4,
			Version:       "1.0",
			UptimeSeconds: 1.5,
			Database:      &DatabaseStatus{State: "down", Error: "refused", PendingOutcomes: 3},
		}, `{"targets":{"t1":{"paused":false,"concurrency":0,"length":0,"running":1,"queued":0,"slots":{"s":{"concurrency":2,"running":1,"queued":0}}}},"jobPromisesCount":0,"memoryUsage":{"rss":0,"heapTotal":0,"heapUsed":0},"name":"web-3","instanceId":4,"version":"1.0","uptime":1.5,"database":{"state":"down","error":"refused","pendingOutcomes":3}}`},
		{JobResult{Result: "fail", Signal: new("SIGTERM")}, `{"result":"fail","code":null,"signal":"SIGTERM","stdout":"","stderr":""}`},
		{RunManualReply{}, `{}`},
		{MasterStatus{Workers: []WorkerInfo{{Name: "w", Targets: []string{"a"}}}}, `{"workers":[{"name":"w","remoteAddr":"","remotePort":0,"targets":["a"]}],"memoryUsage":{"rss":0,"heapTotal":0,"heapUsed":0}}`},
	} {
		b, err := json.Marshal(tc.v)
		require.NoError(t, err)
		require.JSONEq(t, tc.want, string(b))
		require.Equal(t, tc.want, string(b))
	}
}
