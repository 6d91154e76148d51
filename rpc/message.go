package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MessageType is the first element of every message array.
type MessageType int

// The four message types of the protocol.
const (
	TypeRequest  MessageType = 0 // [0,{"no":N,"type":"...","data":{...},"password":"..."}]
	TypeResponse MessageType = 1 // [1,{"no":N,"data":...}] or [1,{"no":N,"error":"..."}]
	TypePing     MessageType = 2 // [2]
	TypePong     MessageType = 3 // [3]
)

// Message is one protocol message: *Request, *Response, Ping or Pong.
type Message interface {
	// AppendFrame appends the message as it goes on the wire, JSON text
	// followed by EOT, to dst.
	AppendFrame(dst []byte) []byte
}

// Request asks the peer to do something; the peer answers with a Response
// carrying the same No.
type Request struct {
	No       int64           // chosen by the sender, never 0
	Type     string          // request name: "poll", "status", ...
	Data     json.RawMessage // arguments, a JSON object; nil when omitted
	Password string          // "" when omitted
}

// Response answers the request with the same No. No 0 reports an error not
// tied to any request (malformed input, a message too large).
type Response struct {
	No    int64
	Data  json.RawMessage // nil when omitted or null
	Error string          // non-empty: the request failed with this message
}

// Ping asks the peer for a Pong.
type Ping struct{}

// Pong answers a Ping.
type Pong struct{}

// AppendFrame implements Message. Data must be valid JSON (or nil).
func (r *Request) AppendFrame(dst []byte) []byte {
	dst = append(dst, `[0,{"no":`...)
	dst = strconv.AppendInt(dst, r.No, 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, r.Type)
	if r.Data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, r.Data...)
	}
	if r.Password != "" {
		dst = append(dst, `,"password":`...)
		dst = appendString(dst, r.Password)
	}
	return append(dst, '}', ']', EOT)
}

// AppendFrame implements Message. Data must be valid JSON (or nil); it is
// left out when Error is set.
func (r *Response) AppendFrame(dst []byte) []byte {
	dst = append(dst, `[1,{"no":`...)
	dst = strconv.AppendInt(dst, r.No, 10)
	switch {
	case r.Error != "":
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, r.Error)
	case r.Data != nil:
		dst = append(dst, `,"data":`...)
		dst = append(dst, r.Data...)
	}
	return append(dst, '}', ']', EOT)
}

// AppendFrame implements Message.
func (Ping) AppendFrame(dst []byte) []byte { return append(dst, '[', '2', ']', EOT) }

// AppendFrame implements Message.
func (Pong) AppendFrame(dst []byte) []byte { return append(dst, '[', '3', ']', EOT) }

// ParseError describes a message that does not follow the protocol. No is the
// number of the request it belongs to when that much could be read, so the
// error can be answered on it; otherwise 0.
type ParseError struct {
	No     int64
	Reason string
}

func (e *ParseError) Error() string { return "malformed message: " + e.Reason }

// ParseMessage decodes one message (the bytes between two EOTs). The
// message does not keep b: the decoder reuses its buffer.
func ParseMessage(b []byte) (Message, error) {
	trimmed := trimSpace(b)
	if len(trimmed) == 0 {
		return nil, &ParseError{Reason: "empty message"}
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return nil, malformed("invalid JSON (%v): %s", err, quote(trimmed))
	}
	if trimmed[0] != '[' {
		return nil, malformed("expected a JSON array, got %s", quote(trimmed))
	}
	var elems [2][]byte
	n := 0
	eachElement(trimmed, func(e []byte) {
		if n < len(elems) {
			elems[n] = e
		}
		n++
	})
	if n == 0 {
		return nil, malformed("empty array")
	}
	typ, ok := parseInt(elems[0])
	if !ok {
		return nil, malformed("message type must be an integer, got %s", quote(elems[0]))
	}
	switch MessageType(typ) {
	case TypeRequest:
		if n != 2 {
			return nil, malformed("a request is [0,{...}], got %s", quote(trimmed))
		}
		return parseRequest(elems[1])
	case TypeResponse:
		if n != 2 {
			return nil, malformed("a response is [1,{...}], got %s", quote(trimmed))
		}
		return parseResponse(elems[1])
	case TypePing, TypePong:
		if n != 1 {
			return nil, malformed("a ping or pong is [%d], got %s", typ, quote(trimmed))
		}
		if typ == int64(TypePing) {
			return Ping{}, nil
		}
		return Pong{}, nil
	}
	return nil, malformed("unknown message type %s", quote(elems[0]))
}

