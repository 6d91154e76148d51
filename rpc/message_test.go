package rpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Message
	}{
		{`[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]`, &Request{No: 7, Type: "poll", Data: json.RawMessage(`{"targets":["1/low","any"]}`)}},
		{` [ 0 , { "no" : 7 , "type" : "status" , "password" : "pw" } ] `, &Request{No: 7, Type: "status", Password: "pw"}},
		{`[0,{"no":7,"type":"status","data":null,"password":null}]`, &Request{No: 7, Type: "status"}},
		{`[0,{"no":7,"type":"status","data":[]}]`, &Request{No: 7, Type: "status"}},
		{`[0,{"no":7.0,"type":"x","extra":1}]`, &Request{No: 7, Type: "x"}},
		{`[0,{"no":-3,"type":"x"}]`, &Request{No: -3, Type: "x"}},
		{`[1,{"no":7,"data":"ok"}]`, &Response{No: 7, Data: json.RawMessage(`"ok"`)}},
		{`[1,{"no":7,"data":null}]`, &Response{No: 7}},
		{`[1,{"no":7}]`, &Response{No: 7}},
		{`[1,{"no":8,"error":"concurrency must be a positive integer"}]`, &Response{No: 8, Error: "concurrency must be a positive integer"}},
		{`[1,{"no":0,"error":"x"}]`, &Response{No: 0, Error: "x"}},
		{`[2]`, Ping{}},
		{`[3]`, Pong{}},
		{`[2.0]`, Ping{}},
		{`[0,{"\u006eo":7,"type":"a","type":"b","data":{"x":"}]\""}}]`, &Request{No: 7, Type: "b", Data: json.RawMessage(`{"x":"}]\""}`)}},
		{"[0,{\"no\":7,\"type\":\"bad\xffutf8\"}]", &Request{No: 7, Type: "bad\uFFFDutf8"}},
		{`[0,{"no":7,"type":"t\u00e9\n","data":{ }}]`, &Request{No: 7, Type: "t\u00e9\n", Data: json.RawMessage(`{ }`)}},
		{"[1,{\"no\":7,\"data\":[1,[2,{\"a\":[]}]],\"NO\":8}]", &Response{No: 7, Data: json.RawMessage(`[1,[2,{"a":[]}]]`)}},
	} {
		got, err := ParseMessage([]byte(tc.in))
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseMessageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		no     int64
		reason string
	}{
		{``, 0, `empty message`},
		{` `, 0, `empty message`},
		{`{"oops"`, 0, `invalid JSON (unexpected end of JSON input): {"oops"`},
		{`[2]]`, 0, `invalid JSON (invalid character ']' after top-level value): [2]]`},
		{`{}`, 0, `expected a JSON array, got {}`},
		{`5`, 0, `expected a JSON array, got 5`},
		{`[]`, 0, `empty array`},
		{`[4]`, 0, `unknown message type 4`},
		{`[-1]`, 0, `unknown message type -1`},
		{`[1.5]`, 0, `message type must be an integer, got 1.5`},
		{`[null]`, 0, `message type must be an integer, got null`},
		{`[2,{}]`, 0, `a ping or pong is [2], got [2,{}]`},
		{`[0,{},{}]`, 0, `a request is [0,{...}], got [0,{},{}]`},
		{`[1]`, 0, `a response is [1,{...}], got [1]`},
		{`[0,[]]`, 0, `a request must be an object, got []`},
		{`[1,"x"]`, 0, `a response must be an object, got "x"`},
		{`[0,{"no":1.5,"type":"x"}]`, 0, `request "no" must be a non-zero integer, got 1.5`},
		{`[0,{"no":null,"type":"x"}]`, 0, `request "no" must be a non-zero integer, got null`},
		{`[0,{"no":1e300,"type":"x"}]`, 0, `request "no" must be a non-zero integer, got 1e300`},
		{`[0,{"no":3,"type":""}]`, 3, `request "type" must be a non-empty string, got ""`},
		{`[0,{"no":3,"type":null}]`, 3, `request "type" must be a non-empty string, got null`},
		{`[0,{"no":3,"type":"x","password":1}]`, 3, `request "password" must be a string`},
		{`[0,{"no":3,"type":"x","data":true}]`, 3, `request "data" must be an object, got true`},
		{`[1,{"no":3.5}]`, 0, `response "no" must be an integer, got 3.5`},
		{"\u00a0[2]", 0, "invalid JSON (invalid character 'Â' looking for beginning of value): \u00a0[2]"},
		{`[0,{"No":1,"type":"x"}]`, 0, `request without "no": {"No":1,"type":"x"}`},
	} {
		_, err := ParseMessage([]byte(tc.in))
		var pe *ParseError
		require.ErrorAs(t, err, &pe, tc.in)
		require.Equal(t, tc.no, pe.No, tc.in)
		require.Equal(t, tc.reason, pe.Reason, tc.in)
		require.Equal(t, "malformed message: "+tc.reason, err.Error())
	}
}

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{&Request{No: 7, Type: "poll", Data: json.RawMessage(`{"targets":["1/low","any"]}`)}, `[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]␄`},
		{&Request{No: 1, Type: "status", Password: "p\"w"}, `[0,{"no":1,"type":"status","password":"p\"w"}]␄`},
		{&Response{No: 7, Data: json.RawMessage(`"ok"`)}, `[1,{"no":7,"data":"ok"}]␄`},
		{&Response{No: 8, Error: "concurrency must be a positive integer"}, `[1,{"no":8,"error":"concurrency must be a positive integer"}]␄`},
		{&Response{No: 8, Error: "e", Data: json.RawMessage(`1`)}, `[1,{"no":8,"error":"e"}]␄`},
		{&Response{No: 9}, `[1,{"no":9}]␄`},
		{Ping{}, `[2]␄`},
		{Pong{}, `[3]␄`},
	} {
		require.Equal(t, eot(tc.want), string(tc.m.AppendFrame(nil)))
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`<a&b>`, `"<a&b>"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\r\t\x00\x04\x1f", `"\n\r\t\u0000\u0004\u001f"`},
		{"é日本\u2028", "\"é日本\u2028\""},
		{"bad\xffutf8\xc3", "\"bad\uFFFDutf8\uFFFD\""},
	} {
		got := appendString(nil, tc.in)
		require.Equal(t, tc.want, string(got), tc.in)
		require.True(t, json.Valid(got))
		require.NotContains(t, string(got), "\x04")
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, strings.ToValidUTF8(tc.in, "\uFFFD"), back)
	}
}

func TestParseInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "7": 7, "-7": -7, "7.0": 7, "7e2": 700, "9007199254740991": 1<<53 - 1, "9223372036854775807": 1<<63 - 1} {
		got, ok := parseInt(json.RawMessage(in))
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "7.5", `"7"`, "null", "true", "1e300", "[1]", "9007199254740993.0"} {
		_, ok := parseInt(json.RawMessage(in))
		require.False(t, ok, in)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"a":1}`, quote([]byte("  {\"a\":1}\n")))
	long := "a" + strings.Repeat("é", 40) // the cut at 48 bytes falls inside a rune
	got := quote([]byte(long))
	require.Equal(t, "a"+strings.Repeat("é", 23)+"…", got)
	require.Equal(t, "\uFFFDx", quote([]byte("\xffx")))
}

func TestMarshalData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, ""},
		{json.RawMessage(nil), ""},
		{json.RawMessage("null"), ""},
		{(*TargetsArgs)(nil), ""},
		{"ok", `"ok"`},
		{map[string]string{"s": "<&>"}, `{"s":"<&>"}`},
		{json.RawMessage(" [1, 2] "), `[1,2]`},
		{TargetsArgs{}, `{}`},
	} {
		got, err := marshalData(tc.in)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(got))
		if tc.want == "" {
			require.Nil(t, got)
		}
	}
	_, err := marshalData(json.RawMessage("{"))
	require.Error(t, err)
	_, err = marshalData(make(chan int))
	require.Error(t, err)
}
