package jobd_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

// runManualReq is a run-manual request for ids.
func runManualReq(no int, ids ...int64) string {
	return req(no, "run-manual", `{"ids":`+jsonText(ids)+`}`)
}

// manualEntry is one job of a run-manual answer, as PROTOCOL.md writes it.
func manualEntry(result string, code *int, signal *string, stdout, stderr string) string {
	return fmt.Sprintf(`{"result":%q,"code":%s,"signal":%s,"stdout":%s,"stderr":%s}`,
		result, jsonText(code), jsonText(signal), jsonText(stdout), jsonText(stderr))
}

// objectText writes a JSON object with keys in the order encoding/json
// sorts them, values already JSON.
func objectText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := "{"
	for i, k := range keys {
		if i > 0 {
			s += ","
		}
		s += jsonText(k) + ":" + m[k]
	}
	return s + "}"
}

func idKey(id int64) string { return strconv.FormatInt(id, 10) }

// TestRunManualResultShape: run-manual waits for its jobs and answers in
// PROTOCOL.md's shape, byte for byte; "errors" is absent when empty.
func TestRunManualResultShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	launcher := jobdtest.Script(t, `echo "out $1"; echo "err $1" >&2
case $(( $1 % 3 )) in
0) exit 0;;
1) exit 3;;
*) kill -TERM $$;;
esac`)
	d := e.jobd(jobdtest.JobdSpec{Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.a]\nconcurrency = 3\n", launcher+" {id}")})
	ids := e.insert(store.NewJob{Target: "a", Manual: true}, store.NewJob{Target: "a", Manual: true}, store.NewJob{Target: "a", Manual: true})
	// Manual jobs are not claimed by polling.
	r := dialRaw(t, d.Addr())
	require.Equal(t, okReply(1), r.call(req(1, "poll", "")))
	require.Equal(t, store.StatusManual, e.job(ids[0]).Status)

	want := map[string]string{}
	zero, three, term := 0, 3, "SIGTERM"
	for _, id := range ids {
		out, errOut := fmt.Sprintf("out %d\n", id), fmt.Sprintf("err %d\n", id)
		switch id % 3 {
		case 0:
			want[idKey(id)] = manualEntry("ok", &zero, nil, out, errOut)
		case 1:
			want[idKey(id)] = manualEntry("fail", &three, nil, out, errOut)
		default:
			want[idKey(id)] = manualEntry("fail", nil, &term, out, errOut)
		}
	}
	got := r.call(runManualReq(2, ids...))
	require.Equal(t, dataReply(2, `{"jobs":`+objectText(want)+`}`), got)

	// The rows say the same, once written: like the original, jobd answers
	// when the job ends, and records the outcome right after.
	e.waitDone(10*time.Second, ids...)
	for _, id := range ids {
		j := e.job(id)
		require.Equal(t, store.StatusDone, j.Status)
		require.Equal(t, fmt.Sprintf("out %d\n", id), j.Stdout)
		require.Equal(t, fmt.Sprintf("err %d\n", id), j.Stderr)
		switch id % 3 {
		case 0:
			require.Equal(t, store.ResultOK, j.Result)
			require.Equal(t, 0, *j.ReturnCode)
		case 1:
			require.Equal(t, store.ResultFail, j.Result)
			require.Equal(t, 3, *j.ReturnCode)
		default:
			require.Equal(t, store.ResultFail, j.Result)
			require.Nil(t, j.ReturnCode)
			require.Equal(t, "SIGTERM", j.Sig)
		}
		require.NotZero(t, j.TimeStarted)
		require.Equal(t, 1, j.Attempts, "a failed manual job is not retried")
	}

	// One id twice in a request runs once.
	again := e.insert(store.NewJob{Target: "a", Manual: true})
	got = r.call(runManualReq(3, again[0], again[0]))
	data := replyData(t, 3, got)
	require.Contains(t, string(data), `"stdout":"out `+idKey(again[0])+`\n"`)
	require.NotContains(t, string(data), "errors")
}

