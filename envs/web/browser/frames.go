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

// adoptClosedRoots hands the page script every closed shadow root of the
// tab's documents (frames included) that it does not know: declarative
// ones (<template shadowrootmode="closed">), which the parser attaches
// without attachShadow. It runs once per new document, as a full DOM walk
// costs a few milliseconds; it reports whether it found any.
func (t *Tab) adoptClosedRoots(ctx context.Context) (bool, error) {
	docs := t.docs.Load()
	if docs == t.adoptedDocs {
		return false, nil
	}
	found := false
	err := t.call(ctx, func(c context.Context) error {
		doc, err := chromedp.Call(c, dom.GetDocument, dom.GetDocumentParams{Depth: ptr[int64](-1), Pierce: ptr(true)})
		// Leave the DOM agent off: enabled, it reports every mutation.
		defer chromedp.Call(c, dom.Disable, cdp.Empty{})
		if err != nil {
			return err
		}
		var hosts [][2]cdp.BackendNodeID
		var walk func(n *cdp.Node)
		walk = func(n *cdp.Node) {
			if n == nil {
				return
			}
			for _, r := range n.ShadowRoots {
				if r.ShadowRootType == cdp.ShadowRootTypeClosed {
					hosts = append(hosts, [2]cdp.BackendNodeID{n.BackendNodeID, r.BackendNodeID})
				}
				walk(r)
			}
			for _, ch := range n.Children {
				walk(ch)
			}
			walk(n.ContentDocument)
		}
		walk(doc.Root)
		t.adoptedDocs = docs
		for _, h := range hosts {
			host, err := chromedp.Call(c, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: h[0]})
			if err != nil {
				continue // gone meanwhile
			}
			root, err := chromedp.Call(c, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: h[1]})
			if err == nil {
				_, err = chromedp.Call(c, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
					ObjectID:            host.Object.ObjectID,
					FunctionDeclaration: "function (r) { return window.__egym ? window.__egym.adoptRoot(this, r) : false; }",
					Arguments:           []*runtime.CallArgument{{ObjectID: root.Object.ObjectID}},
				})
				found = found || err == nil
				_, _ = chromedp.Call(c, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: root.Object.ObjectID})
			}
			_, _ = chromedp.Call(c, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: host.Object.ObjectID})
		}
		return nil
	})
	return found, err
}

// has reports whether frame is one of the tab's frames.
func (f *frameContexts) has(frame cdp.FrameID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.byFrame[frame]
	return ok
}
