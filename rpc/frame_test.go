package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// decodeAll reads every message from r, returning them and the final error.
func decodeAll(t testing.TB, d *Decoder) ([]string, error) {
	var msgs []string
	for {
		b, err := d.Next()
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, string(b))
		if cap(d.buf) > d.limit+1+minReadSize {
			t.Fatalf("buffer grew to %d bytes with a limit of %d", cap(d.buf), d.limit)
		}
	}
}

// splitReader returns the stream in chunks of random sizes.
type splitReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+r.rng.IntN(r.max), len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

var sampleStream = eot(`[0,{"no":7,"type":"poll","data":{"targets":["1/low","any"]}}]␄` +
	`[1,{"no":7,"data":"ok"}]␄[2]␄[3]␄␄{"oops"␄` +
	`[1,{"no":8,"data":"` + strings.Repeat("é", 5000) + `"}]␄`)

func sampleMessages() []string {
	parts := strings.Split(sampleStream, "\x04")
	return parts[:len(parts)-1]
}

func TestDecoderManyMessagesInOneRead(t *testing.T) {
	t.Parallel()
	msgs, err := decodeAll(t, NewDecoder(strings.NewReader(sampleStream), 0))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, sampleMessages(), msgs)
}

func TestDecoderOneByteAtATime(t *testing.T) {
	t.Parallel()
	msgs, err := decodeAll(t, NewDecoder(iotest.OneByteReader(strings.NewReader(sampleStream)), 0))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, sampleMessages(), msgs)
}

func TestDecoderRandomSplits(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		r := &splitReader{data: []byte(sampleStream), rng: rng, max: 1 + rng.IntN(10000)}
		msgs, err := decodeAll(t, NewDecoder(r, 0))
		require.ErrorIs(t, err, io.EOF, "seed %d", seed)
		require.Equal(t, sampleMessages(), msgs, "seed %d", seed)
	}
}

func TestDecoderDataWithError(t *testing.T) {
	t.Parallel()
	msgs, err := decodeAll(t, NewDecoder(iotest.DataErrReader(strings.NewReader("[2]\x04[3]\x04")), 0))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []string{"[2]", "[3]"}, msgs)
}

func TestDecoderEndInsideMessage(t *testing.T) {
	t.Parallel()
	msgs, err := decodeAll(t, NewDecoder(strings.NewReader("[2]\x04[3"), 0))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Equal(t, []string{"[2]"}, msgs)
	d := NewDecoder(strings.NewReader(""), 0)
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestDecoderLimit(t *testing.T) {
	t.Parallel()
	const limit = 10000
	atLimit := strings.Repeat("x", limit)
	for _, tc := range []struct {
		name     string
		stream   string
		msgs     []string
		tooLarge bool
	}{
		{"a message of exactly the limit", atLimit + "\x04[2]\x04", []string{atLimit, "[2]"}, false},
		{"one byte over, with its EOT", atLimit + "x\x04[2]\x04", nil, true},
		{"one byte over, no EOT yet", atLimit + "x", nil, true},
		{"the limit applies per message", "[2]\x04" + atLimit + "\x04" + atLimit + "\x04", []string{"[2]", atLimit, atLimit}, false},
		{"a later message over", "[2]\x04" + atLimit + "xx\x04", []string{"[2]"}, true},
	} {
		for _, r := range map[string]func() io.Reader{
			"one read":  func() io.Reader { return strings.NewReader(tc.stream) },
			"byte-wise": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tc.stream)) },
		} {
			d := NewDecoder(r(), limit)
			msgs, err := decodeAll(t, d)
			require.Equal(t, tc.msgs, msgs, tc.name)
			if !tc.tooLarge {
				require.ErrorIs(t, err, io.EOF, tc.name)
				continue
			}
			var tooLarge *TooLargeError
			require.ErrorAs(t, err, &tooLarge, tc.name)
			require.Equal(t, "message too large: more than 10000 bytes without an end-of-message byte", err.Error())
			_, again := d.Next()
			require.Equal(t, err, again, "errors are final")
		}
	}
}

