package desktop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/jezek/xgb/xtest"
)

// ErrCrashed is wrapped by errors caused by the X server dying.
var ErrCrashed = errors.New("desktop: X server crashed or was killed")

// ErrNoXvfb means the Xvfb binary is missing.
var ErrNoXvfb = errors.New("desktop: Xvfb not found (apt-get install xvfb)")

// display is one Xvfb with an in-process X11 connection (XTEST for input,
// GetImage for screenshots).
type display struct {
	num  int
	cmd  *exec.Cmd
	conn *xgb.Conn
	root xproto.Window
	keys map[xproto.Keysym]keyOf

	// Damage tracking (frame.go): rows [rows[0], rows[1]) changed since the
	// last snapshot; lastDamage is when the last damage event arrived.
	mu         sync.Mutex
	rows       [2]int
	lastDamage time.Time
	changed    chan struct{}
	frame      frame
}

type keyOf struct {
	code  xproto.Keycode
	shift bool
}

// startDisplay starts Xvfb on the first free display number from 90.
func startDisplay(ctx context.Context) (*display, error) {
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		return nil, ErrNoXvfb
	}
	// Xvfb picks a free display number itself and writes it to fd 3 once
	// it accepts connections. Choosing the number here raced: two envs
	// starting together both saw :90 free, one Xvfb lost the lock, and
	// its env connected to the other's server.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("desktop: pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", Width, Height), "-nolisten", "tcp", "-noreset", "-nocursor")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("desktop: start Xvfb: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	type answer struct {
		num int
		err error
	}
	got := make(chan answer, 1)
	go func() {
		b := make([]byte, 32)
		n, err := io.ReadAtLeast(r, b, 1)
		for err == nil && !strings.Contains(string(b[:n]), "\n") && n < len(b) {
			var m int
			m, err = r.Read(b[n:])
			n += m
		}
		num, perr := strconv.Atoi(strings.TrimSpace(string(b[:n])))
		if perr != nil && err == nil {
			err = perr
		}
		got <- answer{num, err}
	}()
	fail := func(err error) (*display, error) {
		cmd.Process.Kill()
		<-exited
		return nil, err
	}
	var num int
	select {
	case a := <-got:
		if a.err != nil {
			return fail(fmt.Errorf("desktop: Xvfb gave no display number: %w", a.err))
		}
		num = a.num
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(10 * time.Second):
		return fail(errors.New("desktop: Xvfb did not come up within 10s"))
	}
	conn, err := xgb.NewConnDisplay(":" + strconv.Itoa(num))
	if err != nil {
		return fail(fmt.Errorf("desktop: connect to Xvfb :%d: %w", num, err))
	}
	d := &display{num: num, cmd: cmd, conn: conn}
	if err := d.init(); err != nil {
		d.close()
		return nil, err
	}
	if err := d.initDamage(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *display) init() error {
	if err := xtest.Init(d.conn); err != nil {
		return fmt.Errorf("desktop: XTEST: %w", err)
	}
	setup := xproto.Setup(d.conn)
	d.root = setup.DefaultScreen(d.conn).Root
	n := int(setup.MaxKeycode) - int(setup.MinKeycode) + 1
	km, err := xproto.GetKeyboardMapping(d.conn, setup.MinKeycode, byte(n)).Reply()
	if err != nil {
		return fmt.Errorf("desktop: keyboard mapping: %w", err)
	}
	per := int(km.KeysymsPerKeycode)
	d.keys = map[xproto.Keysym]keyOf{}
	for i := range n {
		code := xproto.Keycode(int(setup.MinKeycode) + i)
		for col := 0; col < min(per, 2); col++ {
			ks := km.Keysyms[i*per+col]
			if ks == 0 {
				continue
			}
			if _, seen := d.keys[ks]; !seen {
				d.keys[ks] = keyOf{code: code, shift: col == 1}
			}
		}
	}
	return nil
}

// alive reports whether the Xvfb process still runs.
func (d *display) alive() bool {
	if d == nil || d.cmd.Process == nil {
		return false
	}
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(st), ')')
	return !(i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X'))
}

func (d *display) close() {
	if d.conn != nil {
		d.conn.Close()
	}
	if d.cmd.Process != nil {
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	}
	os.Remove(fmt.Sprintf("/tmp/.X%d-lock", d.num))
	os.Remove(fmt.Sprintf("/tmp/.X11-unix/X%d", d.num))
}

// sync waits until the server processed every request sent so far.
func (d *display) sync() error {
	if _, err := xproto.GetInputFocus(d.conn).Reply(); err != nil {
		return d.wrap(err)
	}
	return nil
}

