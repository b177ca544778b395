package browser

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Node is one line of the observation.
type Node struct {
	ID      int      `json:"id"` // unique across the page's frames; 0 for text lines
	Role    string   `json:"role"`
	Name    string   `json:"name"`
	Value   *string  `json:"value,omitempty"`
	Checked *bool    `json:"checked,omitempty"`
	Options []string `json:"options,omitempty"`
	// Values are the selected options of a multiple select.
	Values []string `json:"values,omitempty"`
	// Type is an input's kind when it takes a special value format or
	// action: date, time, datetime-local, month, week, color, range,
	// file, contenteditable, multiple.
	Type string `json:"type,omitempty"`
	// Box is [x, y, width, height] in viewport CSS pixels, for targets
	// acted on by coordinates: canvas, SVG, crosshair areas.
	Box      *[4]int `json:"box,omitempty"`
	Disabled bool    `json:"disabled,omitempty"`
	ReadOnly bool    `json:"readonly,omitempty"` // a text field that takes no typing (e.g. a date picker's)
	Selected bool    `json:"selected,omitempty"`
	Expanded *bool   `json:"expanded,omitempty"`
	Focused  bool    `json:"focused,omitempty"`
	// Invalid is why a field is invalid, once the page or the browser
	// said so: the browser's message after its validation blocked a
	// submit, or the page's aria-invalid (and its aria-errormessage).
	Invalid string `json:"invalid,omitempty"`
	// Modal: a dialog that keeps the rest of the page from input.
	Modal bool `json:"modal,omitempty"`
	// Hint is the id or class names of a target without a name
	// ("flatpickr-prev-month"): all there is to tell it by.
	Hint string `json:"hint,omitempty"`
}

// Page is a snapshot of the page as the agent sees it.
type Page struct {
	URL       string `json:"url"`
	Title     string `json:"title"`
	Nodes     []Node `json:"nodes"`
	Truncated bool   `json:"truncated"` // lines were left out: Above, Below, or past the walk's cap
	// Above and Below count the lines left out before and after the
	// observation's window when the page has more than the limit: the
	// window is what the viewport shows and around it.
	Above int `json:"above"`
	Below int `json:"below"`
	// Capped: the page has more lines than the walk read (one past the
	// limit unscrolled, 10 times the limit scrolled); those further down
	// are not counted in Below.
	Capped    bool           `json:"capped"`
	State     map[string]any `json:"state"` // window.__egState of task pages
	ScrollY   int            `json:"scrollY"`
	ScrollMax int            `json:"scrollMax"`
}

// Observe snapshots the page (ids are assigned to new elements).
func (t *Tab) Observe(ctx context.Context, limit int) (Page, error) {
	for attempt := 0; ; attempt++ {
		p, err := eval[Page](ctx, t, fmt.Sprintf("window.__egym.observe(%d)", limit), true)
		if err != nil && attempt < 3 && isNavError(err) && ctx.Err() == nil {
			if err := t.Settle(ctx); err != nil {
				return p, err
			}
			continue
		}
		if err != nil {
			return p, fmt.Errorf("browser: observe: %w", err)
		}
		return p, nil
	}
}

// Screenshot captures the viewport as PNG.
func (t *Tab) Screenshot(ctx context.Context) ([]byte, error) {
	var png []byte
	err := t.call(ctx, func(c context.Context) error {
		res, err := chromedp.Call(c, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
		if err != nil {
			return err
		}
		png = res.Data
		return nil
	})
	return png, err
}
