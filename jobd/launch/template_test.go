package launch

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"mvdan.cc/sh/v3/syntax"
)

func TestSplitTemplate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want []string
	}{
		// Plain templates split on blanks, as the original jobd did.
		{`php /srv/app/launcher.php {id}`, []string{"php", "/srv/app/launcher.php", "{id}"}},
		{"  php\t/srv/x.php   {id}  --target={target} {slot} ", []string{"php", "/srv/x.php", "{id}", "--target={target}", "{slot}"}},
		{`/usr/bin/env FOO=1 x`, []string{"/usr/bin/env", "FOO=1", "x"}},
		// Quoting.
		{`cmd 'a b' "c d" e\ f`, []string{"cmd", "a b", "c d", "e f"}},
		{`cmd '{target} x' "--name={target}"`, []string{"cmd", "{target} x", "--name={target}"}},
		{`cmd 'it'\''s' "say \"hi\"" a\\b "\$x \a \\"`, []string{"cmd", "it's", `say "hi"`, `a\b`, `$x \a \`}},
		{`cmd '$HOME' "\$HOME" \$HOME "a$"`, []string{"cmd", "$HOME", "$HOME", "$HOME", "a$"}},
		{`cmd ''`, []string{"cmd", ""}},
		{"cmd a\\\nb", []string{"cmd", "ab"}},
		// Nothing is expanded.
		{`cmd *.go a?b [x] {a,b} a~b x=~`, []string{"cmd", "*.go", "a?b", "[x]", "{a,b}", "a~b", "x=~"}},
		// A # that starts a word starts a comment; inside a word it does not.
		{`cmd a#b # comment {id}`, []string{"cmd", "a#b"}},
		{"\n\ncmd\n", []string{"cmd"}},
	} {
		got, err := splitTemplate(tc.src)
		require.NoError(t, err, tc.src)
		require.Equal(t, tc.want, got, tc.src)
	}
}

func TestSplitTemplateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{``, "empty command"},
		{"  \t\n", "empty command"},
		{"# just a comment", "empty command"},
		{`php 'x.php {id}`, "1:5: reached EOF without closing quote"},
		{`php "x.php {id}`, "1:5: reached EOF without closing quote"},
		{`php $HOME/x.php {id}`, `1:5: "$HOME" needs shell = true`},
		{`php ${HOME}/x.php`, `1:5: "${HOME}" needs shell = true`},
		{`php $(pwd)/x.php`, `1:5: "$(pwd)" needs shell = true`},
		{"php `pwd`/x.php", "1:5: \"`pwd`\" needs shell = true"},
		{`php "$HOME/x.php"`, `1:6: "$HOME" needs shell = true`},
		{`php $((1+1))`, `1:5: "$((1+1))" needs shell = true`},
		{`php x$`, `an unquoted "$" needs shell = true`},
		{`php $'x'`, `an unquoted "$" needs shell = true`},
		{`php ~/x.php`, "1:5: tilde expansion needs shell = true"},
		{`php x.php; rm -rf /`, `1:12: a second command needs shell = true`},
		{`php x.php;`, `1:10: ";" or "&" needs shell = true`},
		{`php x.php &`, `";" or "&" needs shell = true`},
		{"php x.php\nrm -rf /", "2:1: a second command needs shell = true"},
		{`php x.php | cat`, `1:1: "php x.php | cat" needs shell = true`},
		{`php x.php && true`, `needs shell = true`},
		{`(php x.php)`, `needs shell = true`},
		{`! php x.php`, `"!" needs shell = true`},
		{`php x.php > out`, "1:11: a redirection needs shell = true"},
		{`php x.php 2>&1`, "a redirection needs shell = true"},
		{`FOO=1 php x.php`, "1:1: a variable assignment (use env) needs shell = true"},
		{`if true; then php; fi`, "needs shell = true"},
	} {
		_, err := splitTemplate(tc.src)
		require.Error(t, err, tc.src)
		require.Contains(t, err.Error(), "launcher template "+strconv.Quote(tc.src)+": ", tc.src)
		require.Contains(t, err.Error(), tc.want, tc.src)
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	v := values{"42", "{slot} $(x)", ""}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"{id}", "42"},
		{"{id}{id}-{target}.{slot}.", "4242-{slot} $(x).."},
		{"{", "{"},
		{"x{", "x{"},
		{"{{id}}", "{42}"},
		{"{ID} {foo} {idx} {id", "{ID} {foo} {idx} {id"},
		{"--slot={slot}", "--slot="},
	} {
		require.Equal(t, tc.want, substitute(tc.in, &v), tc.in)
	}
}

