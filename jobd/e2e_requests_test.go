package jobd_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/rpc"
	"github.com/jobd/jobd/store"
)

// The tests of this file speak the protocol byte for byte (PROTOCOL.md)
// to a real jobd over TCP.

const eot = "\x04"

// rawConn is a protocol connection written and read as raw bytes.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	_, err := r.c.Write([]byte(s))
	require.NoError(r.t, err)
}

// recv reads one message, with its EOT.
func (r *rawConn) recv() string {
	r.t.Helper()
	require.NoError(r.t, r.c.SetReadDeadline(time.Now().Add(30*time.Second)))
	msg, err := r.r.ReadString(rpc.EOT)
	require.NoError(r.t, err, "reading a reply (got %q)", msg)
	return msg
}

// call sends one message and reads one.
func (r *rawConn) call(s string) string {
	r.t.Helper()
	r.send(s)
	return r.recv()
}

// requireClosed checks that the server closes the connection without
// sending anything more.
func (r *rawConn) requireClosed() {
	r.t.Helper()
	require.NoError(r.t, r.c.SetReadDeadline(time.Now().Add(10*time.Second)))
	rest, err := io.ReadAll(r.r)
	require.NoError(r.t, err, "the server closes the connection (EOF), it does not leave it open")
	require.Empty(r.t, string(rest))
}

// req is a request message; data "" leaves data out.
func req(no int, typ, data string) string {
	if data == "" {
		return fmt.Sprintf(`[0,{"no":%d,"type":%q}]`, no, typ) + eot
	}
	return fmt.Sprintf(`[0,{"no":%d,"type":%q,"data":%s}]`, no, typ, data) + eot
}

// okReply is the answer "ok" to request no.
func okReply(no int) string { return fmt.Sprintf(`[1,{"no":%d,"data":"ok"}]`, no) + eot }

// dataReply is an answer with data.
func dataReply(no int, data string) string {
	return fmt.Sprintf(`[1,{"no":%d,"data":%s}]`, no, data) + eot
}

// errReply is an error answer to request no.
func errReply(no int, msg string) string {
	return fmt.Sprintf(`[1,{"no":%d,"error":%s}]`, no, jsonText(msg)) + eot
}

// requireErrorReply checks that reply is an error answer to request no whose
// (JSON-encoded) text contains want.
func requireErrorReply(t *testing.T, no int, reply, want string) {
	t.Helper()
	require.True(t, strings.HasPrefix(reply, fmt.Sprintf(`[1,{"no":%d,"error":"`, no)), "%q", reply)
	require.True(t, strings.HasSuffix(reply, `"}]`+eot), "%q", reply)
	require.Contains(t, reply, want)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// replyData decodes the data of a response to request no, failing on an
// error answer.
func replyData(t *testing.T, no int, reply string) json.RawMessage {
	t.Helper()
	require.True(t, strings.HasSuffix(reply, eot), "%q", reply)
	var msg []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSuffix(reply, eot)), &msg), "%q", reply)
	require.Len(t, msg, 2)
	require.Equal(t, "1", string(msg[0]))
	var body map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(msg[1], &body))
	require.Equal(t, strconv.Itoa(no), string(body["no"]), "%s", reply)
	require.NotContains(t, body, "error", "%s", reply)
	require.Len(t, body, 2, "no and data only: %s", reply)
	return body["data"]
}

// gated is a jobd whose launcher holds every job until the test opens its
// gate, and writes in dir/log when each job starts and ends.
type gated struct {
	*env
	d   *jobdtest.Proc
	dir string
}

// gateScript starts and ends a job when its gate (dir/open-ID) or the
// common gate (dir/open) exists; it prints "out ID" and "err ID".
const gateScript = `id=$1
echo "start $id -$JOBD_SLOT- $(date +%%s.%%N)" >> %[1]s/log
while [ ! -e %[1]s/open ] && [ ! -e %[1]s/open-$id ]; do sleep 0.02; done
echo "out $id"; echo "err $id" >&2
echo "end $id -$JOBD_SLOT- $(date +%%s.%%N)" >> %[1]s/log`

// startGated starts a jobd with the gated launcher. It polls only when asked
// (poll_interval 1h), so a job inserted later waits for a poll.
func startGated(t *testing.T, top, targets string) *gated {
	t.Helper()
	e := newEnv(t)
	dir := t.TempDir()
	script := jobdtest.Script(t, fmt.Sprintf(gateScript, dir))
	d := e.jobd(jobdtest.JobdSpec{
		Top:  "poll_interval = \"1h\"\n" + top,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n\n%s", script+" {id}", targets),
	})
	return &gated{env: e, d: d, dir: dir}
}

