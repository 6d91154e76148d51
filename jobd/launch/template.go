package launch

import (
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// The placeholders of a template, indexing a values array.
const (
	placeholderID = iota
	placeholderTarget
	placeholderSlot
)

// values holds what the placeholders of one job stand for.
type values [3]string

func valuesOf(job Job) (values, error) {
	if i := strings.IndexByte(job.Target, 0); i >= 0 {
		return values{}, fmt.Errorf("target %q contains a NUL byte", job.Target)
	}
	if i := strings.IndexByte(job.Slot, 0); i >= 0 {
		return values{}, fmt.Errorf("slot %q contains a NUL byte", job.Slot)
	}
	return values{strconv.FormatInt(job.ID, 10), job.Target, job.Slot}, nil
}

// placeholder reports whether s starts with a placeholder: its length (0 if
// none) and which one.
func placeholder(s string) (n, which int) {
	if len(s) < len("{id}") || s[0] != '{' {
		return 0, 0
	}
	switch {
	case strings.HasPrefix(s, "{id}"):
		return len("{id}"), placeholderID
	case strings.HasPrefix(s, "{target}"):
		return len("{target}"), placeholderTarget
	case strings.HasPrefix(s, "{slot}"):
		return len("{slot}"), placeholderSlot
	}
	return 0, 0
}

// substitute replaces the placeholders in s with their values, in one pass:
// the values are not searched for placeholders. It does not allocate when s
// holds none.
func substitute(s string, v *values) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '{')
		if j < 0 {
			break
		}
		i += j
		n, which := placeholder(s[i:])
		if n == 0 {
			i++
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(s) + len(v[which]))
		}
		b.WriteString(s[last:i])
		b.WriteString(v[which])
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// argv returns the arguments of job's process: the template's words with the
// placeholders substituted (direct mode), or /bin/sh -c and the substituted
// script (shell mode).
func (s Spec) argv(job Job) ([]string, error) {
	v, err := valuesOf(job)
	if err != nil {
		return nil, err
	}
	if s.Shell {
		script, err := shellScript(s.Command, &v)
		if err != nil {
			return nil, err
		}
		return []string{"/bin/sh", "-c", script}, nil
	}
	words, err := splitTemplate(s.Command)
	if err != nil {
		return nil, err
	}
	for i, w := range words {
		words[i] = substitute(w, &v)
	}
	if words[0] == "" {
		return nil, fmt.Errorf("launcher template %q: the command is empty after substitution", s.Command)
	}
	return words, nil
}

// templateError is an error about template src, quoting it.
func templateError(src, format string, args ...any) error {
	return fmt.Errorf("launcher template %q: %s", src, fmt.Sprintf(format, args...))
}

// parseTemplate parses src as POSIX shell and requires at least one command.
func parseTemplate(src string) (*syntax.File, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
	if err != nil {
		return nil, templateError(src, "%v", err)
	}
	if len(f.Stmts) == 0 {
		return nil, templateError(src, "empty command")
	}
	return f, nil
}

// needsShell is the error for shell syntax in a direct-mode template.
func needsShell(src string, pos syntax.Pos, what string) error {
	return templateError(src, "%s: %s needs shell = true (quote it to pass it literally)", pos, what)
}

// splitTemplate splits a direct-mode template into its words by the POSIX
// shell grammar and removes the quoting, leaving the placeholders in. It
// rejects everything that would need a shell to mean what it says.
func splitTemplate(src string) ([]string, error) {
	if words := plainWords(src); words != nil {
		return words, nil
	}
	f, err := parseTemplate(src)
	if err != nil {
		return nil, err
	}
	if len(f.Stmts) > 1 {
		return nil, needsShell(src, f.Stmts[1].Pos(), "a second command")
	}
	st := f.Stmts[0]
	switch {
	case st.Negated:
		return nil, needsShell(src, st.Pos(), "\"!\"")
	case st.Semicolon.IsValid():
		return nil, needsShell(src, st.Semicolon, "\";\" or \"&\"")
	case len(st.Redirs) > 0:
		return nil, needsShell(src, st.Redirs[0].Pos(), "a redirection")
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil, needsShell(src, st.Cmd.Pos(), fmt.Sprintf("%q", snippet(src, st.Cmd)))
	}
	if len(call.Assigns) > 0 {
		return nil, needsShell(src, call.Assigns[0].Pos(), "a variable assignment (use env)")
	}
	words := make([]string, len(call.Args))
	for i, w := range call.Args {
		if words[i], err = unquote(src, w); err != nil {
			return nil, err
		}
	}
	return words, nil
}

