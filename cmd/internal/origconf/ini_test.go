package origconf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	f, err := Parse("old.conf", strings.NewReader(`; comment
# another
name = a ; inline comment
"quoted key" = 1

[targets]
x = 2
[extra]
[targets]
y = 3
[]
top = again
`))
	require.NoError(t, err)
	require.Equal(t, "old.conf", f.Path)
	require.Equal(t, []Entry{{"name", "a", 3}, {"quoted key", "1", 4}, {"top", "again", 12}}, f.Top,
		`keys are read as values are; after "[]" keys are top-level again`)
	require.Equal(t, []Entry{{"x", "2", 7}, {"y", "3", 10}}, f.Section("targets"), "a section named twice is one")
	require.Empty(t, f.Section("extra"))
	require.Nil(t, f.Section("none"))
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"targets", "extra", ""}, names, "in the order of their first header")
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"name = a\nlauncher php run.php\n": `old.conf:2: expected key = value, got "launcher php run.php"`,
		"name = a\n\n[targets\na = 1\n":    `old.conf:3: malformed section header "[targets"`,
		"[log] ; comment\n":                `old.conf:1: malformed section header "[log] ; comment"`,
		"= 3\n":                            "old.conf:1: empty key",
		`"" = 3` + "\n":                    "old.conf:1: empty key",
	} {
		_, err := Parse("old.conf", strings.NewReader(text))
		require.EqualError(t, err, want, "%q", text)
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`  plain  `:        "plain",
		`a ; comment`:      "a",
		`a#b`:              "a",
		`a\;b\#c\\d`:       `a;b#c\d`,
		`a\nb`:             `a\nb`,
		`trailing\`:        `trailing\`,
		`"x;y"`:            "x;y",
		`"\u00e9\t"`:       "é\t",
		`'single ; quote'`: "single ; quote",
		`'"inner"'`:        "inner",
		`"bad \q"`:         `"bad \q"`,
		`'7'`:              "7",
		`"`:                `"`,
		``:                 ``,
	} {
		require.Equal(t, want, value(in), "%s", in)
	}
}

func TestBool(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"1": true, "true": true, "0": false, "false": false, "yes": false, "TRUE": false, "on": false, "": false} {
		require.Equal(t, want, Bool(v), "%q", v)
	}
}