// TestRunManualErrors: jobs that cannot be run come back under "errors",
// their rows untouched; a bad id fails the whole request.
func TestRunManualErrors(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 2\n[targets.idle]\nconcurrency = 1\n")
	g.open()
	r := dialRaw(t, g.d.Addr())
	require.Equal(t, okReply(1), r.call(req(1, "pause", `{"targets":["idle"]}`)))
	g.settle("a") // a claim begun before the pause may still take idle's jobs

	waiting := g.insert(store.NewJob{Target: "idle"})[0]
	elsewhere := g.insert(store.NewJob{Target: "elsewhere", Manual: true})[0]
	done := g.insert(store.NewJob{Target: "a", Manual: true})[0]
	replyData(t, 2, r.call(runManualReq(2, done)))
	g.waitDone(10*time.Second, done)
	good := g.insert(store.NewJob{Target: "a", Manual: true})[0]

	before := map[int64]store.Job{}
	for _, id := range []int64{waiting, elsewhere, done} {
		before[id] = g.job(id)
	}
	got := r.call(runManualReq(3, good, waiting, done, 999999, elsewhere))
	wantErrors := map[string]string{
		idKey(waiting):   jsonText(fmt.Sprintf("job %d: status is not manual (it is waiting)", waiting)),
		idKey(done):      jsonText(fmt.Sprintf("job %d: status is not manual (it is done)", done)),
		"999999":         jsonText("job 999999 not found"),
		idKey(elsewhere): jsonText(fmt.Sprintf(`job %d: target is not served here: target "elsewhere"`, elsewhere)),
	}
	wantJobs := map[string]string{idKey(good): manualEntry("ok", new(int), nil, fmt.Sprintf("out %d\n", good), fmt.Sprintf("err %d\n", good))}
	require.Equal(t, dataReply(3, `{"jobs":`+objectText(wantJobs)+`,"errors":`+objectText(wantErrors)+`}`), got)
	for id, j := range before {
		require.Equal(t, j, g.job(id), "job %d's row is left untouched", id)
	}

	// Only errors: no "jobs" key.
	require.Equal(t, dataReply(4, `{"errors":{"999999":"job 999999 not found"}}`), r.call(runManualReq(4, 999999)))

	// A bad id fails the whole request, and runs nothing.
	pending := g.insert(store.NewJob{Target: "a", Manual: true})[0]
	for i, data := range []string{
		fmt.Sprintf(`{"ids":[%d,1.5]}`, pending),
		fmt.Sprintf(`{"ids":[%d,"3"]}`, pending),
		fmt.Sprintf(`{"ids":[%d,null]}`, pending),
		fmt.Sprintf(`{"ids":"%d"}`, pending),
		fmt.Sprintf(`{"ids":%d}`, pending),
		`{"ids":[]}`,
		fmt.Sprintf(`{"ids":[%d,0]}`, pending),
		fmt.Sprintf(`{"ids":[%d,-4]}`, pending),
		`{}`,
		``,
	} {
		no := 10 + i
		got := r.call(req(no, "run-manual", data))
		requireErrorReply(t, no, got, "")
		require.Regexp(t, `ids must|job id must`, got, "%s", data)
	}
	require.Equal(t, store.StatusManual, g.job(pending).Status, "a failed request runs nothing")
	require.NotContains(t, g.started(), pending)
}

// TestRunManualAlreadyWaitedFor: a job another client waits for is an
// error for the second client; the first gets the result.
func TestRunManualAlreadyWaitedFor(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 2\n")
	ids := g.insert(store.NewJob{Target: "a", Manual: true}, store.NewJob{Target: "a", Manual: true})
	slow, other := ids[0], ids[1]

	first := make(chan string, 1)
	go func() { first <- jobdtest.Exchange(t, g.d.Addr(), runManualReq(1, slow), 1) }()
	g.waitStarted(slow)

	r := dialRaw(t, g.d.Addr())
	busy := jsonText(fmt.Sprintf("job %d is already being waited for by another client", slow))
	require.Equal(t, dataReply(2, `{"errors":{"`+idKey(slow)+`":`+busy+`}}`), r.call(runManualReq(2, slow)))

	// With another job in the same request, that one runs.
	g.open(other)
	want := `{"jobs":{"` + idKey(other) + `":` + manualEntry("ok", new(int), nil, fmt.Sprintf("out %d\n", other), fmt.Sprintf("err %d\n", other)) +
		`},"errors":{"` + idKey(slow) + `":` + busy + `}}`
	require.Equal(t, dataReply(3, want), r.call(runManualReq(3, other, slow)))

	select {
	case got := <-first:
		t.Fatalf("the first client was answered before its job ended: %q", got)
	default:
	}
	g.open(slow)
	select {
	case got := <-first:
		require.Equal(t, dataReply(1, `{"jobs":{"`+idKey(slow)+`":`+manualEntry("ok", new(int), nil, fmt.Sprintf("out %d\n", slow), fmt.Sprintf("err %d\n", slow))+`}}`), got)
	case <-time.After(20 * time.Second):
		t.Fatal("the first client got no answer")
	}
	// Once done, it is an ordinary "not manual" error.
	g.waitDone(10*time.Second, slow)
	require.Equal(t, dataReply(4, `{"errors":{"`+idKey(slow)+`":`+jsonText(fmt.Sprintf("job %d: status is not manual (it is done)", slow))+`}}`),
		r.call(runManualReq(4, slow)))
}