// plainWords is the fast path of splitTemplate, for the usual template of
// plain words separated by blanks (php /srv/app/launcher.php {id}): it splits
// src on the blanks when that is exactly what the shell grammar would do, and
// returns nil otherwise. That is when every byte is a letter, a digit, one of
// /._-+,:=@%{} or a blank, and the first word is neither a reserved word
// ({, if, ...) nor an assignment (it has no =). It saves parsing the same
// template for every job; TestPlainWordsAgreesWithTheParser holds it to that.
func plainWords(src string) []string {
	for i := 0; i < len(src); i++ {
		if c := src[i]; !isPlainByte(c) && c != ' ' && c != '\t' {
			return nil
		}
	}
	words := strings.Fields(src)
	if len(words) == 0 || syntax.IsKeyword(words[0]) || strings.IndexByte(words[0], '=') >= 0 {
		return nil
	}
	return words
}

func isPlainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/._-+,:=@%{}", c) >= 0
}

// unquote returns the value of a direct-mode word: its quotes and backslashes
// removed by the POSIX rules, nothing expanded. (expand.Literal would keep
// the backslashes of an unquoted word, and expand.Fields would do brace
// expansion.)
func unquote(src string, w *syntax.Word) (string, error) {
	if len(w.Parts) == 1 {
		// The common case: a plain word needs no builder.
		if lit, ok := w.Parts[0].(*syntax.Lit); ok && !strings.ContainsAny(lit.Value, `\$~`) {
			return lit.Value, nil
		}
	}
	var b strings.Builder
	for i, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if i == 0 && strings.HasPrefix(p.Value, "~") {
				return "", needsShell(src, p.Pos(), "tilde expansion")
			}
			if err := unescape(&b, src, p, false); err != nil {
				return "", err
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", needsShell(src, p.Pos(), "$'...'")
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", needsShell(src, p.Pos(), "$\"...\"")
			}
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return "", needsShell(src, q.Pos(), fmt.Sprintf("%q", snippet(src, q)))
				}
				if err := unescape(&b, src, lit, true); err != nil {
					return "", err
				}
			}
		default:
			return "", needsShell(src, p.Pos(), fmt.Sprintf("%q", snippet(src, p)))
		}
	}
	return b.String(), nil
}

// unescape writes the value of a literal: outside double quotes a backslash
// quotes the next character; inside them only before $ ` " \ and newline.
// An unquoted $ is rejected: before a quote it would be $'...' in bash and a
// literal in dash.
func unescape(b *strings.Builder, src string, lit *syntax.Lit, inDouble bool) error {
	s := lit.Value
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$' && !inDouble:
			return needsShell(src, lit.Pos(), "an unquoted \"$\"")
		case c == '\\' && i+1 < len(s):
			next := s[i+1]
			if !inDouble || strings.IndexByte("$`\"\\\n", next) >= 0 {
				i++
				if next != '\n' {
					b.WriteByte(next)
				}
				continue
			}
		}
		b.WriteByte(c)
	}
	return nil
}

// snippet is the source text of n, shortened.
func snippet(src string, n syntax.Node) string {
	start, end := int(n.Pos().Offset()), int(n.End().Offset())
	if start < 0 || end > len(src) || start >= end {
		return "?"
	}
	s := src[start:end]
	if len(s) > 24 {
		s = s[:21] + "..."
	}
	return s
}

// shellScript returns a shell-mode template with each placeholder replaced by
// its value, quoted for the shell.
func shellScript(src string, v *values) (string, error) {
	if !strings.Contains(src, "{") {
		return src, nil // nothing to substitute; sh reports its own syntax errors
	}
	at, err := shellPlaceholders(src)
	if err != nil {
		return "", err
	}
	if len(at) == 0 {
		return src, nil
	}
	var b strings.Builder
	b.Grow(len(src) + 16)
	last := 0
	for _, off := range at {
		n, which := placeholder(src[off:])
		b.WriteString(src[last:off])
		b.WriteString(shellQuote(v[which]))
		last = off + n
	}
	b.WriteString(src[last:])
	return b.String(), nil
}