// settle waits until the claims under way when it is called are over:
// it polls for a canary job of target (its gate open) and waits until it
// is done. After that, with poll_interval 1h, nothing is claimed without a
// poll or continue, and a target paused before settle claims nothing more.
func (g *gated) settle(target string) {
	g.t.Helper()
	canary := g.insert(store.NewJob{Target: target})
	g.open(canary...)
	c := jobdtest.Dial(g.t, g.d.Addr(), "")
	require.NoError(g.t, c.Poll(jobdtest.Ctx(g.t, 5*time.Second), []string{target}))
	g.waitDone(20*time.Second, canary...)
	c.Close()
}

// open lets the jobs run to their end; no ids: every job, now and later.
func (g *gated) open(ids ...int64) {
	g.t.Helper()
	names := []string{"open"}
	if len(ids) > 0 {
		names = names[:0]
		for _, id := range ids {
			names = append(names, fmt.Sprintf("open-%d", id))
		}
	}
	for _, n := range names {
		require.NoError(g.t, os.WriteFile(filepath.Join(g.dir, n), nil, 0o644))
	}
}

// started lists the ids of the jobs that started, in order.
func (g *gated) started() []int64 {
	g.t.Helper()
	var out []int64
	for _, l := range lines(g.t, filepath.Join(g.dir, "log")) {
		f := strings.Fields(l)
		if f[0] == "start" {
			id, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(g.t, err)
			out = append(out, id)
		}
	}
	return out
}

// waitStarted waits until every listed job has started.
func (g *gated) waitStarted(ids ...int64) {
	g.t.Helper()
	jobdtest.Eventually(g.t, 20*time.Second, func() bool {
		s := g.started()
		for _, id := range ids {
			if !slices.Contains(s, id) {
				return false
			}
		}
		return true
	}, "jobs %v did not all start (started: %v)", ids, g.started())
}

// status asks for the status over a typed connection.
func status(t *testing.T, c *rpc.Conn) *rpc.WorkerStatus {
	t.Helper()
	st, err := c.Status(jobdtest.Ctx(t, 10*time.Second))
	require.NoError(t, err)
	return st
}

// target returns one target's status, failing when it is not listed.
func targetStatus(t *testing.T, c *rpc.Conn, name string) rpc.TargetStatus {
	t.Helper()
	st := status(t, c)
	ts, ok := st.Targets[name]
	require.True(t, ok, "target %q in status %+v", name, st.Targets)
	return ts
}

// held is running/queued/length of a target, for comparisons.
func held(ts rpc.TargetStatus) [3]int {
	r, q := -1, -1
	if ts.Running != nil {
		r = *ts.Running
	}
	if ts.Queued != nil {
		q = *ts.Queued
	}
	return [3]int{r, q, ts.Length}
}

func targetNames(st *rpc.WorkerStatus) []string {
	var out []string
	for n := range st.Targets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestRequestsProtocolExamples replays the examples of PROTOCOL.md byte for
// byte, and the framing rules around them.
func TestRequestsProtocolExamples(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.\"1/low\"]\nconcurrency = 1\n[targets.any]\nconcurrency = 2\n")
	r := dialRaw(t, g.d.Addr())

	require.Equal(t, `[1,{"no":7,"data":"ok"}]`+eot,
		r.call(`[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]`+eot))
	require.Equal(t, `[1,{"no":8,"error":"concurrency must be a positive integer"}]`+eot,
		r.call(`[0,{"no":8,"type":"set-target-concurrency","data":{"target":"any","concurrency":0}}]`+eot))

	bad := r.call(`{"oops"` + eot)
	require.True(t, strings.HasPrefix(bad, `[1,{"no":0,"error":"malformed message: `), "%q", bad)
	require.True(t, strings.HasSuffix(bad, `"}]`+eot), "%q", bad)
	require.NotContains(t, bad[:len(bad)-1], eot)

	// The connection stays open after a malformed message.
	require.Equal(t, `[3]`+eot, r.call(`[2]`+eot))

	// Unknown request types are answered with an error naming them.
	unknown := r.call(req(9, "frobnicate", `{}`))
	require.True(t, strings.HasPrefix(unknown, `[1,{"no":9,"error":"`), "%q", unknown)
	require.Contains(t, unknown, "frobnicate")
	unknown = r.call(req(10, "register-worker", `{"targets":["any"]}`))
	require.True(t, strings.HasPrefix(unknown, `[1,{"no":10,"error":"`), "a master request is not a worker's: %q", unknown)
	require.Contains(t, unknown, "register-worker")

	// Other malformed messages: no 0 when no number could be read, the
	// request's own number when it could.
	for _, m := range []string{`[`, `[9]`, `[0]`, `{}`, `"x"`, `[0,"poll"]`} {
		got := r.call(m + eot)
		require.True(t, strings.HasPrefix(got, `[1,{"no":0,"error":"malformed message: `), "%s → %q", m, got)
	}
	requireErrorReply(t, 11, r.call(`[0,{"no":11}]`+eot), "type")

	// set-target-concurrency's failure changed nothing.
	c := jobdtest.Dial(t, g.d.Addr(), "")
	require.Equal(t, 2, targetStatus(t, c, "any").Concurrency)

	// Several messages in one write; one message over several writes.
	r.send(`[2]` + eot + req(12, "poll", "") + req(13, "poll", `{"targets":["any"]}`))
	replies := []string{r.recv(), r.recv(), r.recv()}
	require.ElementsMatch(t, []string{`[3]` + eot, okReply(12), okReply(13)}, replies)
	whole := req(14, "pause", `{"targets":["1/low"]}`)
	for i := range len(whole) {
		r.send(whole[i : i+1])
	}
	require.Equal(t, okReply(14), r.recv())
	require.True(t, targetStatus(t, c, "1/low").Paused)
}

