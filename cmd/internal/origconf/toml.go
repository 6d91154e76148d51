package origconf

import (
	"fmt"
	"strings"
)

// TOML writes TOML text, section by section.
type TOML struct {
	b strings.Builder
}

// Comment writes a comment line.
func (t *TOML) Comment(format string, args ...any) {
	fmt.Fprintf(&t.b, "# "+format+"\n", args...)
}

// KV writes key = v: a string quoted, anything else as fmt prints it.
func (t *TOML) KV(key string, v any) {
	if s, ok := v.(string); ok {
		v = Quote(s)
	}
	fmt.Fprintf(&t.b, "%s = %v\n", key, v)
}

// Section starts the table [name], after a blank line.
func (t *TOML) Section(name string) { fmt.Fprintf(&t.b, "\n[%s]\n", name) }

// Blank writes an empty line.
func (t *TOML) Blank() { t.b.WriteString("\n") }

// String returns the text written.
func (t *TOML) String() string { return t.b.String() }

// Quote quotes s as a TOML basic string.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Key is k as a TOML key: bare when TOML allows it, else quoted ("1/low"
// → "\"1/low\"").
func Key(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return Quote(k)
		}
	}
	return k
}
