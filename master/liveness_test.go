package master

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// rawWorker registers over a raw socket and then answers nothing, pings
// included: a frozen host.
func rawWorker(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	_, err = nc.Write([]byte(`[0,{"no":1,"type":"register-worker","data":{"targets":["a"],"name":"` + name + `"}}]` + "\x04"))
	require.NoError(t, err)
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	msg, err := bufio.NewReader(nc).ReadString(rpc.EOT)
	require.NoError(t, err)
	require.Equal(t, `[1,{"no":1,"data":"ok"}]`+"\x04", msg)
	return nc
}

func TestSilentWorkerIsDroppedAfterTwoPingIntervals(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PingInterval = Duration(200 * time.Millisecond)
	m := startMaster(t, cfg)
	live := newFake(t, m.addr(), "live", "a")
	registered := time.Now() // before the master last heard from it
	rawWorker(t, m.addr(), "frozen")
	require.Equal(t, []string{"frozen", "live"}, workerNames(masterStatus(t, m.addr(), false)))

	eventually(t, func() bool { return len(masterStatus(t, m.addr(), false).Workers) == 1 }, "the silent worker is still registered")
	gone := time.Since(registered)
	require.GreaterOrEqual(t, gone, 2*cfg.PingInterval.D(), "dropped before missing two intervals of pongs")
	require.Equal(t, []string{"live"}, workerNames(masterStatus(t, m.addr(), false)))
	require.Contains(t, m.logs.String(), `msg="worker left: it missed its pongs" worker="frozen (127.0.0.1:`)

	// A worker that answers pings stays, however long it is otherwise quiet.
	time.Sleep(5 * cfg.PingInterval.D())
	require.Equal(t, []string{"live"}, workerNames(masterStatus(t, m.addr(), false)))
	require.NoError(t, live.conn.Err())
}

func TestOnlyWorkersArePinged(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PingInterval = Duration(100 * time.Millisecond)
	m := startMaster(t, cfg)

	// A raw worker receives pings...
	w := rawWorker(t, m.addr(), "w")
	require.NoError(t, w.SetReadDeadline(time.Now().Add(waitTimeout)))
	msg, err := bufio.NewReader(w).ReadString(rpc.EOT)
	require.NoError(t, err)
	require.Equal(t, "[2]\x04", msg)

	// ...a client never does: a PHP client waiting for its answer would
	// take a ping for it. Nothing arrives over many intervals.
	c, err := net.DialTimeout("tcp", m.addr(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*cfg.PingInterval.D())))
	n, err := c.Read(make([]byte, 16))
	require.Zero(t, n)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "a client got something: %v", err)
}

func TestWorkerLeavesWhenItsConnectionCloses(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PingInterval = Duration(time.Hour) // only the connection's end counts here
	m := startMaster(t, cfg)
	w := newFake(t, m.addr(), "w", "a")
	newFake(t, m.addr(), "other", "a")
	require.NoError(t, w.conn.Close())
	eventually(t, func() bool { return len(masterStatus(t, m.addr(), false).Workers) == 1 }, "closed worker still registered")
	require.Contains(t, m.logs.String(), `msg="worker left" worker="w (127.0.0.1:`)
	require.Contains(t, m.logs.String(), `reason="connection closed by peer"`)
}
