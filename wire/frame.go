package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// MaxFrame bounds one message on the session socket (screenshots fit).
const MaxFrame = 64 << 20

// WriteFrame writes m as a 4-byte little-endian length and its protobuf
// bytes, then flushes.
func WriteFrame(w *bufio.Writer, m proto.Message, buf []byte) ([]byte, error) {
	var err error
	buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
	if err != nil {
		return buf, fmt.Errorf("wire: encode: %w", err)
	}
	if len(buf) > MaxFrame {
		return buf, fmt.Errorf("wire: message of %d bytes exceeds %d", len(buf), MaxFrame)
	}
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(buf)))
	if _, err := w.Write(hdr[:]); err != nil {
		return buf, err
	}
	if _, err := w.Write(buf); err != nil {
		return buf, err
	}
	return buf, w.Flush()
}

// ReadFrame reads one frame into m; buf is reused between calls.
func ReadFrame(r *bufio.Reader, m proto.Message, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return buf, fmt.Errorf("wire: frame of %d bytes exceeds %d", n, MaxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	if err := proto.Unmarshal(buf, m); err != nil {
		return buf, fmt.Errorf("wire: decode: %w", err)
	}
	return buf, nil
}