func TestRequestPoll(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 2\n[targets.b]\nconcurrency = 2\n[targets.c]\nconcurrency = 1\n")
	g.open()
	r := dialRaw(t, g.d.Addr())

	g.settle("c")

	ids := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "b"})
	require.Equal(t, okReply(2), r.call(req(2, "poll", `{"targets":["a"]}`)))
	g.waitDone(20*time.Second, ids[0])
	require.Equal(t, store.StatusWaiting, g.job(ids[1]).Status, "a poll of a claims nothing of b")

	// No data, empty data, null targets: every target.
	more := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "c"})
	require.Equal(t, okReply(3), r.call(req(3, "poll", "")))
	g.waitDone(20*time.Second, append(more, ids[1])...)
	require.Equal(t, okReply(4), r.call(req(4, "poll", `{}`)))
	require.Equal(t, okReply(5), r.call(req(5, "poll", `{"targets":null}`)))
	require.Equal(t, okReply(6), r.call(req(6, "poll", `{"targets":["a","b","c"]}`)))

	// A poll while the target is full is remembered: its job is claimed as
	// soon as there is room, without another poll.
	require.NoError(t, os.Remove(filepath.Join(g.dir, "open")))
	busy := g.insert(store.NewJob{Target: "c"})
	require.Equal(t, okReply(7), r.call(req(7, "poll", `{"targets":["c"]}`)))
	g.waitStarted(busy...)
	queued := g.insert(store.NewJob{Target: "c"})
	require.Equal(t, okReply(8), r.call(req(8, "poll", `{"targets":["c"]}`)))
	c := jobdtest.Dial(t, g.d.Addr(), "")
	require.Equal(t, [3]int{1, 0, 1}, held(targetStatus(t, c, "c")), "no room: nothing claimed yet")
	g.open(busy...)
	g.waitStarted(queued...)
	g.open(queued...)
	g.waitDone(20*time.Second, queued...)

	// Errors.
	require.Equal(t, errReply(10, `target "nope" is not served by this worker`), r.call(req(10, "poll", `{"targets":["a","nope"]}`)))
	require.Equal(t, errReply(11, "targets must not be empty"), r.call(req(11, "poll", `{"targets":[]}`)))
	got := r.call(req(12, "poll", `{"targets":"a"}`))
	requireErrorReply(t, 12, got, "targets must be an array of target names")
	got = r.call(req(13, "poll", `{"targets":[1]}`))
	requireErrorReply(t, 13, got, "targets must be an array of target names")
	require.Equal(t, errReply(14, "targets must not contain an empty name"), r.call(req(14, "poll", `{"targets":[""]}`)))
	requireErrorReply(t, 15, r.call(req(15, "poll", `["a"]`)), `"data\" must be an object`)
}