func parseRequest(raw []byte) (*Request, error) {
	if raw[0] != '{' {
		return nil, malformed("a request must be an object, got %s", quote(raw))
	}
	var rawNo, rawType, rawPassword, rawData []byte
	eachMember(raw, func(key, val []byte) {
		switch string(key) {
		case "no":
			rawNo = val
		case "type":
			rawType = val
		case "password":
			rawPassword = val
		case "data":
			rawData = val
		}
	})
	if rawNo == nil {
		return nil, malformed(`request without "no": %s`, quote(raw))
	}
	no, ok := parseInt(rawNo)
	if !ok || no == 0 {
		return nil, malformed(`request "no" must be a non-zero integer, got %s`, quote(rawNo))
	}
	fail := func(format string, args ...any) (*Request, error) {
		return nil, &ParseError{No: no, Reason: fmt.Sprintf(format, args...)}
	}
	req := &Request{No: no}
	if rawType == nil {
		return fail(`request without "type"`)
	}
	if req.Type, ok = decodeString(rawType); !ok || req.Type == "" {
		return fail(`request "type" must be a non-empty string, got %s`, quote(rawType))
	}
	if rawPassword != nil && !isNull(rawPassword) {
		if req.Password, ok = decodeString(rawPassword); !ok {
			return fail(`request "password" must be a string`)
		}
	}
	if rawData != nil && !isNull(rawData) {
		switch {
		case isEmptyArray(rawData):
			// PHP's json_encode writes an empty array for an empty
			// argument list: take it as "no arguments".
		case rawData[0] == '{':
			req.Data = bytes.Clone(rawData)
		default:
			return fail(`request "data" must be an object, got %s`, quote(rawData))
		}
	}
	return req, nil
}

func parseResponse(raw []byte) (*Response, error) {
	if raw[0] != '{' {
		return nil, malformed("a response must be an object, got %s", quote(raw))
	}
	var rawNo, rawError, rawData []byte
	eachMember(raw, func(key, val []byte) {
		switch string(key) {
		case "no":
			rawNo = val
		case "error":
			rawError = val
		case "data":
			rawData = val
		}
	})
	if rawNo == nil {
		return nil, malformed(`response without "no": %s`, quote(raw))
	}
	no, ok := parseInt(rawNo)
	if !ok {
		return nil, malformed(`response "no" must be an integer, got %s`, quote(rawNo))
	}
	resp := &Response{No: no}
	if rawError != nil && !isNull(rawError) {
		if resp.Error, ok = decodeString(rawError); !ok {
			return nil, malformed(`response "error" must be a string, got %s`, quote(rawError))
		}
	}
	if rawData != nil && !isNull(rawData) {
		resp.Data = bytes.Clone(rawData)
	}
	return resp, nil
}

// trimSpace trims JSON whitespace (space, tab, LF, CR) from both ends.
func trimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func malformed(format string, args ...any) *ParseError {
	return &ParseError{Reason: fmt.Sprintf(format, args...)}
}

// parseObject decodes a JSON object into its members (json.RawMessage values
// come out trimmed of surrounding space).
func parseObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil, false
	}
	return obj, true
}

// maxSafeInteger is the largest integer a JavaScript peer represents exactly.
const maxSafeInteger = 1<<53 - 1

// parseInt accepts a JSON number with an integral value, as JavaScript's
// Number.isInteger does: 7, -7, 7.0 and 7e0 are integers, 7.5 and "7" are not.
func parseInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
		return 0, false
	}
	return int64(f), true
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func isEmptyArray(raw json.RawMessage) bool {
	return len(raw) >= 2 && raw[0] == '[' && len(trimSpace(raw[1:len(raw)-1])) == 0
}

// snippetLen is how much of a bad input an error message quotes.
const snippetLen = 48

// quote returns a short, valid UTF-8 excerpt of b for an error message.
func quote(b []byte) string {
	b = trimSpace(b)
	cut := len(b) > snippetLen
	if cut {
		b = b[:snippetLen]
		// Drop a rune the cut split in two.
		for range utf8.UTFMax - 1 {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	if cut {
		s += "…"
	}
	return s
}

// appendString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, like JavaScript's JSON.stringify; invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// marshalData encodes v as a message's data: nil and JSON null give nil (the
// key is then omitted, as the original does). HTML characters are not
// escaped, matching JavaScript peers byte for byte.
func marshalData(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		if raw == nil || isNull(raw) {
			return nil, nil
		}
		if !json.Valid(raw) {
			return nil, errors.New("invalid JSON in json.RawMessage")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if isNull(b) {
		return nil, nil
	}
	return b, nil
}
