package rpc

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// This file walks JSON text that json.Valid has already accepted, to read a
// message's array and object without building maps or copying every value:
// the receive path of every connection goes through here. Each function
// assumes valid input and only guards against running off the end.

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != ']' && b[i] != '}' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// skipString returns the index just past the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// eachElement calls fn with every element of the array b.
func eachElement(b []byte, fn func(elem []byte)) {
	i := skipSpace(b, 1) // past '['
	for i < len(b) && b[i] != ']' {
		end := skipValue(b, i)
		fn(b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}

// eachMember calls fn with every member of the object b, in order (so with
// a key given twice, the last one wins, as in JavaScript). The key is the
// raw text between the quotes; see decodeKey.
func eachMember(b []byte, fn func(key, val []byte)) {
	i := skipSpace(b, 1) // past '{'
	for i < len(b) && b[i] == '"' {
		keyEnd := skipString(b, i)
		key := b[i:keyEnd]
		i = skipSpace(b, keyEnd)
		i = skipSpace(b, i+1) // past ':'
		valEnd := skipValue(b, i)
		fn(decodeKey(key), b[i:valEnd])
		i = skipSpace(b, valEnd)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}

// decodeKey returns the text of the JSON string s (quotes included); plain
// keys, the usual case, need no allocation.
func decodeKey(s []byte) []byte {
	if len(s) >= 2 && bytes.IndexByte(s, '\\') < 0 {
		return s[1 : len(s)-1]
	}
	var k string
	if json.Unmarshal(s, &k) != nil {
		return nil
	}
	return []byte(k)
}

// decodeString decodes the JSON string s; ok is false when s is not a
// string. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func decodeString(s []byte) (string, bool) {
	if len(s) < 2 || s[0] != '"' {
		return "", false
	}
	inner := s[1 : len(s)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var v string
	if json.Unmarshal(s, &v) != nil {
		return "", false
	}
	return v, true
}