func TestRequestPauseContinue(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 2\n[targets.b]\nconcurrency = 2\n")
	r := dialRaw(t, g.d.Addr())
	c := jobdtest.Dial(t, g.d.Addr(), "")

	require.Equal(t, okReply(1), r.call(req(1, "pause", `{"targets":["a"]}`)))
	require.True(t, targetStatus(t, c, "a").Paused)
	require.False(t, targetStatus(t, c, "b").Paused)
	g.settle("b") // a claim begun before the pause may still take a's jobs

	// A paused target starts nothing; the other goes on.
	g.open()
	ids := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "b"})
	require.Equal(t, okReply(2), r.call(req(2, "poll", "")))
	g.waitDone(20*time.Second, ids[1])
	ja := g.job(ids[0])
	require.Equal(t, store.StatusWaiting, ja.Status, "a paused target claims nothing")
	require.Zero(t, ja.TimeStarted)
	require.NotContains(t, g.started(), ids[0])
	require.Equal(t, [3]int{0, 0, 0}, held(targetStatus(t, c, "a")))

	// continue un-pauses and polls: the job runs without another poll.
	require.Equal(t, okReply(3), r.call(req(3, "continue", `{"targets":["a"]}`)))
	g.waitDone(20*time.Second, ids[0])
	require.False(t, targetStatus(t, c, "a").Paused)

	// No targets: all of them.
	require.Equal(t, okReply(4), r.call(req(4, "pause", "")))
	st := status(t, c)
	require.True(t, st.Targets["a"].Paused && st.Targets["b"].Paused, "%+v", st.Targets)
	require.Equal(t, okReply(5), r.call(req(5, "continue", `{}`)))
	st = status(t, c)
	require.False(t, st.Targets["a"].Paused || st.Targets["b"].Paused, "%+v", st.Targets)

	// Errors change nothing: no target of a failed request is paused.
	require.Equal(t, errReply(6, `target "nope" is not served by this worker`), r.call(req(6, "pause", `{"targets":["a","nope"]}`)))
	require.False(t, targetStatus(t, c, "a").Paused, "pause is all or nothing")
	require.Equal(t, errReply(7, "targets must not be empty"), r.call(req(7, "pause", `{"targets":[]}`)))
	require.Equal(t, errReply(8, "targets must not be empty"), r.call(req(8, "continue", `{"targets":[]}`)))
	require.Equal(t, errReply(9, `target "nope" is not served by this worker`), r.call(req(9, "continue", `{"targets":["nope"]}`)))
	got := r.call(req(10, "pause", `{"targets":"a"}`))
	requireErrorReply(t, 10, got, "targets must be an array")
}

func TestRequestPauseLetsRunningJobsFinish(t *testing.T) {
	t.Parallel()
	g := startGated(t, "prefetch = 1\n", "[targets.a]\nconcurrency = 1\n")
	c := jobdtest.Dial(t, g.d.Addr(), "")
	ids := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	g.waitStarted(ids[0])
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return held(targetStatus(t, c, "a")) == [3]int{1, 1, 2}
	}, "one job running, one claimed and queued")

	require.NoError(t, c.Pause(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	g.open(ids[0])
	g.waitDone(20*time.Second, ids[0])
	// The queued job does not start while paused (and the one that ran
	// finished normally).
	require.Equal(t, store.ResultOK, g.job(ids[0]).Result)
	require.Equal(t, [3]int{0, 1, 1}, held(targetStatus(t, c, "a")), "the queued job stays queued")
	require.Equal(t, []int64{ids[0]}, g.started())

	require.NoError(t, c.Continue(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	g.open(ids[1])
	g.waitDone(20*time.Second, ids[1])
}

func TestRequestStatus(t *testing.T) {
	t.Parallel()
	g := startGated(t, "prefetch = 1\n", "[targets.a]\nconcurrency = 1\n[targets.b]\nconcurrency = 1\nslots = { s = 2 }\n")
	r := dialRaw(t, g.d.Addr())
	c := jobdtest.Dial(t, g.d.Addr(), "")

	data := replyData(t, 3, r.call(req(3, "status", "")))
	var st map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &st))
	for _, k := range []string{"targets", "jobPromisesCount", "memoryUsage", "name", "version", "instanceId", "uptime", "database"} {
		require.Contains(t, st, k, "%s", data)
	}
	require.JSONEq(t, `{
		"a": {"paused": false, "concurrency": 1, "length": 0, "running": 0, "queued": 0},
		"b": {"paused": false, "concurrency": 1, "length": 0, "running": 0, "queued": 0,
		      "slots": {"s": {"concurrency": 2, "running": 0, "queued": 0}}}
	}`, string(st["targets"]))
	require.Equal(t, "0", string(st["jobPromisesCount"]))
	var mem map[string]int64
	require.NoError(t, json.Unmarshal(st["memoryUsage"], &mem))
	require.Greater(t, mem["rss"], int64(1<<20), "rss in bytes: %s", st["memoryUsage"])
	require.Equal(t, `"jobd"`, string(st["name"]))
	require.NotEqual(t, `""`, string(st["version"]))
	require.JSONEq(t, `{"state":"ok","pendingOutcomes":0}`, string(st["database"]))
	// Data given to status is ignored, as by the original.
	replyData(t, 4, r.call(req(4, "status", `{"x":1}`)))

	// length counts queued plus running jobs.
	ids := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	g.waitStarted(ids[0])
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return held(targetStatus(t, c, "a")) == [3]int{1, 1, 2}
	}, "a: 1 running + 1 queued (prefetch 1) = length 2; got %+v", targetStatus(t, c, "a"))

	// jobPromisesCount counts the run-manual jobs waited for.
	manual := g.insert(store.NewJob{Target: "b", Slot: "s", Manual: true})
	answered := make(chan string, 1)
	go func() {
		answered <- jobdtest.Exchange(t, g.d.Addr(), req(5, "run-manual", fmt.Sprintf(`{"ids":[%d]}`, manual[0])), 1)
	}()
	g.waitStarted(manual[0])
	st2 := status(t, c)
	require.Equal(t, 1, st2.JobPromisesCount)
	require.Equal(t, rpc.SlotStatus{Concurrency: 2, Running: 1, Queued: 0}, st2.Targets["b"].Slots["s"])
	require.Equal(t, 1, st2.Targets["b"].Length, "a slot's jobs count in the target's length")

	g.open()
	g.waitDone(20*time.Second, append(ids, manual...)...)
	require.Contains(t, <-answered, fmt.Sprintf(`"jobs":{"%d":{"result":"ok"`, manual[0]))
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		st := status(t, c)
		return st.JobPromisesCount == 0 && st.Targets["a"].Length == 0 && st.Targets["b"].Length == 0
	}, "all finished: %+v", status(t, c))
}

