package origconf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// File is an ini file as the original read it (with the npm "ini"
// package): top-level keys, and sections of keys, in file order.
type File struct {
	Path     string
	Top      []Entry
	Sections []*Section // in the order of their first header; a section named twice is one
}

// Section is a [name] section.
type Section struct {
	Name    string
	Entries []Entry
}

// Entry is one key = value line, its key and value read as the original
// read them.
type Entry struct {
	Key, Value string
	Line       int
}

// Section returns the entries of the section named name, nil when there
// is none.
func (f *File) Section(name string) []Entry {
	if s := f.section(name); s != nil {
		return s.Entries
	}
	return nil
}

func (f *File) section(name string) *Section {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Parse reads an ini file. Lines starting with ";" or "#" are comments; a
// line that is neither a [section] header nor key = value is an error
// naming the file and line.
func Parse(path string, r io.Reader) (*File, error) {
	f := &File{Path: path}
	var cur *Section // nil at the top level
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", path, n, line)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			cur = f.section(name)
			if cur == nil {
				cur = &Section{Name: name}
				f.Sections = append(f.Sections, cur)
			}
			if name == "" {
				cur = nil // "[]": the keys that follow are top-level ones
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected key = value, got %q", path, n, line)
		}
		e := Entry{Key: value(k), Value: value(v), Line: n}
		if e.Key == "" {
			return nil, fmt.Errorf("%s:%d: empty key", path, n)
		}
		if cur == nil {
			f.Top = append(f.Top, e)
		} else {
			cur.Entries = append(cur.Entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// value reads a key or a value as the npm "ini" package (its "unsafe")
// does, so the converted config means what the original one did: a quoted
// text is JSON-decoded (single quotes removed first; text that is not
// valid JSON is kept as it is); otherwise ";" or "#" starts a comment,
// "\;", "\#" and "\\" are escapes, and spaces around are trimmed.
func value(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		if v[0] == '\'' {
			v = v[1 : len(v)-1]
		}
		var x any
		if err := json.Unmarshal([]byte(v), &x); err == nil {
			if s, ok := x.(string); ok {
				return s
			}
			return strings.TrimSpace(v) // a number, true, false or null: its text
		}
		return v
	}
	var b strings.Builder
	esc := false
	for _, r := range v {
		switch {
		case esc:
			if !strings.ContainsRune(`\;#`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
			esc = false
		case r == ';' || r == '#':
			return strings.TrimSpace(b.String())
		case r == '\\':
			esc = true
		default:
			b.WriteRune(r)
		}
	}
	if esc {
		b.WriteByte('\\')
	}
	return strings.TrimSpace(b.String())
}

// Bool is what the original took for true: exactly "true" or "1" ("yes",
// "TRUE" and "on" were false).
func Bool(v string) bool { return v == "true" || v == "1" }
