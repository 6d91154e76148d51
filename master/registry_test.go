package master

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// names maps routed workers to "name:targets" for comparison.
func names(rs []routed) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s:%v", r.w.name, r.targets))
	}
	return out
}

func TestRegistryRegisterReplaceRemove(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	c1, _ := connPair(t)
	c2, _ := connPair(t)

	w1, replaced, remembered, err := r.register(c1, "web", []string{"a", "b", "a"})
	require.NoError(t, err)
	require.False(t, replaced)
	require.Empty(t, remembered)
	require.Equal(t, []string{"a", "b"}, w1.targets, "duplicates dropped, order kept")
	host, port := peer(c1)
	require.Equal(t, "127.0.0.1", host)
	require.Equal(t, fmt.Sprintf("web (127.0.0.1:%d)", port), w1.String())

	// Two workers may share a name: the registry keys on the connection.
	w2, _, _, err := r.register(c2, "web", []string{"c"})
	require.NoError(t, err)
	require.Len(t, r.list(), 2)

	// A second register-worker on the same connection replaces the targets
	// and keeps the worker's place.
	w1b, replaced, _, err := r.register(c1, "web", []string{"b"})
	require.NoError(t, err)
	require.True(t, replaced)
	require.Equal(t, w1.seq, w1b.seq)
	require.Equal(t, []*worker{w1b, w2}, r.list())
	require.Equal(t, []string{"a", "b"}, w1.targets, "the old value is not changed under its readers")
	require.Equal(t, []string{"web:[b]"}, names(r.serving([]string{"a", "b"})))

	require.Same(t, w1b, r.remove(c1))
	require.Nil(t, r.remove(c1))
	require.Equal(t, []*worker{w2}, r.list())
	require.Equal(t, 1, r.len())
}

func TestRegistryNamesAWorkerWithoutOne(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	c, _ := connPair(t)
	w, _, _, err := r.register(c, "", nil)
	require.NoError(t, err)
	host, port := peer(c)
	require.Equal(t, fmt.Sprintf("%s:%d", host, port), w.name)
	require.Equal(t, []string{}, w.targets, "no targets is an empty list, not null")
}

func TestRegistryRefusesAClosedConnection(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	c, _ := connPair(t)
	require.NoError(t, c.Close())
	_, _, _, err := r.register(c, "w", []string{"a"})
	require.ErrorIs(t, err, errGone)
	require.Empty(t, r.list())
}

func TestRegistryServing(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	for _, w := range []struct {
		name    string
		targets []string
	}{{"w1", []string{"a"}}, {"w2", []string{"a", "b"}}, {"w3", []string{"c"}}} {
		c, _ := connPair(t)
		_, _, _, err := r.register(c, w.name, w.targets)
		require.NoError(t, err)
	}
	require.Equal(t, []string{"w2:[b]"}, names(r.serving([]string{"b"})))
	require.Equal(t, []string{"w1:[a]", "w2:[a]"}, names(r.serving([]string{"a"})))
	require.Equal(t, []string{"w1:[a]", "w2:[b a]", "w3:[c]"}, names(r.serving([]string{"b", "c", "a"})),
		"each worker gets only its targets, in the order asked")
	require.Empty(t, r.serving([]string{"d"}))
	require.Equal(t, []string{"w1:[]", "w2:[]", "w3:[]"}, names(r.serving(nil)), "nil: every worker, all its targets")
}

func TestRegistryRemembersUnservedPokes(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	c1, _ := connPair(t)
	_, _, _, err := r.register(c1, "w1", []string{"a"})
	require.NoError(t, err)

	rs, remembered := r.route([]string{"a", "d", "e"})
	require.Equal(t, []string{"w1:[a]"}, names(rs))
	require.Equal(t, []string{"d", "e"}, remembered)
	_, remembered = r.route([]string{"d"})
	require.Empty(t, remembered, "already remembered")
	require.Equal(t, []string{"d", "e"}, r.waitingTargets())

	// The first worker registering with d takes the poke; the next does not.
	c2, _ := connPair(t)
	_, _, got, err := r.register(c2, "w2", []string{"x", "d"})
	require.NoError(t, err)
	require.Equal(t, []string{"d"}, got)
	c3, _ := connPair(t)
	_, _, got, err = r.register(c3, "w3", []string{"d"})
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, []string{"e"}, r.waitingTargets())

	// A re-register that adds e takes e.
	_, _, got, err = r.register(c1, "w1", []string{"a", "e"})
	require.NoError(t, err)
	require.Equal(t, []string{"e"}, got)
	require.Empty(t, r.waitingTargets())
}

func TestRegistryBoundsRememberedPokes(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	r.nWaiting = 3
	_, remembered := r.route([]string{"a", "b", "c", "d", "e"})
	require.Equal(t, []string{"a", "b", "c"}, remembered)
	require.Equal(t, []string{"a", "b", "c"}, r.waitingTargets())
}