func TestRequestAddRemoveTarget(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 1\n")
	r := dialRaw(t, g.d.Addr())
	c := jobdtest.Dial(t, g.d.Addr(), "")

	require.Equal(t, okReply(1), r.call(req(1, "add-target", `{"target":"c","concurrency":2}`)))
	require.Equal(t, rpc.TargetStatus{Concurrency: 2, Running: new(int), Queued: new(int)}, targetStatus(t, c, "c"))
	// Its jobs run.
	g.open()
	jc := g.insert(store.NewJob{Target: "c"})
	require.Equal(t, okReply(2), r.call(req(2, "poll", `{"targets":["c"]}`)))
	g.waitDone(20*time.Second, jc...)

	// Errors; none of them adds a target.
	require.Equal(t, errReply(3, `target "a" is already served by this worker`), r.call(req(3, "add-target", `{"target":"a","concurrency":1}`)))
	require.Equal(t, errReply(4, `target "c" is already served by this worker`), r.call(req(4, "add-target", `{"target":"c","concurrency":5}`)))
	for i, conc := range []string{`0`, `-1`, `1.5`, `"2"`, `null`, `true`, `1e400`, `99999999999999999999`} {
		no := 10 + i
		require.Equal(t, errReply(no, "concurrency must be a positive integer"),
			r.call(req(no, "add-target", `{"target":"d","concurrency":`+conc+`}`)), "concurrency %s", conc)
	}
	require.Equal(t, errReply(20, "concurrency must be a positive integer"), r.call(req(20, "add-target", `{"target":"d"}`)))
	require.Equal(t, errReply(21, "target must be a non-empty string"), r.call(req(21, "add-target", `{"concurrency":1}`)))
	require.Equal(t, errReply(22, "target must be a non-empty string"), r.call(req(22, "add-target", `{"target":"","concurrency":1}`)))
	require.Equal(t, errReply(23, "target must be a non-empty string"), r.call(req(23, "add-target", `{"target":5,"concurrency":1}`)))
	requireErrorReply(t, 24, r.call(req(24, "add-target", `"d"`)), `"data\" must be an object`)
	nameErr := "target: a target name must be 1-255 characters, without control characters"
	require.Equal(t, errReply(25, nameErr), r.call(req(25, "add-target", `{"target":"a\u0001b","concurrency":1}`)))
	require.Equal(t, errReply(26, nameErr), r.call(req(26, "add-target", `{"target":"`+strings.Repeat("x", 256)+`","concurrency":1}`)))
	require.Equal(t, []string{"a", "c"}, targetNames(status(t, c)))
	require.Equal(t, 2, targetStatus(t, c, "c").Concurrency, "a failed add-target changes nothing")

	// remove-target.
	require.Equal(t, okReply(30), r.call(req(30, "remove-target", `{"target":"c"}`)))
	require.Equal(t, []string{"a"}, targetNames(status(t, c)))
	require.Equal(t, errReply(31, `target "c" is not served by this worker`), r.call(req(31, "poll", `{"targets":["c"]}`)))
	require.Equal(t, errReply(32, `target "c" is not served by this worker`), r.call(req(32, "remove-target", `{"target":"c"}`)))
	require.Equal(t, errReply(33, `target "zz" is not served by this worker`), r.call(req(33, "remove-target", `{"target":"zz"}`)))
	require.Equal(t, errReply(34, "target must be a non-empty string"), r.call(req(34, "remove-target", "")))
	// A removed target's jobs are not claimed any more.
	left := g.insert(store.NewJob{Target: "c"})

	// A target with a running job cannot be removed.
	require.NoError(t, os.Remove(filepath.Join(g.dir, "open")))
	ja := g.insert(store.NewJob{Target: "a"})
	require.Equal(t, okReply(40), r.call(req(40, "poll", "")))
	g.waitStarted(ja...)
	got := r.call(req(41, "remove-target", `{"target":"a"}`))
	require.Equal(t, errReply(41, `target "a" still has 1 running and 0 queued jobs; pause it and wait for them to finish`), got)
	require.Equal(t, []string{"a"}, targetNames(status(t, c)))
	g.open(ja...)
	g.waitDone(20*time.Second, ja...)
	jobdtest.Eventually(t, 10*time.Second, func() bool { return targetStatus(t, c, "a").Length == 0 }, "a empty")
	require.Equal(t, okReply(42), r.call(req(42, "remove-target", `{"target":"a"}`)))
	require.Empty(t, status(t, c).Targets)
	require.Equal(t, store.StatusWaiting, g.job(left[0]).Status, "the removed target c was not served")

	// A removed target can be added again, and serves again.
	require.Equal(t, okReply(43), r.call(req(43, "add-target", `{"target":"c","concurrency":1}`)))
	g.open(left...)
	require.Equal(t, okReply(44), r.call(req(44, "poll", "")))
	g.waitDone(20*time.Second, left...)
}

