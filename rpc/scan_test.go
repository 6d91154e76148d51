package rpc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSkipValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, value string }{
		{`"a\"b",x`, `"a\"b"`},
		{`"a\\",x`, `"a\\"`},
		{`{"a":[1,"]}"],"b":{}} ,x`, `{"a":[1,"]}"],"b":{}}`},
		{`[[],[[]]]]`, `[[],[[]]]`},
		{`-1.5e3,x`, `-1.5e3`},
		{`true}`, `true`},
		{"null\n,", `null`},
		{`"unterminated`, `"unterminated`},
		{`[1,2`, `[1,2`},
	} {
		require.Equal(t, tc.value, tc.in[:skipValue([]byte(tc.in), 0)], tc.in)
	}
	require.Equal(t, 0, skipValue(nil, 0))
}

func TestEachElementAndMember(t *testing.T) {
	t.Parallel()
	var elems []string
	eachElement([]byte(` [ 1 , "a,b" , {"x":[2]} , [] ] `[1:]), func(e []byte) { elems = append(elems, string(e)) })
	require.Equal(t, []string{"1", `"a,b"`, `{"x":[2]}`, "[]"}, elems)

	elems = nil
	eachElement([]byte(`[ ]`), func(e []byte) { elems = append(elems, string(e)) })
	require.Empty(t, elems)

	var members []string
	eachMember([]byte(`{ "a" : 1 , "b\u0063" : {"k":"v"} , "" : null }`), func(k, v []byte) {
		members = append(members, string(k)+"="+string(v))
	})
	require.Equal(t, []string{"a=1", `bc={"k":"v"}`, "=null"}, members)
}

func TestDecodeString(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{`"plain"`: "plain", `"a\nb\u00e9"`: "a\nbé", "\"x\xffy\"": "x\uFFFDy", `""`: ""} {
		got, ok := decodeString([]byte(in))
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{`5`, `null`, `{}`, ``, `"`} {
		_, ok := decodeString([]byte(in))
		require.False(t, ok, in)
	}
}
