package plugins

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// forwarder relays ports of the host's loopback into one plugin process's
// network namespace: for each port, the host opens a listener on the
// plugin's own 127.0.0.1:PORT (and [::1]:PORT), made from a host thread
// that joined the namespace for that one call, and relays each
// connection to the host's 127.0.0.1:PORT. The plugin gets no route, no
// interface and no other port: exactly the sites its user allowed.
type forwarder struct {
	pid int // a process in the namespace (the sandbox init)

	mu    sync.Mutex
	ports map[int]*portForward
}

type portForward struct {
	refs int
	lns  []net.Listener
}

func newForwarder(pid int) *forwarder {
	return &forwarder{pid: pid, ports: map[int]*portForward{}}
}

// acquire forwards port (again) and counts one more user of it.
func (f *forwarder) acquire(port int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pf := f.ports[port]; pf != nil {
		pf.refs++
		return nil
	}
	lns, err := listenInNetNS(f.pid, port)
	if err != nil {
		return err
	}
	for _, ln := range lns {
		go relay(ln, port)
	}
	f.ports[port] = &portForward{refs: 1, lns: lns}
	return nil
}

// release undoes one acquire; the last one closes the listeners.
func (f *forwarder) release(port int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pf := f.ports[port]
	if pf == nil {
		return
	}
	if pf.refs--; pf.refs > 0 {
		return
	}
	for _, ln := range pf.lns {
		ln.Close()
	}
	delete(f.ports, port)
}

// closeAll stops every forward (the process is gone).
func (f *forwarder) closeAll() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for port, pf := range f.ports {
		for _, ln := range pf.lns {
			ln.Close()
		}
		delete(f.ports, port)
	}
}

// listenInNetNS opens 127.0.0.1:port (and [::1]:port where IPv6 is up)
// in the network namespace of pid.
func listenInNetNS(pid, port int) ([]net.Listener, error) {
	type result struct {
		lns []net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			runtime.UnlockOSThread()
			return
		}
		defer host.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: fmt.Errorf("the plugin's network namespace: %w", err)}
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter the plugin's network namespace: %w", err)}
			runtime.UnlockOSThread()
			return
		}
		var r result
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			r.err = fmt.Errorf("listen on the plugin's 127.0.0.1:%d: %w", port, err)
		} else {
			r.lns = append(r.lns, ln)
			if ln6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
				r.lns = append(r.lns, ln6)
			}
		}
		// Back to the host's namespace; a thread that cannot go back is
		// never unlocked, so the runtime ends it.
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- r
	}()
	r := <-ch
	return r.lns, r.err
}

// relay accepts in the plugin's namespace and connects each client to the
// host's loopback port.
func relay(ln net.Listener, port int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				up, err = net.DialTimeout("tcp", net.JoinHostPort("::1", strconv.Itoa(port)), 5*time.Second)
			}
			if err != nil {
				return // the client sees the connection closed, as with nothing listening
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(up, c)
			go pipe(c, up)
			<-done
			<-done
		}()
	}
}
