package browser

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// pageScript is page.js with a fresh token. Every frame of a tab runs the
// same script, so its frames share the token and answer each other's
// requests (observation, actions in a frame) over postMessage; the pages
// themselves cannot read it, so a page cannot use the bridge to read a
// cross-origin frame it embeds.
func pageScript() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.Replace(pageJS, "__EGYM_TOKEN__", hex.EncodeToString(b[:]), 1)
}

// frameContexts follows the page script's world (the default execution
// context) of each frame of a tab from Runtime events, so the Go side can
// reach an element of a cross-origin frame, which the top document's
// script cannot hand over.
type frameContexts struct {
	mu      sync.Mutex
	byFrame map[cdp.FrameID]string // the context's unique id
}

func (f *frameContexts) listen(ev any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExecutionContextCreated:
		var aux struct {
			IsDefault bool        `json:"isDefault"`
			FrameID   cdp.FrameID `json:"frameId"`
		}
		if json.Unmarshal([]byte(e.Context.AuxData), &aux) != nil || !aux.IsDefault || aux.FrameID == "" {
			return
		}
		if f.byFrame == nil {
			f.byFrame = map[cdp.FrameID]string{}
		}
		f.byFrame[aux.FrameID] = e.Context.UniqueID
	case *runtime.EventExecutionContextDestroyed:
		for k, v := range f.byFrame {
			if v == e.ExecutionContextUniqueID {
				delete(f.byFrame, k)
			}
		}
	case *runtime.EventExecutionContextsCleared:
		clear(f.byFrame)
	}
}

func (f *frameContexts) of(frame cdp.FrameID) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.byFrame[frame]
	return id, ok
}

// elementObject is a handle on element id for protocol calls (file
// uploads): from the top document when it or a same-origin frame holds
// it, else by hopping into each cross-origin frame's own context. The
// caller releases it.
func (t *Tab) elementObject(c context.Context, id int) (runtime.RemoteObjectID, error) {
	in := ""      // the top document
	for range 8 { // frames nest no deeper in practice
		obj, err := evalObject(c, in, fmt.Sprintf("window.__egym.element(%d)", id))
		if err != nil || obj != "" {
			return obj, err
		}
		frame, err := evalObject(c, in, fmt.Sprintf("window.__egym.hopFrame(%d)", id))
		if err != nil {
			return "", err
		}
		if frame == "" {
			return "", actionErr(fmt.Sprintf("element %d is no longer on the page; observe again", id))
		}
		node, err := chromedp.Call(c, dom.DescribeNode, dom.DescribeNodeParams{ObjectID: frame})
		_, _ = chromedp.Call(c, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: frame})
		if err != nil {
			return "", fmt.Errorf("browser: frame of element %d: %w", id, err)
		}
		next, ok := t.frames.of(node.Node.FrameID)
		if !ok {
			return "", actionErr(fmt.Sprintf("the frame holding element %d has not loaded; observe again", id))
		}
		res, err := chromedp.Call(c, runtime.Evaluate, runtime.EvaluateParams{Expression: fmt.Sprintf("window.__egym.hopID(%d)", id), UniqueContextID: in, ReturnByValue: ptr(true)})
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal([]byte(res.Result.Value), &id); err != nil || id == 0 {
			return "", actionErr("the frame holding the element was replaced; observe again")
		}
		in = next
	}
	return "", actionErr("the element is in frames nested too deep")
}

// evalObject evaluates expr in the execution context of unique id in (""
// the top document) and returns the object it gives, or "" for null.
func evalObject(c context.Context, in, expr string) (runtime.RemoteObjectID, error) {
	res, err := chromedp.Call(c, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, UniqueContextID: in})
	if err != nil {
		return "", err
	}
	if res.ExceptionDetails != nil {
		return "", fmt.Errorf("browser: %s: %s", expr, res.ExceptionDetails.Text)
	}
	if res.Result == nil {
		return "", nil
	}
	return res.Result.ObjectID, nil
}
