package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/browser"
	"github.com/envgym/envgym/gym"
)

// text renders the observation an LLM reads: goal, location, last error,
// then one line per node, e.g. `[12] button "Submit"`.
func (e *env) text() string {
	var b strings.Builder
	b.Grow(64 * (len(e.page.Nodes) + 4))
	fmt.Fprintf(&b, "Goal: %s\nURL: %s\nTitle: %s\n", e.ep.goal(), e.suite.displayURL(e.page.URL), e.page.Title)
	if e.lastErr != "" {
		fmt.Fprintf(&b, "Last action error: %s\n", e.lastErr)
	}
	e.writeEpisodeLines(&b)
	b.WriteByte('\n')
	if e.page.Above > 0 {
		fmt.Fprintf(&b, "(%d lines above not shown: scroll up)\n", e.page.Above)
	}
	for _, n := range e.page.Nodes {
		writeNode(&b, n)
	}
	switch {
	case e.page.Below > 0 && e.page.Capped:
		b.WriteString("(more lines below not shown: scroll down)\n")
	case e.page.Below > 0:
		fmt.Fprintf(&b, "(%d lines below not shown: scroll down)\n", e.page.Below)
	case e.page.Truncated:
		b.WriteString("(page truncated)\n")
	}
	if e.page.ScrollMax > 0 {
		fmt.Fprintf(&b, "(scrolled %d of %d px)\n", e.page.ScrollY, e.page.ScrollMax)
	}
	return b.String()
}

func writeNode(b *strings.Builder, n browser.Node) {
	if n.ID != 0 {
		fmt.Fprintf(b, "[%d] ", n.ID)
	}
	b.WriteString(n.Role)
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(n.Name))
	if n.Type != "" {
		b.WriteString(" type=")
		b.WriteString(n.Type)
	}
	if n.Value != nil {
		b.WriteString(" value=")
		b.WriteString(strconv.Quote(*n.Value))
	}
	if n.Checked != nil {
		if *n.Checked {
			b.WriteString(" checked")
		} else {
			b.WriteString(" unchecked")
		}
	}
	if len(n.Options) > 0 {
		b.WriteString(" options=[")
		for i, o := range n.Options {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(o))
		}
		b.WriteByte(']')
	}
	if n.Values != nil {
		b.WriteString(" selected=[")
		for i, o := range n.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(o))
		}
		b.WriteByte(']')
	}
	if n.Box != nil {
		fmt.Fprintf(b, " box=[%d,%d,%d,%d]", n.Box[0], n.Box[1], n.Box[2], n.Box[3])
	}
	if n.Expanded != nil {
		if *n.Expanded {
			b.WriteString(" expanded")
		} else {
			b.WriteString(" collapsed")
		}
	}
	if n.Selected {
		b.WriteString(" selected")
	}
	if n.Disabled {
		b.WriteString(" disabled")
	}
	if n.ReadOnly {
		b.WriteString(" read-only")
	}
	if n.Focused {
		b.WriteString(" focused")
	}
	if n.Modal {
		b.WriteString(" modal")
	}
	if n.Invalid != "" {
		b.WriteString(" invalid=")
		b.WriteString(strconv.Quote(n.Invalid))
	}
	if n.Hint != "" {
		b.WriteString(" hint=")
		b.WriteString(strconv.Quote(n.Hint))
	}
	b.WriteByte('\n')
}

func (e *env) observation(ctx context.Context, extra map[string]any) (gym.Observation, error) {
	obs := gym.Observation{Text: e.text(), ValidActions: e.validActions(), Info: e.ep.info()}
	for k, v := range extra {
		obs.Info[k] = v
	}
	obs.Info["url"] = e.suite.displayURL(e.page.URL)
	if e.lastErr != "" {
		obs.Info["last_action_error"] = e.lastErr
	}
	e.addEpisodeInfo(obs.Info)
	if e.shots && e.tab.Dialog() == nil {
		png, err := e.tab.Screenshot(ctx)
		if err != nil {
			return obs, err
		}
		obs.Screenshot = png
	}
	return obs, nil
}

// maxSelectOptions bounds the select(...) actions listed per drop-down.
const maxSelectOptions = 20

// validActions lists concrete actions for the current page; text entry is
// a template: fill(13, "<text>").
func (e *env) validActions() []string {
	if d := e.tab.Dialog(); d != nil {
		return dialogActions(d)
	}
	var out []string
	focused := false
	for _, n := range e.page.Nodes {
		if n.ID == 0 || n.Disabled {
			continue
		}
		switch n.Role {
		case "textbox", "slider", "spinbutton":
			if n.Type == "file" {
				out = append(out, fmt.Sprintf(`upload(%d, "<file>")`, n.ID))
				break
			}
			if n.ReadOnly {
				// fill would be refused; a click opens what sets it.
				out = append(out, fmt.Sprintf("click(%d)", n.ID))
			} else {
				out = append(out, fmt.Sprintf(`fill(%d, "<text>")`, n.ID))
			}
			focused = focused || n.Focused
		case "canvas":
			out = append(out, fmt.Sprintf("click(%d)", n.ID), "mouse_click(<x>, <y>)")
		case "button":
			if n.Type == "file" {
				out = append(out, fmt.Sprintf(`upload(%d, "<file>")`, n.ID))
			} else {
				out = append(out, fmt.Sprintf("click(%d)", n.ID))
			}
		case "listbox":
			out = append(out, fmt.Sprintf(`select(%d, ["<option>", …])`, n.ID))
		case "combobox":
			if n.Options == nil {
				out = append(out, fmt.Sprintf(`fill(%d, "<text>")`, n.ID))
			}
			for i, o := range n.Options {
				if i == maxSelectOptions {
					break
				}
				if n.Value == nil || *n.Value != o {
					out = append(out, fmt.Sprintf("select(%d, %s)", n.ID, strconv.Quote(o)))
				}
			}
		case "checkbox", "radio", "switch":
			if n.Checked != nil && !*n.Checked {
				out = append(out, fmt.Sprintf("check(%d)", n.ID))
			}
			if n.Role == "checkbox" && n.Checked != nil && *n.Checked {
				out = append(out, fmt.Sprintf("click(%d)", n.ID))
			}
		case "clickable":
			out = append(out, fmt.Sprintf("click(%d)", n.ID), fmt.Sprintf("hover(%d)", n.ID))
		default:
			out = append(out, fmt.Sprintf("click(%d)", n.ID))
		}
	}
	if focused {
		out = append(out, `press("Enter")`)
	}
	if e.page.ScrollY < e.page.ScrollMax {
		out = append(out, "scroll(down)")
	}
	if e.page.ScrollY > 0 {
		out = append(out, "scroll(up)")
	}
	if e.navs > 0 || e.page.URL != e.ep.startURL() {
		out = append(out, "go_back()")
	}
	if e.ep.answers() {
		out = append(out, `answer("<text>")`)
	}
	out = append(out, e.tabActions()...)
	return append(out, "noop()")
}
