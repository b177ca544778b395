package desktop

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"runtime"
	"sync"
	"time"

	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/xproto"
)

// The screen is kept as a cached frame: the BGRX pixels of the last grab
// and, per horizontal stripe, the deflate-compressed PNG scanlines. XDamage
// events (ReportRawRectangles on the root window) mark the rows that
// changed; a frame update grabs only those rows and recompresses only
// their stripes, in parallel. A PNG is the stripes' deflate streams
// concatenated (each ends with a sync flush, so they join into one zlib
// stream), their combined Adler-32, and the chunk framing. An unchanged
// screen costs no grab and no compression; settling waits for a quiet
// period in the damage stream instead of comparing grabs.

const (
	stripeRows = 16
	stripes    = (Height + stripeRows - 1) / stripeRows
	rowBytes   = 1 + 3*Width // filter byte + RGB
)

// quiet is how long the damage stream must stay silent for the screen to
// count as settled.
const quiet = 12 * time.Millisecond

type stripe struct {
	z     []byte // deflate data, sync-flushed (byte aligned, not final)
	adler uint32 // Adler-32 of the stripe's filtered scanlines
	n     int    // filtered scanline bytes
}

// frame is the cached screen of a display.
type frame struct {
	raw   []byte // BGRX, 4*Width*Height
	dirty [stripes]bool
	enc   [stripes]stripe
	valid bool // raw holds a grab
	png   []byte
}

var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// initDamage starts damage tracking of the root window and the goroutine
// that drains the connection's events.
func (d *display) initDamage() error {
	if err := damage.Init(d.conn); err != nil {
		return fmt.Errorf("desktop: DAMAGE: %w", err)
	}
	if _, err := damage.QueryVersion(d.conn, 1, 1).Reply(); err != nil {
		return fmt.Errorf("desktop: DAMAGE version: %w", err)
	}
	id, err := damage.NewDamageId(d.conn)
	if err != nil {
		return fmt.Errorf("desktop: DAMAGE id: %w", err)
	}
	if err := damage.CreateChecked(d.conn, id, xproto.Drawable(d.root), damage.ReportLevelRawRectangles).Check(); err != nil {
		return fmt.Errorf("desktop: DAMAGE create: %w", err)
	}
	d.changed = make(chan struct{}, 1)
	d.rows = [2]int{0, Height}
	d.lastDamage = time.Now()
	go d.events()
	return nil
}

// events drains the X connection: damage marks rows dirty, anything else
// (errors of unchecked requests) is dropped. It ends when the connection
// closes.
func (d *display) events() {
	for {
		ev, xerr := d.conn.WaitForEvent()
		if ev == nil && xerr == nil {
			return
		}
		n, ok := ev.(damage.NotifyEvent)
		if !ok {
			continue
		}
		y0, y1 := int(n.Area.Y), int(n.Area.Y)+int(n.Area.Height)
		d.mu.Lock()
		if d.rows[0] >= d.rows[1] {
			d.rows = [2]int{y0, y1}
		} else {
			d.rows = [2]int{min(d.rows[0], y0), max(d.rows[1], y1)}
		}
		d.lastDamage = time.Now()
		d.mu.Unlock()
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}
}

// settle waits until the damage stream has been quiet for the quiet
// period (counted from the call), at most max, and returns the PNG of the
// screen.
func (d *display) settle(max time.Duration) ([]byte, error) {
	start := time.Now()
	deadline := start.Add(max)
	for {
		d.mu.Lock()
		ref := d.lastDamage
		d.mu.Unlock()
		if ref.Before(start) {
			ref = start
		}
		wake := ref.Add(quiet)
		now := time.Now()
		if !now.Before(wake) || !now.Before(deadline) {
			break
		}
		if wake.After(deadline) {
			wake = deadline
		}
		t := time.NewTimer(wake.Sub(now))
		select {
		case <-t.C:
		case <-d.changed:
			t.Stop()
		}
	}
	return d.snapshot()
}

// snapshot brings the frame up to date (grabbing the damaged rows) and
// returns its PNG.
func (d *display) snapshot() ([]byte, error) {
	if !d.alive() {
		return nil, ErrCrashed
	}
	d.mu.Lock()
	y0, y1 := d.rows[0], d.rows[1]
	d.rows = [2]int{0, 0}
	d.mu.Unlock()
	f := &d.frame
	if !f.valid {
		y0, y1 = 0, Height
	}
	y0, y1 = max(y0, 0), min(y1, Height)
	if y0 < y1 {
		// Whole stripes: the grab covers every stripe it re-encodes.
		y0 = y0 / stripeRows * stripeRows
		y1 = min((y1+stripeRows-1)/stripeRows*stripeRows, Height)
		if err := d.grabRows(y0, y1); err != nil {
			return nil, err
		}
		for s := y0 / stripeRows; s*stripeRows < y1; s++ {
			f.dirty[s] = true
		}
		f.valid = true
		f.png = nil
	}
	if f.png == nil {
		f.encode()
	}
	return f.png, nil
}

