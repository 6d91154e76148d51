package master_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// e2e is a migrated database and the real binaries around it.
type e2e struct {
	t  *testing.T
	db *storetest.DB
	st *store.Store
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	st, db := storetest.NewStore(t, store.Options{})
	return &e2e{t: t, db: db, st: st}
}

// masterTop is the master config of most end-to-end tests: short intervals.
const masterTop = `ping_interval = "1s"
poke_throttle_interval = "100ms"
request_timeout = "2s"`

// workerSpec is a real jobd registered with a master.
type workerSpec struct {
	name     string
	master   string         // the master's address
	password string         // [master] password
	targets  map[string]int // target → concurrency
	launcher string         // command, {id} appended
	extra    string         // more tables, e.g. a target with its own launcher
}

// worker starts a real jobd that only claims when polled (poll_interval 0),
// and reconnects to its master every second.
func (e *e2e) worker(s workerSpec) *jobdtest.Proc {
	e.t.Helper()
	var body strings.Builder
	fmt.Fprintf(&body, "[launcher]\ncommand = %q\n\n", s.launcher+" {id}")
	names := make([]string, 0, len(s.targets))
	for t := range s.targets {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		fmt.Fprintf(&body, "[targets.%s]\nconcurrency = %d\n\n", t, s.targets[t])
	}
	fmt.Fprintf(&body, "%s\n[master]\naddr = %q\nreconnect_interval = \"1s\"\npassword = %q\n", s.extra, s.master, s.password)
	return jobdtest.StartJobd(e.t, jobdtest.JobdSpec{
		Name: s.name,
		DSN:  e.db.DSN,
		Top:  `poll_interval = "0"`,
		Body: body.String(),
	})
}

func (e *e2e) insert(jobs ...store.NewJob) []int64 {
	e.t.Helper()
	ids, err := e.st.JobsInsert(storetest.Context(e.t), jobs)
	require.NoError(e.t, err)
	return ids
}

func (e *e2e) job(id int64) store.Job {
	e.t.Helper()
	j, err := e.st.JobGet(storetest.Context(e.t), id)
	require.NoError(e.t, err)
	return j
}

// waitStatus waits until every job has the status.
func (e *e2e) waitStatus(d time.Duration, status store.Status, ids ...int64) {
	e.t.Helper()
	jobdtest.Eventually(e.t, d, func() bool {
		for _, id := range ids {
			if e.job(id).Status != status {
				return false
			}
		}
		return true
	}, "jobs %v are not all %s", ids, status)
}

// claimers returns the distinct instances that claimed the jobs, sorted.
func (e *e2e) claimers(ids ...int64) []int64 {
	e.t.Helper()
	var out []int64
	for _, id := range ids {
		out = append(out, e.job(id).InstanceID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// instanceOf is a jobd's instance id, from its status.
func instanceOf(t *testing.T, p *jobdtest.Proc) int64 {
	t.Helper()
	st, err := jobdtest.Dial(t, p.Addr(), "").Status(jobdtest.Ctx(t, 10*time.Second))
	require.NoError(t, err)
	require.NotZero(t, st.InstanceID)
	return st.InstanceID
}

// status asks the master for its status.
func status(t *testing.T, addr, password string, pollWorkers bool) *rpc.MasterStatus {
	t.Helper()
	st, err := jobdtest.Dial(t, addr, password).MasterStatus(jobdtest.Ctx(t, 20*time.Second), pollWorkers)
	require.NoError(t, err)
	return st
}

// registered lists the names of the workers registered with the master.
func registered(t *testing.T, addr, password string) []string {
	t.Helper()
	var out []string
	for _, w := range status(t, addr, password, false).Workers {
		out = append(out, w.Name)
	}
	sort.Strings(out)
	return out
}

// waitRegistered waits until exactly these workers are registered.
func waitRegistered(t *testing.T, d time.Duration, addr, password string, names ...string) {
	t.Helper()
	sort.Strings(names)
	jobdtest.Eventually(t, d, func() bool { return slices.Equal(registered(t, addr, password), names) },
		"registered workers are not %v", names)
}

// rememberedPokes reads the master's status extension.
func rememberedPokes(t *testing.T, addr string) []string {
	t.Helper()
	out := jobdtest.Exchange(t, addr, `[0,{"no":1,"type":"status"}]`+"\x04", 1)
	var msg []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSuffix(out, "\x04")), &msg))
	var resp struct {
		Data struct {
			RememberedPokes []string `json:"rememberedPokes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(msg[1], &resp))
	return resp.Data.RememberedPokes
}

// pollCounter is an in-process worker that counts the polls it receives.
type pollCounter struct {
	name string
	conn *rpc.Conn
	mu   sync.Mutex
	got  [][]string
}

func newPollCounter(t *testing.T, addr, name string, targets ...string) *pollCounter {
	t.Helper()
	p := &pollCounter{name: name}
	mux := rpc.NewMux()
	mux.Handle(rpc.ReqPoll, func(_ context.Context, _ *rpc.Conn, req *rpc.Request) (any, error) {
		var args rpc.TargetsArgs
		if err := req.Decode(&args); err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.got = append(p.got, args.Targets)
		p.mu.Unlock()
		return rpc.OK, nil
	})
	c, err := rpc.Dial(context.Background(), addr, rpc.DialOptions{Handler: mux, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.RegisterWorker(jobdtest.Ctx(t, 5*time.Second), name, targets))
	p.conn = c
	return p
}

func (p *pollCounter) polls() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// rawPeer is one end of a connection driven byte by byte, to act as an
// original jobd or jobd-master would on the wire.
type rawPeer struct {
	t        *testing.T
	nc       net.Conn
	r        *bufio.Reader
	autoPong bool // answer [2] with [3] and go on reading
}

func newRawPeer(t *testing.T, nc net.Conn) *rawPeer {
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, r: bufio.NewReader(nc), autoPong: true}
}

// send writes s; ␄ stands for EOT.
func (p *rawPeer) send(s string) {
	p.t.Helper()
	_, err := p.nc.Write([]byte(strings.ReplaceAll(s, "␄", "\x04")))
	require.NoError(p.t, err)
}

// next reads the next message (pings answered and skipped when autoPong),
// with ␄ for its EOT.
func (p *rawPeer) next(d time.Duration) string {
	p.t.Helper()
	for {
		require.NoError(p.t, p.nc.SetReadDeadline(time.Now().Add(d)))
		msg, err := p.r.ReadString(rpc.EOT)
		require.NoError(p.t, err, "reading from the peer (got %q)", msg)
		msg = strings.ReplaceAll(msg, "\x04", "␄")
		if p.autoPong && msg == "[2]␄" {
			p.send("[3]␄")
			continue
		}
		return msg
	}
}

// requestRE matches a request as our master and jobd write it; it
// captures the number.
var requestRE = regexp.MustCompile(`^\[0,\{"no":(\d+),"type":"([a-z-]+)"(?:,"data":(.*))?\}\]␄$`)

// nextRequest reads a request of type typ and returns its number and data
// (the raw JSON text, "" when omitted).
func (p *rawPeer) nextRequest(typ string) (no, data string) {
	p.t.Helper()
	msg := p.next(20 * time.Second)
	m := requestRE.FindStringSubmatch(msg)
	require.NotNil(p.t, m, "not a request: %s", msg)
	require.Equal(p.t, typ, m[2], msg)
	return m[1], m[3]
}