func TestRequestSetTargetConcurrency(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 1\n")
	r := dialRaw(t, g.d.Addr())
	c := jobdtest.Dial(t, g.d.Addr(), "")

	ids := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	require.Equal(t, okReply(1), r.call(req(1, "poll", "")))
	g.waitStarted(ids[0])
	jobdtest.Eventually(t, 10*time.Second, func() bool { return held(targetStatus(t, c, "a")) == [3]int{1, 0, 1} }, "one running")
	require.Len(t, g.started(), 1, "concurrency 1")

	// Raised: more jobs start at once, without a poll.
	require.Equal(t, okReply(2), r.call(req(2, "set-target-concurrency", `{"target":"a","concurrency":3}`)))
	g.waitStarted(ids[:3]...)
	require.Equal(t, 3, targetStatus(t, c, "a").Concurrency)
	jobdtest.Eventually(t, 10*time.Second, func() bool { return held(targetStatus(t, c, "a")) == [3]int{3, 0, 3} }, "three running")
	require.Len(t, g.started(), 3)

	// Lowered: running jobs go on; the next starts only below the limit.
	require.Equal(t, okReply(3), r.call(req(3, "set-target-concurrency", `{"target":"a","concurrency":1}`)))
	g.open(ids[0])
	g.waitDone(20*time.Second, ids[0])
	require.Equal(t, [3]int{2, 0, 2}, held(targetStatus(t, c, "a")), "still over the new limit: nothing more starts")
	require.Len(t, g.started(), 3)
	g.open(ids[1], ids[2])
	g.waitStarted(ids[3])
	g.open()
	g.waitDone(20*time.Second, ids...)
	require.LessOrEqual(t, maxOverlap(readIntervals(t, filepath.Join(g.dir, "log"))), 3)

	// Errors.
	require.Equal(t, errReply(4, "concurrency must be a positive integer"), r.call(req(4, "set-target-concurrency", `{"target":"a","concurrency":0}`)))
	require.Equal(t, errReply(5, "concurrency must be a positive integer"), r.call(req(5, "set-target-concurrency", `{"target":"a","concurrency":-1}`)))
	require.Equal(t, errReply(6, "concurrency must be a positive integer"), r.call(req(6, "set-target-concurrency", `{"target":"a","concurrency":"2"}`)))
	require.Equal(t, errReply(7, `target "nope" is not served by this worker`), r.call(req(7, "set-target-concurrency", `{"target":"nope","concurrency":2}`)))
	require.Equal(t, errReply(8, "target must be a non-empty string"), r.call(req(8, "set-target-concurrency", `{"concurrency":2}`)))
	require.Equal(t, 1, targetStatus(t, c, "a").Concurrency)
}

func TestRequestPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.jobd(jobdtest.JobdSpec{Top: `password = "sesame"`, Body: "[launcher]\ncommand = \"true {id}\"\n[targets.a]\nconcurrency = 1\n"})

	t.Run("none", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, d.Addr())
		require.Equal(t, `[1,{"no":1,"error":"invalid password"}]`+eot, r.call(req(1, "status", "")))
		r.requireClosed()
	})
	t.Run("wrong", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, d.Addr())
		require.Equal(t, `[1,{"no":5,"error":"invalid password"}]`+eot, r.call(`[0,{"no":5,"type":"poll","password":"Sesame"}]`+eot))
		r.requireClosed()
	})
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, d.Addr())
		require.Equal(t, `[1,{"no":5,"error":"invalid password"}]`+eot, r.call(`[0,{"no":5,"type":"poll","password":""}]`+eot))
		r.requireClosed()
	})
	t.Run("right, on the first request only", func(t *testing.T) {
		t.Parallel()
		r := dialRaw(t, d.Addr())
		// A ping neither authorises nor closes.
		require.Equal(t, `[3]`+eot, r.call(`[2]`+eot))
		require.Equal(t, okReply(1), r.call(`[0,{"no":1,"type":"poll","data":{"targets":["a"]},"password":"sesame"}]`+eot))
		require.Equal(t, okReply(2), r.call(req(2, "poll", "")))
		replyData(t, 3, r.call(req(3, "status", "")))
		c := jobdtest.Dial(t, d.Addr(), "sesame")
		require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	})
	t.Run("localhost allowed", func(t *testing.T) {
		t.Parallel()
		d := e.jobd(jobdtest.JobdSpec{Top: "password = \"sesame\"\nalways_allow_localhost = true", Body: "[launcher]\ncommand = \"true {id}\"\n[targets.b]\nconcurrency = 1\n"})
		r := dialRaw(t, d.Addr())
		require.Equal(t, okReply(1), r.call(req(1, "poll", "")))
	})
}

// TestUnknownSlotIgnored: a waiting job naming a slot its target lacks is
// ignored with the reason, and the daemon goes on running the others.
func TestUnknownSlotIgnored(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 2\nslots = { s = 1 }\n[targets.b]\nconcurrency = 1\n")
	g.open()
	c := jobdtest.Dial(t, g.d.Addr(), "")
	ids := g.insert(
		store.NewJob{Target: "a", Slot: "nope"},
		store.NewJob{Target: "a", Slot: "s"},
		store.NewJob{Target: "a"},
		store.NewJob{Target: "b", Slot: "s"}, // b has no slots at all
		store.NewJob{Target: "b"},
	)
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	g.waitDone(20*time.Second, ids[1], ids[2], ids[4])
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return g.job(ids[0]).Status == store.StatusIgnored && g.job(ids[3]).Status == store.StatusIgnored
	}, "jobs of unknown slots ignored")
	for i, target := range map[int]string{0: "a", 3: "b"} {
		j := g.job(ids[i])
		slot := map[int]string{0: "nope", 3: "s"}[i]
		require.Equal(t, fmt.Sprintf(`jobd: ignored: slot %q is not configured for target %q`, slot, target), j.Stderr)
		require.NotZero(t, j.TimeFinished)
		require.Zero(t, j.TimeStarted)
		require.Empty(t, string(j.Result))
	}
	require.NotContains(t, g.started(), ids[0])
	require.Equal(t, "out "+strconv.FormatInt(ids[1], 10)+"\n", g.job(ids[1]).Stdout)

	// And the daemon goes on.
	later := g.insert(store.NewJob{Target: "a", Slot: "s"}, store.NewJob{Target: "a", Slot: "gone"})
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	g.waitDone(20*time.Second, later[0])
	jobdtest.Eventually(t, 10*time.Second, func() bool { return g.job(later[1]).Status == store.StatusIgnored }, "ignored")
}

