package master

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// holding makes a fake worker report true for the jobs it runs.
func holding(f *fakeWorker, ids ...int64) {
	f.sendSignal = func(_ context.Context, jobs map[int64]int) (any, error) {
		out := map[string]bool{}
		for id := range jobs {
			out[fmt.Sprint(id)] = false
		}
		for _, id := range ids {
			if _, ok := jobs[id]; ok {
				out[fmt.Sprint(id)] = true
			}
		}
		return out, nil
	}
}

func TestSendSignalReachesTheWorkerRunningTheJob(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	w1 := newFake(t, m.addr(), "w1", "a")
	w2 := newFake(t, m.addr(), "w2", "a", "b")
	w3 := newFake(t, m.addr(), "w3", "c")
	holding(w1)
	holding(w2, 7, 9)
	holding(w3, 7) // not asked about 7: it does not serve a
	reply, err := client(t, m.addr(), "").MasterSendSignal(ctxFor(t, 10*time.Second), []rpc.SignalJob{
		{ID: 7, Signal: 15, Target: "a"}, {ID: 8, Signal: 9, Target: "a"}, {ID: 9, Signal: 2, Target: "b"}, {ID: 10, Signal: 15, Target: "zz"},
	})
	require.NoError(t, err)
	require.Equal(t, rpc.SendSignalReply{"7": true, "8": false, "9": true, "10": false}, reply)

	// Every worker serving the target was asked, each about its own jobs.
	require.JSONEq(t, `{"jobs":{"7":15,"8":9}}`, string(w1.received(rpc.ReqSendSignal)[0].data))
	require.JSONEq(t, `{"jobs":{"7":15,"8":9,"9":2}}`, string(w2.received(rpc.ReqSendSignal)[0].data))
	require.Empty(t, w3.received(rpc.ReqSendSignal))
}

func TestSendSignalWithAFailingWorker(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RequestTimeout = Duration(200 * time.Millisecond)
	m := startMaster(t, cfg)
	ok := newFake(t, m.addr(), "ok", "a")
	holding(ok, 1)
	stuck := newFake(t, m.addr(), "stuck", "a")
	stuck.sendSignal = func(ctx context.Context, _ map[int64]int) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	broken := newFake(t, m.addr(), "broken", "a")
	broken.sendSignal = func(context.Context, map[int64]int) (any, error) { return nil, errors.New("no") }
	reply, err := client(t, m.addr(), "").MasterSendSignal(ctxFor(t, 10*time.Second),
		[]rpc.SignalJob{{ID: 1, Signal: 15, Target: "a"}, {ID: 2, Signal: 15, Target: "a"}})
	require.NoError(t, err, "the answer comes within request_timeout")
	require.Equal(t, rpc.SendSignalReply{"1": true, "2": false}, reply)
	require.Contains(t, m.logs.String(), `msg="send-signal failed on a worker" worker="stuck (127.0.0.1:`)
}