// Not parallel: AllocsPerRun refuses to run in a parallel test.
func TestSubstituteNoPlaceholderDoesNotAllocate(t *testing.T) {
	v := values{"42", "t", "s"}
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = substitute("/srv/app/launcher.php {x}", &v) }))
	require.NotZero(t, testing.AllocsPerRun(100, func() { _ = substitute("/srv/app/launcher.php {id}", &v) }))
}

func TestArgvDirect(t *testing.T) {
	t.Parallel()
	spec := Spec{Command: `php /srv/app/launcher.php {id} '--target={target}' {slot}`}
	hostile := []string{
		"a b; rm -rf /", "$(touch pwned)", "`touch pwned`", "x' y \"z", "a\nb", "*", "-rf", "{id}", "\xff\xfe",
	}
	for _, target := range hostile {
		for _, slot := range append(hostile, "") {
			argv, err := spec.argv(Job{ID: 42, Target: target, Slot: slot})
			require.NoError(t, err)
			require.Equal(t, []string{"php", "/srv/app/launcher.php", "42", "--target=" + target, slot}, argv)
		}
	}

	_, err := Spec{Command: "{slot} x"}.argv(Job{ID: 1, Slot: ""})
	require.EqualError(t, err, `launcher template "{slot} x": the command is empty after substitution`)
	argv, err := Spec{Command: "{slot} x"}.argv(Job{ID: 1, Slot: "echo"})
	require.NoError(t, err)
	require.Equal(t, []string{"echo", "x"}, argv)

	_, err = spec.argv(Job{ID: 1, Target: "a\x00b"})
	require.EqualError(t, err, `target "a\x00b" contains a NUL byte`)
	_, err = spec.argv(Job{ID: 1, Target: "t", Slot: "\x00"})
	require.EqualError(t, err, `slot "\x00" contains a NUL byte`)
}

func TestShellScript(t *testing.T) {
	t.Parallel()
	v := values{"42", "a b", ""}
	for _, tc := range []struct{ src, want string }{
		{`echo {id} {target} {slot}`, `echo '42' 'a b' ''`},
		{`echo --target={target}x`, `echo --target='a b'x`},
		{`X={target} env`, `X='a b' env`},
		{`echo hi >/tmp/{id}.log`, `echo hi >/tmp/'42'.log`},
		{`echo x{id}>/dev/null`, `echo x'42'>/dev/null`},
		{`for t in {target} {slot}; do echo "$t"; done`, `for t in 'a b' ''; do echo "$t"; done`},
		{`case {target} in {slot}) ;; esac`, `case 'a b' in '') ;; esac`},
		{`echo "$(echo {target})" $(echo {id})`, `echo "$(echo 'a b')" $(echo '42')`},
		{`echo {other} {}`, `echo {other} {}`},
		{`echo $JOBD_TARGET`, `echo $JOBD_TARGET`},
		// No placeholder: the template is not even parsed (sh reports its errors).
		{`echo 'unbalanced`, `echo 'unbalanced`},
	} {
		got, err := shellScript(tc.src, &v)
		require.NoError(t, err, tc.src)
		require.Equal(t, tc.want, got, tc.src)
	}
}

func TestShellPlaceholdersRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, at string }{
		{`echo "{target}"`, "1:7: {target}"},
		{`echo "x {id}"`, "1:9: {id}"},
		{`echo '{target}'`, "1:7: {target}"},
		{"echo `echo {target}`", "1:12: {target}"},
		{`echo {id} # {slot}`, "1:13: {slot}"},
		{"cat <<EOF\n{target}\nEOF", "2:1: {target}"},
		{"cat <<{id}\nx\n{id}", "1:7: {id}"},
		{`echo ${x:-{target}}`, "1:11: {target}"},
		{`echo $(( {id} + 1 ))`, "1:10: {id}"},
		{`echo \{target}`, "1:7: {target}"},
		{`echo \${target}`, "1:8: {target}"},
		{`echo x\\\{id}`, "1:10: {id}"},
	} {
		_, err := shellPlaceholders(tc.src)
		require.Error(t, err, tc.src)
		require.Contains(t, err.Error(), "launcher template "+strconv.Quote(tc.src)+": "+tc.at+" cannot be substituted safely here", tc.src)
		require.Contains(t, err.Error(), `"$JOBD_`, tc.src)
	}
	// Parse errors, including bash's {varname}> read into a word followed by >.
	for _, src := range []string{`echo 'x`, `echo {id} )`, ``, `# {id}`, `echo {id}>/dev/null`} {
		_, err := shellPlaceholders(src)
		require.Error(t, err, src)
		require.Contains(t, err.Error(), "launcher template "+strconv.Quote(src)+": ", src)
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":      `''`,
		"42":    `'42'`,
		"if":    `'if'`,
		"a b":   `'a b'`,
		"it's":  `"it's"`,
		"$'`\\": `"\$'\` + "`" + `\\"`,
		"a\nb":  "'a\nb'",
		"x'\n":  "'x'\\''\n'",
		"\xff":  "'\xff'",
	} {
		require.Equal(t, want, shellQuote(in), "%q", in)
	}
}

// FuzzShellQuote checks that a quoted value, put into a template, parses
// back as one word whose value is exactly the value, with the rest of the
// command unchanged.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "x'y", `"; rm -rf / #`, "$(id)", "`id`", "a\nb", "\\", "'", "{slot}", "if", "!", "#", "~root", "a=b", "\t", "\xff", "é\u200b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("NUL is rejected before quoting")
		}
		script, err := shellScript(`printf %s {target} x{target}y >/dev/null`, &values{"1", s, ""})
		require.NoError(t, err)
		file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), "")
		if (!utf8.ValidString(s) && err != nil) || strings.Contains(s, "\r") {
			// The parser reads runes and drops a CR before LF even inside
			// quotes, unlike sh: these are covered by running sh.
			t.Skip("not comparable with the parser")
		}
		require.NoError(t, err, script)
		require.Len(t, file.Stmts, 1, script)
		st := file.Stmts[0]
		require.Len(t, st.Redirs, 1, script)
		call, ok := st.Cmd.(*syntax.CallExpr)
		require.True(t, ok, script)
		require.Empty(t, call.Assigns, script)
		require.Len(t, call.Args, 4, script)
		var got []string
		for _, w := range call.Args {
			u, err := unquote(script, w)
			require.NoError(t, err, script)
			got = append(got, u)
		}
		require.Equal(t, []string{"printf", "%s", s, "x" + s + "y"}, got, script)
	})
}

// TestPlainWordsAgreesWithTheParser checks the fast path of splitTemplate
// against the parser on random templates made of the bytes it accepts, plus
// a few it must refuse.
func TestPlainWordsAgreesWithTheParser(t *testing.T) {
	t.Parallel()
	alphabet := "ab/._-+,:=@%{}  \t"
	words := []string{"{id}", "{target}", "{slot}", "{", "}", "if", "then", "fi", "for", "in", "do", "done", "case", "esac", "while", "until", "time", "function", "select", "A=1", "=", "{a,b}", "--x=y", "%s"}
	rng := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(6) {
			if rng.IntN(3) == 0 {
				b.WriteString(words[rng.IntN(len(words))])
			} else {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
			if rng.IntN(2) == 0 {
				b.WriteByte(" \t"[rng.IntN(2)])
			}
		}
		src := b.String()
		got := plainWords(src)
		if got == nil {
			continue
		}
		fast++
		f, err := parseTemplate(src)
		require.NoError(t, err, "%q", src)
		require.Len(t, f.Stmts, 1, "%q", src)
		call, ok := f.Stmts[0].Cmd.(*syntax.CallExpr)
		require.True(t, ok, "%q", src)
		require.Empty(t, call.Assigns, "%q", src)
		var want []string
		for _, w := range call.Args {
			u, err := unquote(src, w)
			require.NoError(t, err, "%q", src)
			want = append(want, u)
		}
		require.Equal(t, want, got, "%q", src)
	}
	require.Greater(t, fast, 5000, "the fast path was hardly taken")
	for _, src := range []string{"", " ", "{ x", "if x", "A=1 x", "x 'a'", "x $y", "x\ny", "x #y", "~/x", "x;", "é x"} {
		require.Nil(t, plainWords(src), "%q", src)
	}
	require.Equal(t, []string{"php", "/srv/app/launcher.php", "{id}"}, plainWords("php /srv/app/launcher.php {id}"))
}