// TestRequestSendSignal: send-signal reaches a running job's process
// group; a job not running here gets false; bad arguments are errors.
func TestRequestSendSignal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	// The launcher and a child of it each trap SIGUSR1: both must get it,
	// so the signal went to the process group, not just the launcher.
	trap := jobdtest.Script(t, fmt.Sprintf(`(trap 'echo child-got-usr1 > %[1]s/child-$1; exit 0' USR1
 echo ready > %[1]s/child-ready-$1
 while :; do sleep 0.05; done) &
child=$!
trap 'wait $child; echo got-usr1; exit 7' USR1
echo ready > %[1]s/ready-$1
wait`, dir))
	d := e.jobd(jobdtest.JobdSpec{
		Top: `poll_interval = "1h"`,
		Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.trap]\nconcurrency = 1\n[targets.sleep]\nconcurrency = 1\nlauncher = \"sleep 30\"\n[targets.quick]\nconcurrency = 1\nlauncher = \"true\"\n",
			trap+" {id}"),
	})
	r := dialRaw(t, d.Addr())
	ids := e.insert(store.NewJob{Target: "trap"}, store.NewJob{Target: "sleep"}, store.NewJob{Target: "quick"})
	jt, js, jq := ids[0], ids[1], ids[2]
	require.Equal(t, okReply(1), r.call(req(1, "poll", "")))
	e.waitDone(20*time.Second, jq)
	jobdtest.Eventually(t, 20*time.Second, func() bool {
		_, err1 := os.Stat(filepath.Join(dir, fmt.Sprintf("ready-%d", jt)))
		_, err2 := os.Stat(filepath.Join(dir, fmt.Sprintf("child-ready-%d", jt)))
		return err1 == nil && err2 == nil && e.job(js).Status == store.StatusRunning && e.job(jt).Status == store.StatusRunning
	}, "both jobs running")

	want := jsonText(map[string]bool{strconv.FormatInt(jt, 10): true, strconv.FormatInt(js, 10): true, strconv.FormatInt(jq, 10): false, "999999": false})
	require.Equal(t, dataReply(2, want), r.call(req(2, "send-signal",
		fmt.Sprintf(`{"jobs":{"%d":%d,"%d":15,"%d":15,"999999":9}}`, jt, int(syscall.SIGUSR1), js, jq))))

	e.waitDone(20*time.Second, jt, js)
	j := e.job(jt)
	require.Equal(t, store.ResultFail, j.Result)
	require.NotNil(t, j.ReturnCode)
	require.Equal(t, 7, *j.ReturnCode, "the launcher's trap ran")
	require.Equal(t, "got-usr1\n", j.Stdout)
	require.Empty(t, j.Sig)
	child, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("child-%d", jt)))
	require.NoError(t, err, "the launcher's child got the signal too")
	require.Equal(t, "child-got-usr1\n", string(child))
	j = e.job(js)
	require.Equal(t, store.ResultFail, j.Result)
	require.Nil(t, j.ReturnCode)
	require.Equal(t, "SIGTERM", j.Sig)

	// Finished jobs: false.
	require.Equal(t, dataReply(3, fmt.Sprintf(`{"%d":false}`, jt)), r.call(req(3, "send-signal", fmt.Sprintf(`{"jobs":{"%d":15}}`, jt))))

	// Bad arguments.
	for i, tc := range []struct{ data, want string }{
		{`{"jobs":{"x":15}}`, `job id must be a positive integer, got "x"`},
		{`{"jobs":{"0":15}}`, "job id must be a positive integer, got 0"},
		{`{"jobs":{"5":0}}`, "job 5: signal must be an integer from 1 to 64, got 0"},
		{`{"jobs":{"5":99}}`, "job 5: signal must be an integer from 1 to 64, got 99"},
		{`{"jobs":{"5":-9}}`, "job 5: signal must be an integer from 1 to 64, got -9"},
		{`{"jobs":{"5":"15"}}`, `job 5: signal must be an integer from 1 to 64, got "15"`},
		{`{"jobs":{"5":1.5}}`, "job 5: signal must be an integer from 1 to 64, got 1.5"},
		{`{"jobs":{}}`, "jobs must not be empty"},
		{`{"jobs":[5]}`, `jobs must be an object mapping job ids to signal numbers, like {"123": 15}`},
		{``, `jobs must be an object mapping job ids to signal numbers, like {"123": 15}`},
	} {
		no := 10 + i
		require.Equal(t, errReply(no, tc.want), r.call(req(no, "send-signal", tc.data)), "%s", tc.data)
	}
}