// A reader that never ends: the decoder stops at the limit, having
// buffered no more than the limit plus one read.
func TestDecoderBoundedMemory(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	endless := io.MultiReader(strings.NewReader("["), repeatReader('1'))
	d := NewDecoder(endless, limit)
	_, err := d.Next()
	var tooLarge *TooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Nil(t, d.buf, "the buffer is released")
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// After a big message the decoder goes back to a small buffer before it
// waits for more.
func TestDecoderShrinksAfterBigMessage(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	r := io.MultiReader(strings.NewReader(big+"\x04[2]\x04"), strings.NewReader("[3]\x04"))
	d := NewDecoder(r, 0)
	b, err := d.Next()
	require.NoError(t, err)
	require.Len(t, b, len(big))
	require.Greater(t, cap(d.buf), keepBufferSize)
	for _, want := range []string{"[2]", "[3]"} {
		b, err = d.Next()
		require.NoError(t, err)
		require.Equal(t, want, string(b))
	}
	require.LessOrEqual(t, cap(d.buf), keepBufferSize)
}

func TestDecoderNoProgress(t *testing.T) {
	t.Parallel()
	_, err := NewDecoder(zeroReader{}, 0).Next()
	require.ErrorIs(t, err, io.ErrNoProgress)
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// FuzzDecoder feeds arbitrary streams, cut at arbitrary places, to the
// decoder and the message parser: no panic, the same messages as a plain
// split at EOT, the buffer never beyond the limit plus one read, and every
// message that parses encodes back to something that parses the same.
func FuzzDecoder(f *testing.F) {
	for _, seed := range []string{
		sampleStream,
		eot(`[0,{"no":1,"type":"status"}]␄[1,{"no":1,"error":"x"}]␄`),
		eot(`[0,{"no":1,"type":"poll","data":[]}]␄[0,{"no":2.0,"type":"p","password":"pw"}]␄`),
		eot(`[0,{"no":1e3,"type":"p","data":{"a":[1,{"b":null}]}}]␄[1,{"no":-5,"data":null}]␄`),
		eot(`[]␄[9]␄null␄{"no":1}␄"x"␄[0]␄[0,1]␄[1,[]]␄[2,3]␄`),
		eot(`[0,{"no":"1","type":"p"}]␄[0,{"no":1}]␄[0,{"no":1,"type":""}]␄[0,{"no":1,"type":"p","data":5}]␄`),
		eot(`[0,{"no":1,"type":"p\u0000\ud800"}]␄[1,{"no":99999999999999999999}]␄`),
		"\xff\xfe\x04\x00\x04[[[[[[[[[[[[[[[[\x04",
		strings.Repeat("x", 300) + "\x04",
		"[0,{\"no\":1,\"type\":\"unfinished",
	} {
		f.Add([]byte(seed), uint64(1), uint16(256))
	}
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64, limit uint16) {
		lim := 16 + int(limit)%4096
		want, wantTooLarge, wantEnd := referenceSplit(stream, lim)

		rng := rand.New(rand.NewPCG(seed, seed>>32))
		d := NewDecoder(&splitReader{data: bytes.Clone(stream), rng: rng, max: 1 + rng.IntN(64)}, lim)
		got, err := decodeAll(t, d)
		if !equalStrings(got, want) {
			t.Fatalf("messages %q, want %q", got, want)
		}
		var tooLarge *TooLargeError
		switch {
		case wantTooLarge:
			if !errors.As(err, &tooLarge) {
				t.Fatalf("error %v, want too large", err)
			}
		case !errors.Is(err, wantEnd):
			t.Fatalf("error %v, want %v", err, wantEnd)
		}
		for _, m := range got {
			checkParse(t, []byte(m))
		}
	})
}

// referenceSplit is the decoder's contract, written plainly.
func referenceSplit(stream []byte, limit int) (msgs []string, tooLarge bool, end error) {
	parts := bytes.Split(stream, []byte{EOT})
	for i, p := range parts {
		if len(p) > limit {
			return msgs, true, nil
		}
		if i == len(parts)-1 {
			if len(p) > 0 {
				return msgs, false, io.ErrUnexpectedEOF
			}
			return msgs, false, io.EOF
		}
		msgs = append(msgs, string(p))
	}
	return msgs, false, io.EOF
}

// checkParse parses b; a message that parses must encode to a frame that
// parses back to the same message.
func checkParse(t *testing.T, b []byte) {
	m, err := ParseMessage(b)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason == "" {
			t.Fatalf("ParseMessage(%q): unexpected error %#v", b, err)
		}
		return
	}
	checkAgainstEncodingJSON(t, b, m)
	frame := m.AppendFrame(nil)
	if bytes.IndexByte(frame, EOT) != len(frame)-1 {
		t.Fatalf("frame %q has an EOT inside", frame)
	}
	again, err := ParseMessage(frame[:len(frame)-1])
	if err != nil {
		t.Fatalf("re-encoded %q as %q, which does not parse: %v", b, frame, err)
	}
	if !bytes.Equal(again.AppendFrame(nil), frame) {
		t.Fatalf("round trip of %q changed it: %q", frame, again.AppendFrame(nil))
	}
}

// checkAgainstEncodingJSON compares what ParseMessage read from b with a
// plain encoding/json decoding of b.
func checkAgainstEncodingJSON(t *testing.T, b []byte, m Message) {
	generic := decodeGeneric(t, b)
	arr, ok := generic.([]any)
	if !ok || len(arr) == 0 {
		t.Fatalf("%q parsed as %#v but is not a non-empty array", b, m)
	}
	member := func(key string) any {
		if len(arr) < 2 {
			t.Fatalf("%q parsed as %#v but has no body", b, m)
		}
		obj, ok := arr[1].(map[string]any)
		if !ok {
			t.Fatalf("%q parsed as %#v but its body is not an object", b, m)
		}
		return obj[key]
	}
	str := func(v any) string {
		s, _ := v.(string)
		return s
	}
	sameData := func(data json.RawMessage, want any) {
		if data == nil {
			if arr, isArr := want.([]any); want != nil && !(isArr && len(arr) == 0) {
				t.Fatalf("%q: data %v lost", b, want)
			}
			return
		}
		if got := decodeGeneric(t, data); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: data %#v, encoding/json reads %#v", b, got, want)
		}
	}
	sameNo := func(no int64) bool {
		n, _ := member("no").(json.Number)
		f, err := n.Float64()
		return err == nil && f == float64(no)
	}
	switch m := m.(type) {
	case *Request:
		if m.Type != str(member("type")) || m.Password != str(member("password")) || !sameNo(m.No) {
			t.Fatalf("%q parsed as %+v, encoding/json reads %v", b, m, arr[1])
		}
		sameData(m.Data, member("data"))
	case *Response:
		if m.Error != str(member("error")) || !sameNo(m.No) {
			t.Fatalf("%q parsed as %+v, encoding/json reads %v", b, m, arr[1])
		}
		sameData(m.Data, member("data"))
	}
}

func decodeGeneric(t *testing.T, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q parsed, but encoding/json says: %v", b, err)
	}
	return v
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
