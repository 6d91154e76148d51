package jobd_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobd/jobd/jobd/jobdtest"
	"github.com/jobd/jobd/store"
)

func TestRunsJobsAndRecordsOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	launcher := jobdtest.Script(t, `echo "out $1 $JOBD_TARGET $JOBD_ATTEMPT"; echo "err $1" >&2; exit $(( $1 % 3 ))`)
	d := e.jobd(jobdtest.JobdSpec{Body: fmt.Sprintf("[launcher]\ncommand = %q\n[targets.a]\nconcurrency = 3\n", launcher+" {id}")})
	ids := e.insert(store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"}, store.NewJob{Target: "a"})
	c := jobdtest.Dial(t, d.Addr(), "")
	require.NoError(t, c.Poll(jobdtest.Ctx(t, 5*time.Second), []string{"a"}))
	e.waitDone(20*time.Second, ids...)
	for _, id := range ids {
		j := e.job(id)
		code := int(id % 3)
		require.Equal(t, code, *j.ReturnCode)
		if code == 0 {
			require.Equal(t, store.ResultOK, j.Result)
		} else {
			require.Equal(t, store.ResultFail, j.Result)
		}
		require.Equal(t, fmt.Sprintf("out %d a 1\n", id), j.Stdout)
		require.Equal(t, fmt.Sprintf("err %d\n", id), j.Stderr)
		require.Empty(t, j.Sig)
		require.NotZero(t, j.TimeStarted)
		require.GreaterOrEqual(t, j.TimeFinished, j.TimeStarted)
		require.Equal(t, 1, j.Attempts)
	}
	require.Equal(t, 0, d.Stop(), "clean exit")
}
