package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// textColumn describes a text column as information_schema reports it.
type textColumn struct {
	charset string // utf8mb4, utf8mb3 (alias utf8), latin1, …
	octets  int    // largest value in bytes
}

// textLimits fit launcher output into the stdout and stderr columns: valid in
// the column's character set, no longer than the column, and small enough that
// one UPDATE stays under max_allowed_packet.
type textLimits struct {
	stdout, stderr textColumn
	sig            textColumn
	packet         int // max_allowed_packet
}

// statementSlack is room in a packet for the rest of an UPDATE.
const statementSlack = 64 << 10

func newTextLimits(packet int64, stdout, stderr, sig textColumn) textLimits {
	// Client-side interpolation escapes bytes, which can double a text, and
	// one statement carries both texts: give each a quarter of the packet.
	budget := int((packet - statementSlack) / 4)
	if budget < 1024 {
		budget = 1024
	}
	for _, c := range []*textColumn{&stdout, &stderr} {
		if c.octets <= 0 || c.octets > budget {
			c.octets = budget
		}
	}
	if sig.octets <= 0 {
		sig.octets = 10
	}
	return textLimits{stdout: stdout, stderr: stderr, sig: sig, packet: int(packet)}
}

// fit makes b storable in column c: invalid UTF-8 replaced with U+FFFD,
// characters the column's charset cannot hold replaced too, and text longer
// than the column cut at a character boundary with a note saying so. NUL
// bytes are kept.
func fit(b []byte, c textColumn) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	switch c.charset {
	case "", "utf8mb4", "binary":
	case "utf8", "utf8mb3":
		s = strings.Map(func(r rune) rune {
			if r > 0xFFFF {
				return '\uFFFD'
			}
			return r
		}, s)
	default:
		// A single-byte charset (latin1, ascii…): keep ASCII only.
		s = strings.Map(func(r rune) rune {
			if r >= utf8.RuneSelf {
				return '?'
			}
			return r
		}, s)
	}
	if c.octets > 0 && len(s) > c.octets {
		note := fmt.Sprintf("\n[jobd: cut to fit the column: %d of %d bytes kept]", 0, len(s))
		keep := c.octets - len(note) - 8
		if keep < 0 {
			keep = 0
		}
		for keep > 0 && !utf8.RuneStart(s[keep]) {
			keep--
		}
		note = fmt.Sprintf("\n[jobd: cut to fit the column: %d of %d bytes kept]", keep, len(s))
		s = s[:keep] + note
		if len(s) > c.octets { // a column too small even for the note
			s = s[:c.octets]
			for len(s) > 0 && !utf8.ValidString(s) {
				s = s[:len(s)-1]
			}
		}
	}
	return s
}

// fitShort fits a short ASCII value such as a signal name.
func fitShort(s string, c textColumn) string {
	if len(s) > c.octets {
		s = s[:c.octets]
	}
	return s
}
