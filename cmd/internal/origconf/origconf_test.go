package origconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConverter(t *testing.T) {
	t.Parallel()
	f, err := Parse("old.conf", strings.NewReader("a = 1\nb = 2\nunknown = x\na = 3\nother = y\n[s]\nc = 4\n"))
	require.NoError(t, err)
	c := New(f, "jobd-master")
	c.Header("the README")
	e, ok := c.Get("a")
	require.True(t, ok)
	require.Equal(t, Entry{"a", "3", 4}, e, "the last of a key named twice")
	_, ok = c.Get("missing")
	require.False(t, ok)
	c.Get("b")
	c.Get("c")
	c.Warn("first %d", 1)
	c.DropUnknown()
	require.Equal(t, []string{
		"first 1",
		`old.conf:3: "unknown" is not a key of the original jobd-master; dropped`,
		`old.conf:5: "other" is not a key of the original jobd-master; dropped`,
	}, c.Warnings(), "a key of a section is not a top-level key")
	require.Equal(t, "# Converted by `jobd-master convert-config` from old.conf.\n"+
		"# Check it with `jobd-master --check-config --config FILE`; the README explains every key.\n\n"+
		"\n# Dropped, unknown to the original jobd-master: other, unknown\n", c.String())
}

func TestOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.conf")
	_, err := Open(path, "jobd")
	require.ErrorContains(t, err, "convert-config: open "+path+": no such file or directory")

	require.NoError(t, os.WriteFile(path, []byte("x = 1\n[s\n"), 0o600))
	_, err = Open(path, "jobd")
	require.EqualError(t, err, path+`:2: malformed section header "[s"`)

	require.NoError(t, os.WriteFile(path, []byte("x = 1\n"), 0o600))
	c, err := Open(path, "jobd")
	require.NoError(t, err)
	require.Equal(t, []Entry{{"x", "1", 1}}, c.File.Top)
}
