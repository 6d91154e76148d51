package master_test

import (
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// originalStatus is a status answer as the original jobd (Node) sends it.
const originalStatus = `{"targets":{"a":{"paused":false,"concurrency":3,"length":1},"b":{"paused":true,"concurrency":1,"length":0}},` +
	`"jobPromisesCount":0,"memoryUsage":{"rss":41234432,"heapTotal":9207808,"heapUsed":6329120,"external":1645733,"arrayBuffers":17402}}`

// An original jobd worker, as it is on the wire, with our master (the real
// binary): it registers on the connection it opened (password on the first
// request only), and the master sends it poll, status, pause, run-manual,
// send-signal and pings over that same connection, in the original's form.
func TestCompatOriginalWorkerWithOurMaster(t *testing.T) {
	t.Parallel()
	m := jobdtest.StartMaster(t, jobdtest.MasterSpec{Password: "pw", Top: `ping_interval = "300ms"
poke_throttle_interval = "50ms"
request_timeout = "5s"`})
	nc, err := net.DialTimeout("tcp", m.Addr(), 5*time.Second)
	require.NoError(t, err)
	w := newRawPeer(t, nc)
	w.autoPong = false
	w.send(`[0,{"no":77001,"type":"register-worker","data":{"targets":["a","b"],"name":"node-1"},"password":"pw"}]␄`)
	require.Equal(t, `[1,{"no":77001,"data":"ok"}]␄`, w.next(10*time.Second))
	c := jobdtest.Dial(t, m.Addr(), "pw")
	ctx := jobdtest.Ctx(t, 30*time.Second)

	// The master pings its workers; the original answers [3].
	require.Equal(t, "[2]␄", w.next(10*time.Second))
	w.send("[3]␄")
	w.autoPong = true

	require.NoError(t, c.Poke(ctx, []string{"a", "x"}))
	no, data := w.nextRequest("poll")
	require.Equal(t, `{"targets":["a"]}`, data)
	w.send(`[1,{"no":` + no + `,"data":"ok"}]␄`)

	done := make(chan *rpc.MasterStatus, 1)
	go func() {
		st, err := c.MasterStatus(ctx, true)
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	no, data = w.nextRequest("status")
	require.Empty(t, data, "the original sent status without data")
	w.send(`[1,{"no":` + no + `,"data":` + originalStatus + `}]␄`)
	st := <-done
	require.Len(t, st.Workers, 1)
	require.Equal(t, "node-1", st.Workers[0].Name)
	require.Equal(t, []string{"a", "b"}, st.Workers[0].Targets)
	require.Equal(t, 3, st.Workers[0].WorkerStatus.Targets["a"].Concurrency)
	require.True(t, st.Workers[0].WorkerStatus.Targets["b"].Paused)
	require.Equal(t, int64(41234432), st.Workers[0].WorkerStatus.MemoryUsage.RSS)

	errc := make(chan error, 1)
	go func() { errc <- c.Pause(ctx, []string{"b", "x"}) }()
	no, data = w.nextRequest("pause")
	require.Equal(t, `{"targets":["b"]}`, data)
	w.send(`[1,{"no":` + no + `,"data":"ok"}]␄`)
	require.NoError(t, <-errc)

	go func() { errc <- c.Continue(ctx, nil) }()
	no, data = w.nextRequest("continue")
	require.Equal(t, `{}`, data)
	w.send(`[1,{"no":` + no + `,"data":"ok"}]␄`)
	require.NoError(t, <-errc)

	manual := make(chan *rpc.RunManualReply, 1)
	go func() {
		r, err := c.MasterRunManual(ctx, []rpc.ManualJob{{ID: 5, Target: "a"}, {ID: 6, Target: "a"}, {ID: 7, Target: "zz"}})
		if err != nil {
			t.Error(err)
		}
		manual <- r
	}()
	no, data = w.nextRequest("run-manual")
	require.Equal(t, `{"ids":[5,6]}`, data)
	w.send(`[1,{"no":` + no + `,"data":{"jobs":{"5":{"result":"ok","code":0,"signal":null,"stdout":"hi\n","stderr":""}},` +
		`"errors":{"6":"job 6 is not manual"}}}]␄`)
	r := <-manual
	require.Equal(t, "hi\n", r.Jobs["5"].Stdout)
	require.Equal(t, 0, *r.Jobs["5"].Code)
	require.Nil(t, r.Jobs["5"].Signal)
	require.Equal(t, map[string]string{"6": "job 6 is not manual", "7": `no worker serves target "zz"`}, r.Errors)

	signal := make(chan rpc.SendSignalReply, 1)
	go func() {
		r, err := c.MasterSendSignal(ctx, []rpc.SignalJob{{ID: 5, Signal: 15, Target: "a"}})
		if err != nil {
			t.Error(err)
		}
		signal <- r
	}()
	no, data = w.nextRequest("send-signal")
	require.Equal(t, `{"jobs":{"5":15}}`, data)
	w.send(`[1,{"no":` + no + `,"data":{"5":true}}]␄`)
	require.Equal(t, rpc.SendSignalReply{"5": true}, <-signal)

	// Once it stops answering pings it is dropped.
	require.Equal(t, []string{"node-1"}, registered(t, m.Addr(), "pw"))
	w.autoPong = false
	jobdtest.Eventually(t, 10*time.Second, func() bool { return len(registered(t, m.Addr(), "pw")) == 0 },
		"a worker that stopped answering pings is still registered")
}

// Our jobd with an original jobd-master, as it is on the wire: jobd
// registers on the connection it opened, and serves the master's poll,
// status and ping over it.
func TestCompatJobdWithOriginalMaster(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	w := e.worker(workerSpec{name: "w1", master: ln.Addr().String(), password: "pw",
		launcher: jobdtest.Script(t, `echo "ran $1"`), targets: map[string]int{"a": 2, "b": 1}})
	var nc net.Conn
	select {
	case nc = <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("jobd did not connect to its master")
	}
	master := newRawPeer(t, nc)
	msg := master.next(30 * time.Second)
	m := regexp.MustCompile(`^\[0,\{"no":(\d+),"type":"register-worker","data":\{"targets":\["a","b"\],"name":"w1"\},"password":"pw"\}\]␄$`).
		FindStringSubmatch(msg)
	require.NotNil(t, m, "register-worker as the original master reads it: %s", msg)
	master.send(`[1,{"no":` + m[1] + `,"data":"ok"}]␄`)

	id := e.insert(store.NewJob{Target: "a"})[0]
	master.send(`[0,{"no":1,"type":"poll","data":{"targets":["a"]}}]␄`)
	require.Equal(t, `[1,{"no":1,"data":"ok"}]␄`, master.next(10*time.Second))
	e.waitStatus(30*time.Second, store.StatusDone, id)
	require.Equal(t, []int64{instanceOf(t, w)}, e.claimers(id))
	require.Equal(t, fmt.Sprintf("ran %d\n", id), e.job(id).Stdout)

	master.send(`[0,{"no":2,"type":"status"}]␄`)
	st := master.next(10 * time.Second)
	require.Regexp(t, `^\[1,\{"no":2,"data":\{"targets":\{"a":\{"paused":false,"concurrency":2,"length":0`, st)
	require.Regexp(t, `"jobPromisesCount":0,"memoryUsage":\{"rss":\d+`, st)

	master.send(`[0,{"no":3,"type":"pause","data":{"targets":["b"]}}]␄`)
	require.Equal(t, `[1,{"no":3,"data":"ok"}]␄`, master.next(10*time.Second))
	master.send(`[0,{"no":4,"type":"poll","data":{"targets":["zz"]}}]␄`)
	require.Regexp(t, `^\[1,\{"no":4,"error":".*zz.*"\}\]␄$`, master.next(10*time.Second))

	master.autoPong = false
	master.send(`[2]␄`)
	require.Equal(t, `[3]␄`, master.next(10*time.Second))
}
