package chromium

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
)

// wire learns when commands go onto the pipe to Chromium. chromedp's
// protocol logger sees each command as it is written, in the order they
// are written, so a caller that waits for its command to be written and
// only then sends the next one knows Chromium receives them in that
// order, without waiting for the first one's reply.
type wire struct {
	n       atomic.Int32 // waiters, read without the lock on every message
	mu      sync.Mutex
	waiters []wireWaiter
}

type wireWaiter struct {
	session, method []byte
	ch              chan struct{}
}

// debugf is the browser's protocol logger: "-> %s" with a command's
// bytes as written, "<- %s" with a message read.
func (w *wire) debugf(format string, args ...any) {
	if w.n.Load() == 0 || format != "-> %s" || len(args) != 1 {
		return
	}
	b, ok := args[0].([]byte)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	kept := w.waiters[:0]
	for _, x := range w.waiters {
		if bytes.Contains(b, x.session) && bytes.Contains(b, x.method) {
			close(x.ch)
			continue
		}
		kept = append(kept, x)
	}
	clear(w.waiters[len(kept):])
	w.waiters = kept
	w.n.Store(int32(len(kept)))
}

// written registers a wait for the next command of target session
// sessionID calling method.
func (w *wire) written(sessionID, method string) (<-chan struct{}, func()) {
	x := wireWaiter{
		session: []byte(`"sessionId":` + strconv.Quote(sessionID)),
		method:  []byte(`"method":` + strconv.Quote(method)),
		ch:      make(chan struct{}),
	}
	w.mu.Lock()
	w.waiters = append(w.waiters, x)
	w.n.Store(int32(len(w.waiters)))
	w.mu.Unlock()
	return x.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, y := range w.waiters {
			if y.ch == x.ch {
				w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
				break
			}
		}
		w.n.Store(int32(len(w.waiters)))
	}
}

// Written returns a channel closed when the next command of the page
// whose target session is sessionID calling method (e.g.
// "Input.dispatchMouseEvent") is written to Chromium, and a func that
// forgets the wait. Call it before sending the command.
func (p *Process) Written(sessionID, method string) (<-chan struct{}, func()) {
	return p.wire.written(sessionID, method)
}
