package origconf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyAndQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, "any", Key("any"))
	require.Equal(t, "a_b-9", Key("a_b-9"))
	require.Equal(t, `"1/low"`, Key("1/low"))
	require.Equal(t, `"a.b"`, Key("a.b"))
	require.Equal(t, `""`, Key(""))
	require.Equal(t, `"a\u0001b"`, Key("a\x01b"), "quoted as TOML, not as Go")
	require.Equal(t, `"a\"b\\c\n\t\u0001"`, Quote("a\"b\\c\n\t\x01"))
}

func TestTOML(t *testing.T) {
	t.Parallel()
	var w TOML
	w.Comment("made from %s", "x.conf")
	w.Blank()
	w.KV("name", `a "b"`)
	w.KV("n", 3)
	w.KV("on", true)
	w.Section("log")
	w.KV("level", "info")
	require.Equal(t, "# made from x.conf\n\nname = \"a \\\"b\\\"\"\nn = 3\non = true\n\n[log]\nlevel = \"info\"\n", w.String())
}
