package launch

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// wantCaptured is what a capture with cap max keeps of data.
func wantCaptured(data []byte, limit int) []byte {
	if len(data) == 0 {
		return nil
	}
	if len(data) <= limit {
		return data
	}
	head, tail := limit/2, limit-limit/2
	note := fmt.Sprintf("\n[jobd: %d bytes omitted here; %d bytes of output, over the cap of %d; kept the first %d and the last %d]\n",
		len(data)-limit, len(data), limit, head, tail)
	return slices.Concat(data[:head], []byte(note), data[len(data)-tail:])
}

// chunkReader returns data in reads of the sizes next gives.
type chunkReader struct {
	data []byte
	next func() int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.next(), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func TestCaptureKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, limit := range []int{1, 2, 3, 7, 100, smallOutput - 1, smallOutput, smallOutput + 1, 5000, 1 << 16} {
		for _, size := range []int{0, 1, limit - 1, limit, limit + 1, 2*limit + 3, 10*limit + 7, 3 * (1 << 16)} {
			if size < 0 {
				continue
			}
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			want := wantCaptured(data, limit)
			for _, chunks := range []struct {
				name string
				next func() int
			}{
				{"1", func() int { return 1 }},
				{"7", func() int { return 7 }},
				{"4096", func() int { return 4096 }},
				{"all", func() int { return size + 1 }},
				{"random", func() int { return 1 + rng.IntN(limit+10) }},
			} {
				name, next := chunks.name, chunks.next
				if name == "1" && size > 20000 {
					continue // slow under -race, and nothing the other sizes do not cover
				}
				var c capture
				c.init(limit)
				n, err := c.ReadFrom(&chunkReader{data: data, next: next})
				require.NoError(t, err)
				require.EqualValues(t, size, n)
				got := c.bytes()
				require.Equal(t, want, got, "ReadFrom limit %d size %d reads %s", limit, size, name)
				if limit > smallOutput {
					require.LessOrEqual(t, cap(got), limit+noteRoom, "buffer over the cap")
				}

				c = capture{}
				c.init(limit)
				for rest := data; len(rest) > 0; {
					k := min(next(), len(rest))
					m, err := c.Write(rest[:k])
					require.NoError(t, err)
					require.Equal(t, k, m)
					rest = rest[k:]
				}
				require.Equal(t, want, c.bytes(), "Write limit %d size %d writes %s", limit, size, name)
			}
		}
	}
}

func TestCaptureNote(t *testing.T) {
	t.Parallel()
	var c capture
	c.init(10)
	_, err := c.Write([]byte("0123456789abcdefghij"))
	require.NoError(t, err)
	require.Equal(t, "01234\n[jobd: 10 bytes omitted here; 20 bytes of output, over the cap of 10; kept the first 5 and the last 5]\nfghij",
		string(c.bytes()))
}

func TestCaptureRawBytes(t *testing.T) {
	t.Parallel()
	raw := []byte("ok \xff\xfe\x00 \xc3( \x00\x00 é\n")
	var c capture
	c.init(DefaultMaxOutput)
	_, err := c.ReadFrom(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, raw, c.bytes())
}

func TestCaptureReadError(t *testing.T) {
	t.Parallel()
	var c capture
	c.init(100)
	_, err := c.ReadFrom(io.MultiReader(bytes.NewReader([]byte("abc")), errReader{}))
	require.ErrorIs(t, err, io.ErrClosedPipe)
	require.Equal(t, "abc", string(c.bytes()))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

// zeroReader returns n bytes, without allocating them.
type zeroReader struct{ n int64 }

func (r *zeroReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n))
	clear(p[:k])
	r.n -= int64(k)
	return k, nil
}

// Not parallel: it measures the allocations of the whole process.
func TestCaptureMemoryIsBounded(t *testing.T) {
	const written = 200 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var c capture
	c.init(DefaultMaxOutput)
	n, err := c.ReadFrom(&zeroReader{n: written})
	require.NoError(t, err)
	require.EqualValues(t, written, n)
	got := c.bytes()
	runtime.ReadMemStats(&after)
	require.Less(t, len(got), DefaultMaxOutput+noteRoom)
	require.Contains(t, string(got), fmt.Sprintf("[jobd: %d bytes omitted here; %d bytes of output", written-DefaultMaxOutput, written))
	// Growing to the cap by doubling allocates under 2 MiB; keeping
	// everything would allocate 200 MiB or more.
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20))
}