// TestRunManualUnknownSlot: a manual job naming a slot its target lacks is
// an error entry, and its row is ignored with the reason.
func TestRunManualUnknownSlot(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 1\nslots = { s = 1 }\n")
	g.open()
	ids := g.insert(store.NewJob{Target: "a", Slot: "nope", Manual: true}, store.NewJob{Target: "a", Slot: "s", Manual: true})
	r := dialRaw(t, g.d.Addr())
	got := r.call(runManualReq(1, ids...))
	wantErr := jsonText(fmt.Sprintf(`job %d: slot is not configured for the target: slot "nope" is not configured for target "a"; marked ignored`, ids[0]))
	wantJob := manualEntry("ok", new(int), nil, fmt.Sprintf("out %d\n", ids[1]), fmt.Sprintf("err %d\n", ids[1]))
	require.Equal(t, dataReply(1, `{"jobs":{"`+idKey(ids[1])+`":`+wantJob+`},"errors":{"`+idKey(ids[0])+`":`+wantErr+`}}`), got)

	j := g.job(ids[0])
	require.Equal(t, store.StatusIgnored, j.Status)
	require.Equal(t, `jobd: ignored: slot "nope" is not configured for target "a"`, j.Stderr)
	require.NotZero(t, j.TimeFinished)
	require.Zero(t, j.TimeStarted)
	require.NotContains(t, g.started(), ids[0])
	require.Equal(t, "s", g.job(ids[1]).Slot)
}

// TestRunManualGoesFirst: run-manual jobs start before background jobs
// that wait for room, within the target's concurrency.
func TestRunManualGoesFirst(t *testing.T) {
	t.Parallel()
	g := startGated(t, "prefetch = 1\n", "[targets.a]\nconcurrency = 1\n")
	c := jobdtest.Dial(t, g.d.Addr(), "")
	bg := g.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), nil))
	g.waitStarted(bg[0])
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		return held(targetStatus(t, c, "a")) == [3]int{1, 1, 2}
	}, "one running, one queued")

	m := g.insert(store.NewJob{Target: "a", Manual: true})[0]
	answered := make(chan string, 1)
	go func() { answered <- jobdtest.Exchange(t, g.d.Addr(), runManualReq(1, m), 1) }()
	jobdtest.Eventually(t, 10*time.Second, func() bool {
		st := status(t, c)
		return st.JobPromisesCount == 1 && held(st.Targets["a"]) == [3]int{1, 2, 3}
	}, "the manual job queued: %+v", status(t, c))
	require.Len(t, g.started(), 1, "the manual job waits for room like any other")

	g.open()
	g.waitDone(30*time.Second, append(bg, m)...)
	require.Equal(t, []int64{bg[0], m, bg[1], bg[2]}, g.started(), "the manual job went ahead of the queued ones")
	require.Equal(t, 1, maxOverlap(readIntervals(t, filepath.Join(g.dir, "log"))), "within the concurrency")
	select {
	case got := <-answered:
		require.Contains(t, got, `{"jobs":{"`+idKey(m)+`":{"result":"ok"`)
	case <-time.After(10 * time.Second):
		t.Fatal("run-manual not answered")
	}
}

// TestRunManualClientGoesAway: when the waiting client disconnects, the job
// still runs to its end and is recorded, and nobody waits for it any more.
func TestRunManualClientGoesAway(t *testing.T) {
	t.Parallel()
	g := startGated(t, "", "[targets.a]\nconcurrency = 1\n")
	c := jobdtest.Dial(t, g.d.Addr(), "")
	m := g.insert(store.NewJob{Target: "a", Manual: true})[0]
	r := dialRaw(t, g.d.Addr())
	r.send(runManualReq(1, m))
	g.waitStarted(m)
	require.Equal(t, 1, status(t, c).JobPromisesCount)
	require.NoError(t, r.c.Close())
	jobdtest.Eventually(t, 10*time.Second, func() bool { return status(t, c).JobPromisesCount == 0 }, "the waiter is gone")
	require.Equal(t, 1, targetStatus(t, c, "a").Length, "the job still runs")

	g.open(m)
	g.waitDone(20*time.Second, m)
	j := g.job(m)
	require.Equal(t, store.ResultOK, j.Result)
	require.Equal(t, fmt.Sprintf("out %d\n", m), j.Stdout)
	jobdtest.Eventually(t, 10*time.Second, func() bool { return targetStatus(t, c, "a").Length == 0 }, "the job is over")
}
