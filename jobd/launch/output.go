package launch

import (
	"fmt"
	"io"
	"slices"
)

// smallOutput is how much output a capture holds without allocating: most
// jobs print a few lines or nothing.
const smallOutput = 256

// noteRoom is the capacity kept past the cap for the omission note, so adding
// it does not copy the buffer. The note is shorter than this whatever the
// numbers in it.
const noteRoom = 192

// capture keeps what a stream wrote, in at most max bytes of memory: all of it
// while it fits, and past that the first max/2 bytes and a ring of the last
// max-max/2, with a note in between when it is read (bytes).
//
// The launcher's pipe is read with ReadFrom, straight into the buffer: no
// copy buffer per stream.
// One goroutine writes; bytes is called after it has finished.
type capture struct {
	max   int    // the cap
	head  int    // bytes kept from the start: max/2
	buf   []byte // len < max: everything so far; len == max: head, then the ring
	pos   int    // once len(buf) == max: offset in the ring of its oldest byte
	total int64  // bytes written in all
	small [smallOutput]byte
}

func (c *capture) init(max int) {
	c.max = max
	c.head = max / 2
	c.buf = c.small[:0:min(smallOutput, max)]
}

// space returns where the next bytes go: the free end of the buffer while it
// fills, then the ring from its oldest byte up to its end.
func (c *capture) space() []byte {
	if n := len(c.buf); n < c.max {
		if n == cap(c.buf) {
			size := max(2*n, 4096)
			if size >= c.max {
				size = c.max + noteRoom
			}
			grown := make([]byte, n, size)
			copy(grown, c.buf)
			c.buf = grown
		}
		return c.buf[n:min(cap(c.buf), c.max)]
	}
	return c.buf[c.head+c.pos : c.max]
}

// commit records that n bytes were put in the slice space returned.
func (c *capture) commit(n int) {
	c.total += int64(n)
	if len(c.buf) < c.max {
		c.buf = c.buf[:len(c.buf)+n]
		return
	}
	c.pos += n
	if c.pos == c.max-c.head {
		c.pos = 0
	}
}

// ReadFrom reads r until EOF or an error.
func (c *capture) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		m, err := r.Read(c.space())
		c.commit(m)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Write keeps what fits of p. It never fails.
func (c *capture) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		m := copy(c.space(), rest)
		c.commit(m)
		rest = rest[m:]
	}
	return len(p), nil
}

// bytes returns what was kept, with the omission note in the middle when
// something was left out; nil when nothing was written. It rearranges the
// buffer in place, so it is called once, after the last write.
func (c *capture) bytes() []byte {
	if c.total == 0 {
		return nil
	}
	if c.total <= int64(c.max) {
		return c.buf
	}
	// Put the ring in order (oldest byte first), then make room for the note
	// between the head and the tail.
	tail := c.buf[c.head:c.max]
	slices.Reverse(tail[:c.pos])
	slices.Reverse(tail[c.pos:])
	slices.Reverse(tail)
	note := fmt.Sprintf("\n[jobd: %d bytes omitted here; %d bytes of output, over the cap of %d; kept the first %d and the last %d]\n",
		c.total-int64(c.max), c.total, c.max, c.head, c.max-c.head)
	b := append(c.buf[:c.max], note...)
	copy(b[c.head+len(note):], b[c.head:c.max])
	copy(b[c.head:], note)
	return b
}
