package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// EOT ends every message on the wire. JSON text never contains a raw 0x04
// byte (control characters must be escaped inside strings), so splitting the
// stream on it is exact.
const EOT byte = 0x04

// DefaultMaxMessageSize bounds one message (without its EOT) when no other
// limit is configured.
const DefaultMaxMessageSize = 16 << 20

const (
	// minReadSize is the room the decoder makes before each read.
	minReadSize = 4 << 10
	// keepBufferSize is the largest buffer kept while the decoder holds no
	// unfinished message; a larger one, grown for one big message, is dropped
	// so that an idle connection costs little memory.
	keepBufferSize = 64 << 10
)

// TooLargeError reports a message that grew past the limit without its EOT.
type TooLargeError struct {
	Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message too large: more than %d bytes without an end-of-message byte", e.Limit)
}

// Decoder splits a byte stream into messages at each EOT. It reads as much as
// the reader returns, so many messages in one read and one message over many
// reads both work, and it never buffers more than the limit plus one read.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	r     io.Reader
	limit int
	buf   []byte
	start int // first byte of the unfinished message
	end   int // end of the bytes read so far
	scan  int // bytes in buf[start:scan] are known to hold no EOT
	err   error
}

// NewDecoder returns a Decoder reading from r that rejects messages longer
// than limit bytes (DefaultMaxMessageSize when limit <= 0).
func NewDecoder(r io.Reader, limit int) *Decoder {
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	return &Decoder{r: r, limit: limit}
}

// Next returns the next message, without its EOT. The slice is valid until
// the next call. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF when the stream ended inside a message; a message over
// the limit yields a *TooLargeError. Every error is final.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	for {
		if i := bytes.IndexByte(d.buf[d.scan:d.end], EOT); i >= 0 {
			eot := d.scan + i
			msg := d.buf[d.start:eot]
			d.start, d.scan = eot+1, eot+1
			if len(msg) > d.limit {
				return nil, d.fail(&TooLargeError{Limit: d.limit})
			}
			return msg, nil
		}
		d.scan = d.end
		if d.end-d.start > d.limit {
			return nil, d.fail(&TooLargeError{Limit: d.limit})
		}
		if err := d.fill(); err != nil {
			if errors.Is(err, io.EOF) && d.end > d.start {
				err = io.ErrUnexpectedEOF
			}
			return nil, d.fail(err)
		}
	}
}

// Buffered reports how many bytes of an unfinished message are held.
func (d *Decoder) Buffered() int { return d.end - d.start }

func (d *Decoder) fail(err error) error {
	d.err = err
	d.buf = nil
	d.start, d.end, d.scan = 0, 0, 0
	return err
}

// fill makes room and reads once; it returns nil after a read that returned
// bytes, even with an error (the error comes back on the next read).
func (d *Decoder) fill() error {
	d.makeRoom()
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// makeRoom ensures buf has free space after end, moving the unfinished
// message to the front or growing the buffer up to limit+1 bytes (enough to
// see that a message is too long) plus one read.
func (d *Decoder) makeRoom() {
	pending := d.end - d.start
	if pending == 0 && cap(d.buf) > keepBufferSize {
		d.buf = nil
	}
	if d.buf == nil {
		d.buf = make([]byte, minReadSize)
		d.start, d.end, d.scan = 0, 0, 0
		return
	}
	if len(d.buf)-d.end >= minReadSize {
		return
	}
	if d.start > 0 && len(d.buf)-pending >= minReadSize {
		copy(d.buf, d.buf[d.start:d.end])
		d.scan -= d.start
		d.start, d.end = 0, pending
		return
	}
	// pending <= limit here (Next checks before reading), so the cap never
	// cuts below pending+minReadSize.
	size := min(max(2*len(d.buf), pending+minReadSize), d.limit+1+minReadSize)
	buf := make([]byte, size)
	copy(buf, d.buf[d.start:d.end])
	d.scan -= d.start
	d.buf, d.start, d.end = buf, 0, pending
}