// shellQuote quotes s (which holds no NUL) as one word for POSIX sh, always
// with quotes: syntax.Quote, or plain single quotes where it would leave s
// bare (a bare value could join the text around it into a keyword, an
// assignment or a file descriptor number: {id}>f, {target}=x cmd) or will
// not quote it for POSIX (newlines, other unprintable characters, invalid
// UTF-8). Between single quotes every byte but ' stands for itself.
func shellQuote(s string) string {
	if q, err := syntax.Quote(s, syntax.LangPOSIX); err == nil && q != s {
		return q
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellPlaceholders parses a shell-mode template and returns the offsets of
// its placeholders, in order. It fails if the template does not parse or if
// any placeholder is somewhere a quoted value would not be read as one plain
// word: it is accepted only in an unquoted literal part of a command
// argument, an assignment value, a redirection target, a for list, or a case
// word or pattern, not after a backslash or $, and not inside backquotes.
func shellPlaceholders(src string) ([]int, error) {
	f, err := parseTemplate(src)
	if err != nil {
		return nil, err
	}
	var at []int
	var stack []syntax.Node
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		if lit, ok := n.(*syntax.Lit); ok && strings.Contains(lit.Value, "{") && safeLit(src, lit, stack) {
			base := int(lit.Pos().Offset())
			for i := 0; i < len(lit.Value); i++ {
				if k, _ := placeholder(lit.Value[i:]); k > 0 {
					if i == 0 || (lit.Value[i-1] != '\\' && lit.Value[i-1] != '$') {
						at = append(at, base+i)
					}
					i += k - 1
				}
			}
		}
		stack = append(stack, n)
		return true
	})
	// Every placeholder in the text must be one of those found safe.
	next := 0
	for i := 0; i < len(src); i++ {
		k, _ := placeholder(src[i:])
		if k == 0 {
			continue
		}
		if next < len(at) && at[next] == i {
			next++
			i += k - 1
			continue
		}
		line, col := lineCol(src, i)
		return nil, templateError(src, "%d:%d: %s cannot be substituted safely here "+
			"(inside quotes, backquotes, a comment, a here-document, ${...} or $((...)), or after \\ or $); "+
			"write it as a word of its own or use \"$JOBD_%s\"",
			line, col, src[i:i+k], strings.ToUpper(strings.Trim(src[i:i+k], "{}")))
	}
	return at, nil
}

// safeLit reports whether lit, with its ancestors in stack, is an unquoted
// part of a word that the shell reads as a plain word, and whether its value
// is its source text (so offsets into it are offsets into src).
func safeLit(src string, lit *syntax.Lit, stack []syntax.Node) bool {
	start, end := int(lit.Pos().Offset()), int(lit.End().Offset())
	if start < 0 || end > len(src) || src[start:end] != lit.Value || len(stack) < 2 {
		return false
	}
	for _, n := range stack {
		if cs, ok := n.(*syntax.CmdSubst); ok && cs.Backquotes {
			return false
		}
	}
	word, ok := stack[len(stack)-1].(*syntax.Word)
	if !ok {
		return false
	}
	switch p := stack[len(stack)-2].(type) {
	case *syntax.CallExpr, *syntax.WordIter, *syntax.CaseItem:
		// Only words in Args, Items and Patterns.
		return true
	case *syntax.Assign:
		return p.Value == word
	case *syntax.Redirect:
		return p.Word == word && p.Op != syntax.Hdoc && p.Op != syntax.DashHdoc
	case *syntax.CaseClause:
		return p.Word == word
	}
	return false
}

// lineCol returns the 1-based line and column of byte offset off in s.
func lineCol(s string, off int) (line, col int) {
	line = 1 + strings.Count(s[:off], "\n")
	return line, off - strings.LastIndexByte(s[:off], '\n')
}
