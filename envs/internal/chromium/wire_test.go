package chromium

import "testing"

// TestWireWaitsForItsCommand checks that a wait ends on the first written
// command of its session and method only: not on replies, other
// sessions, other methods, or after it was forgotten.
func TestWireWaitsForItsCommand(t *testing.T) {
	var w wire
	fired := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch, forget := w.written("S1", "Input.dispatchMouseEvent")
	defer forget()
	for _, m := range []struct{ format, msg string }{
		{"<- %s", `{"id":7,"sessionId":"S1","method":"Input.dispatchMouseEvent"}`},                    // read, not written
		{"-> %s", `{"id":8,"sessionId":"S2","method":"Input.dispatchMouseEvent","params":{}}`},        // another page
		{"-> %s", `{"id":9,"sessionId":"S1","method":"Runtime.evaluate","params":{"expression":""}}`}, // another command
	} {
		w.debugf(m.format, []byte(m.msg))
		if fired(ch) {
			t.Fatalf("the wait ended on %s %s", m.format, m.msg)
		}
	}
	w.debugf("-> %s", []byte(`{"id":10,"sessionId":"S1","method":"Input.dispatchMouseEvent","params":{"type":"mouseMoved"}}`))
	if !fired(ch) {
		t.Fatal("the wait did not end on its command")
	}
	if w.n.Load() != 0 {
		t.Fatalf("%d waits left after the only one ended", w.n.Load())
	}
	ch2, forget2 := w.written("S1", "Input.dispatchMouseEvent")
	forget2()
	w.debugf("-> %s", []byte(`{"id":11,"sessionId":"S1","method":"Input.dispatchMouseEvent"}`))
	if fired(ch2) || w.n.Load() != 0 {
		t.Fatal("a forgotten wait still ended, or is still kept")
	}
}