func (d *display) wrap(err error) error {
	if err != nil && !d.alive() {
		return fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	return err
}

const (
	evKeyPress      = 2
	evKeyRelease    = 3
	evButtonPress   = 4
	evButtonRelease = 5
	evMotion        = 6
)

func (d *display) fake(typ, detail byte, x, y int) {
	xtest.FakeInput(d.conn, typ, detail, 0, d.root, int16(x), int16(y), 0)
}

func (d *display) move(x, y int) { d.fake(evMotion, 0, x, y) }

// click presses and releases button at x,y, count times.
func (d *display) click(x, y int, button byte, count int) error {
	d.move(x, y)
	for range count {
		d.fake(evButtonPress, button, 0, 0)
		d.fake(evButtonRelease, button, 0, 0)
	}
	return d.sync()
}

func (d *display) press(x, y int, hold time.Duration) error {
	d.move(x, y)
	d.fake(evButtonPress, 1, 0, 0)
	if err := d.sync(); err != nil {
		return err
	}
	time.Sleep(hold)
	d.fake(evButtonRelease, 1, 0, 0)
	return d.sync()
}

func (d *display) drag(x0, y0, x1, y1 int) error {
	d.move(x0, y0)
	d.fake(evButtonPress, 1, 0, 0)
	for i := 1; i <= 5; i++ {
		d.move(x0+(x1-x0)*i/5, y0+(y1-y0)*i/5)
	}
	d.fake(evButtonRelease, 1, 0, 0)
	return d.sync()
}

// Keysyms of the keys typed by name.
const (
	ksReturn = 0xff0d
	ksEscape = 0xff1b
	ksTab    = 0xff09
	ksShiftL = 0xffe1
)

// key taps one keysym, with shift where the keymap needs it.
func (d *display) key(ks xproto.Keysym) error {
	k, ok := d.keys[ks]
	if !ok {
		return fmt.Errorf("desktop: no key for keysym %#x", ks)
	}
	shift := d.keys[ksShiftL]
	if k.shift {
		d.fake(evKeyPress, byte(shift.code), 0, 0)
	}
	d.fake(evKeyPress, byte(k.code), 0, 0)
	d.fake(evKeyRelease, byte(k.code), 0, 0)
	if k.shift {
		d.fake(evKeyRelease, byte(shift.code), 0, 0)
	}
	return nil
}

// typeText types printable ASCII, newlines and tabs.
func (d *display) typeText(s string) error {
	for _, r := range s {
		var ks xproto.Keysym
		switch {
		case r == '\n':
			ks = ksReturn
		case r == '\t':
			ks = ksTab
		case r >= 0x20 && r < 0x7f:
			ks = xproto.Keysym(r)
		default:
			return fmt.Errorf("desktop: cannot type %q (printable ASCII only)", r)
		}
		if err := d.key(ks); err != nil {
			return err
		}
	}
	return d.sync()
}

// pointerClass is the WM_CLASS of the top-level window under the pointer,
// the one keys go to (there is no window manager: focus follows the
// pointer); "" over the bare root.
func (d *display) pointerClass() string {
	r, err := xproto.QueryPointer(d.conn, d.root).Reply()
	if err != nil || r.Child == 0 {
		return ""
	}
	p, err := xproto.GetProperty(d.conn, false, r.Child, xproto.AtomWmClass, xproto.GetPropertyTypeAny, 0, 256).Reply()
	if err != nil {
		return ""
	}
	return string(p.Value)
}

// window is a mapped top-level window.
type window struct {
	Title  string `json:"title"`
	Bounds [4]int `json:"bounds"`
}

// windows lists the viewable top-level windows, bottom to top.
func (d *display) windows() ([]window, error) {
	tree, err := xproto.QueryTree(d.conn, d.root).Reply()
	if err != nil {
		return nil, d.wrap(err)
	}
	var out []window
	for _, w := range tree.Children {
		attr, err := xproto.GetWindowAttributes(d.conn, w).Reply()
		if err != nil || attr.MapState != xproto.MapStateViewable || attr.OverrideRedirect {
			continue
		}
		g, err := xproto.GetGeometry(d.conn, xproto.Drawable(w)).Reply()
		if err != nil {
			continue
		}
		title := ""
		if p, err := xproto.GetProperty(d.conn, false, w, xproto.AtomWmName, xproto.GetPropertyTypeAny, 0, 256).Reply(); err == nil {
			title = string(p.Value)
		}
		out = append(out, window{Title: title, Bounds: [4]int{int(g.X), int(g.Y), int(g.X) + int(g.Width), int(g.Y) + int(g.Height)}})
	}
	return out, nil
}