// grabRows copies rows [y0, y1) of the root window into the frame. Large
// bands go in pieces under the request size limit.
func (d *display) grabRows(y0, y1 int) error {
	if d.frame.raw == nil {
		d.frame.raw = make([]byte, 4*Width*Height)
	}
	const band = 128
	for y := y0; y < y1; y += band {
		h := min(band, y1-y)
		img, err := xproto.GetImage(d.conn, xproto.ImageFormatZPixmap, xproto.Drawable(d.root), 0, int16(y), Width, uint16(h), 0xffffffff).Reply()
		if err != nil {
			return d.wrap(fmt.Errorf("desktop: get image: %w", err))
		}
		copy(d.frame.raw[4*Width*y:4*Width*(y+h)], img.Data)
	}
	return nil
}

// encode recompresses the dirty stripes in parallel and assembles the PNG.
func (f *frame) encode() {
	var todo []int
	for s := range stripes {
		if f.dirty[s] {
			todo = append(todo, s)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	next := make(chan int, len(todo))
	for _, s := range todo {
		next <- s
	}
	close(next)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, rowBytes*stripeRows)
			for s := range next {
				f.encodeStripe(s, buf)
			}
		})
	}
	wg.Wait()
	f.dirty = [stripes]bool{}
	f.png = f.assemble()
}

func (f *frame) encodeStripe(s int, buf []byte) {
	y0, y1 := s*stripeRows, min((s+1)*stripeRows, Height)
	n := 0
	for y := y0; y < y1; y++ {
		buf[n] = 0 // filter: none
		n++
		row := f.raw[4*Width*y : 4*Width*(y+1)]
		for i := 0; i < len(row); i += 4 {
			buf[n], buf[n+1], buf[n+2] = row[i+2], row[i+1], row[i]
			n += 3
		}
	}
	st := &f.enc[s]
	out := bytes.NewBuffer(st.z[:0])
	w := writers.Get().(*flate.Writer)
	w.Reset(out)
	w.Write(buf[:n]) //nolint:errcheck // writes to a bytes.Buffer
	w.Flush()        //nolint:errcheck // sync flush: byte aligned, not final
	writers.Put(w)
	st.z, st.adler, st.n = out.Bytes(), adler32.Checksum(buf[:n]), n
}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// assemble joins the stripes into one PNG (8-bit RGB, no interlace).
func (f *frame) assemble() []byte {
	size := 0
	for s := range stripes {
		size += len(f.enc[s].z)
	}
	out := make([]byte, 0, size+128)
	out = append(out, pngSig...)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], Width)
	binary.BigEndian.PutUint32(ihdr[4:], Height)
	ihdr[8], ihdr[9] = 8, 2 // depth 8, colour type RGB
	out = chunk(out, "IHDR", ihdr[:])
	// IDAT, written in place: length, type, zlib stream, CRC.
	start := len(out)
	out = append(out, 0, 0, 0, 0, 'I', 'D', 'A', 'T')
	out = append(out, 0x78, 0x01) // zlib header: deflate, 32K window, fastest
	adler := uint32(1)
	for s := range stripes {
		st := &f.enc[s]
		out = append(out, st.z...)
		adler = adler32Combine(adler, st.adler, st.n)
	}
	out = append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // final empty stored block
	out = binary.BigEndian.AppendUint32(out, adler)
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-8))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start+4:]))
	return chunk(out, "IEND", nil)
}

func chunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// adler32Combine is zlib's adler32_combine: the checksum of A||B from
// those of A and B and the length of B.
func adler32Combine(a, b uint32, lenB int) uint32 {
	const base = 65521
	rem := uint32(lenB % base)
	sum1 := a & 0xffff
	sum2 := (rem * sum1) % base
	sum1 += (b & 0xffff) + base - 1
	sum2 += (a >> 16) + (b >> 16) + base - rem
	if sum1 >= base {
		sum1 -= base
	}
	if sum1 >= base {
		sum1 -= base
	}
	if sum2 >= base<<1 {
		sum2 -= base << 1
	}
	if sum2 >= base {
		sum2 -= base
	}
	return sum1 | sum2<<16
}
