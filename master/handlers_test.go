package master

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/rpc"
)

// rawConn is a byte-level client of the master.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// roundTrip sends s (␄ stands for EOT) and returns the next message.
func (c *rawConn) roundTrip(s string) string {
	c.t.Helper()
	_, err := c.nc.Write([]byte(strings.ReplaceAll(s, "␄", "\x04")))
	require.NoError(c.t, err)
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	msg, err := c.r.ReadString(rpc.EOT)
	require.NoError(c.t, err, "got %q", msg)
	return strings.ReplaceAll(msg, "\x04", "␄")
}

// requireClosed checks that the master closed the connection.
func (c *rawConn) requireClosed() {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(waitTimeout)))
	rest, err := io.ReadAll(c.r)
	require.NoError(c.t, err, "the connection was not closed")
	require.Empty(c.t, rest)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	m := startMaster(t, testConfig())
	newFake(t, m.addr(), "w", "a")
	c := dialRaw(t, m.addr())
	for _, tc := range []struct{ in, out string }{
		{`{"oops"␄`, `[1,{"no":0,"error":"malformed message: invalid JSON (unexpected end of JSON input): {\"oops\""}]␄`},
		{`[7]␄`, `[1,{"no":0,"error":"malformed message: unknown message type 7"}]␄`},
		{`[0,{"no":1,"type":"fly"}]␄`, `[1,{"no":1,"error":"unknown request type: 'fly'"}]␄`},
		{`[0,{"no":2,"type":"poll","data":{"targets":["a"]}}]␄`, `[1,{"no":2,"error":"unknown request type: 'poll'"}]␄`},
		{`[0,{"no":3,"type":"poke"}]␄`, `[1,{"no":3,"error":"targets must not be empty"}]␄`},
		{`[0,{"no":4,"type":"poke","data":{"targets":[]}}]␄`, `[1,{"no":4,"error":"targets must not be empty"}]␄`},
		{`[0,{"no":5,"type":"poke","data":{"targets":"a"}}]␄`, `[1,{"no":5,"error":"targets must be an array of target names, got \"a\""}]␄`},
		{`[0,{"no":6,"type":"poke","data":{"targets":["a",""]}}]␄`, `[1,{"no":6,"error":"targets must not contain an empty name"}]␄`},
		{`[0,{"no":7,"type":"pause","data":{"targets":[]}}]␄`, `[1,{"no":7,"error":"targets must not be empty"}]␄`},
		{`[0,{"no":8,"type":"register-worker","data":{"targets":"a","name":"x"}}]␄`, `[1,{"no":8,"error":"targets must be an array of target names, got \"a\""}]␄`},
		{`[0,{"no":9,"type":"status","data":{"poll_workers":"yes"}}]␄`, `[1,{"no":9,"error":"poll_workers must be a boolean"}]␄`},
		{`[0,{"no":10,"type":"run-manual","data":{"jobs":[{"id":1.5,"target":"a"}]}}]␄`, `[1,{"no":10,"error":"job id must be a positive integer, got 1.5"}]␄`},
		{`[0,{"no":11,"type":"run-manual","data":{"jobs":[]}}]␄`, `[1,{"no":11,"error":"jobs must not be empty"}]␄`},
		{`[0,{"no":12,"type":"run-manual","data":{"ids":[1]}}]␄`, `[1,{"no":12,"error":"jobs must be an array of objects"}]␄`},
		{`[0,{"no":13,"type":"send-signal","data":{"jobs":[{"id":1,"signal":99,"target":"a"}]}}]␄`, `[1,{"no":13,"error":"job 1: signal must be an integer from 1 to 64, got 99"}]␄`},
		{`[0,{"no":14,"type":"send-signal","data":{"jobs":{"1":15}}}]␄`, `[1,{"no":14,"error":"jobs must be an array of objects"}]␄`},
		{`[2]␄`, `[3]␄`},
	} {
		require.Equal(t, tc.out, c.roundTrip(tc.in), tc.in)
	}
	// The connection survived all of it, and the worker is untouched.
	require.Equal(t, `[1,{"no":20,"data":"ok"}]␄`, c.roundTrip(`[0,{"no":20,"type":"poke","data":{"targets":["a"]}}]␄`))
	require.Equal(t, []string{"w"}, workerNames(masterStatus(t, m.addr(), false)))
}

func TestPassword(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Password = "s3cret"
	m := startMaster(t, cfg)

	c := dialRaw(t, m.addr())
	require.Equal(t, `[1,{"no":1,"error":"invalid password"}]␄`, c.roundTrip(`[0,{"no":1,"type":"poke","data":{"targets":["a"]}}]␄`))
	c.requireClosed()

	c = dialRaw(t, m.addr())
	require.Equal(t, `[1,{"no":1,"error":"invalid password"}]␄`,
		c.roundTrip(`[0,{"no":1,"type":"register-worker","data":{"targets":["a"],"name":"w"},"password":"guess"}]␄`))
	c.requireClosed()

	c = dialRaw(t, m.addr())
	require.Equal(t, `[1,{"no":1,"data":"ok"}]␄`,
		c.roundTrip(`[0,{"no":1,"type":"register-worker","data":{"targets":["a"],"name":"w"},"password":"s3cret"}]␄`))
	require.Equal(t, `[1,{"no":2,"data":"ok"}]␄`, c.roundTrip(`[0,{"no":2,"type":"poke","data":{"targets":["b"]}}]␄`),
		"the password goes with the first request only")

	st, err := client(t, m.addr(), "s3cret").MasterStatus(ctxFor(t, 5*time.Second), false)
	require.NoError(t, err)
	require.Len(t, st.Workers, 1, "only the worker with the password registered")
}

func TestAlwaysAllowLocalhost(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Password = "s3cret"
	cfg.AlwaysAllowLocalhost = true
	m := startMaster(t, cfg)
	c := dialRaw(t, m.addr())
	require.Equal(t, `[1,{"no":1,"data":"ok"}]␄`, c.roundTrip(`[0,{"no":1,"type":"poke","data":{"targets":["a"]}}]␄`))
}
