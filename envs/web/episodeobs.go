package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/envgym/envgym/envs/web/browser"
)

// writeEpisodeLines adds what the episode's browser context shows besides
// the page: the open tabs (when more than one), an open dialog, the
// requests the network policy refused and the downloads that began during
// the last step.
func (e *env) writeEpisodeLines(b *strings.Builder) {
	if tabs := e.sess.Tabs(); len(tabs) > 1 {
		b.WriteString("Tabs:")
		for i, t := range tabs {
			if t.Active {
				t.Title = e.page.Title // the browser reports titles late
			}
			fmt.Fprintf(b, " [%d] %s", i, strconv.Quote(t.Title))
			if t.Active {
				b.WriteString(" (active)")
			}
			if i < len(tabs)-1 {
				b.WriteString(",")
			}
		}
		b.WriteByte('\n')
	}
	if d := e.tab.Dialog(); d != nil {
		fmt.Fprintf(b, "Dialog: %s %s", d.Type, strconv.Quote(d.Message))
		if d.Type == "prompt" && d.DefaultPrompt != "" {
			fmt.Fprintf(b, " default=%s", strconv.Quote(d.DefaultPrompt))
		}
		b.WriteString(" (the page waits: ")
		b.WriteString(strings.Join(dialogActions(d), " or "))
		b.WriteString(")\n")
	}
	if len(e.blocked) > 0 {
		fmt.Fprintf(b, "Blocked requests (not in allowed_hosts): %s\n", strings.Join(e.blocked, ", "))
	}
	if len(e.downloads) > 0 {
		b.WriteString("Downloads:")
		for i, d := range e.downloads {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, " %s (%d bytes, %s)", strconv.Quote(d.Filename), d.Bytes, strings.ReplaceAll(d.State, "_", " "))
		}
		b.WriteByte('\n')
	}
}

// addEpisodeInfo puts the same in the step's info for programs.
func (e *env) addEpisodeInfo(info map[string]any) {
	if tabs := e.sess.Tabs(); len(tabs) > 1 {
		info["tabs"] = tabs
	}
	if d := e.tab.Dialog(); d != nil {
		info["dialog"] = *d
	}
	if len(e.blocked) > 0 {
		info["blocked_requests"] = e.blocked
	}
	if len(e.downloads) > 0 {
		info["downloads"] = e.downloads
	}
}

// dialogActions are the only actions that apply while d is open.
func dialogActions(d *browser.Dialog) []string {
	if d.Type == "prompt" {
		return []string{`accept_dialog("<text>")`, "accept_dialog()", "dismiss_dialog()"}
	}
	return []string{"accept_dialog()", "dismiss_dialog()"}
}

// tabActions are the tab actions that apply: focus another tab, close the
// active one when others are open.
func (e *env) tabActions() []string {
	tabs := e.sess.Tabs()
	if len(tabs) < 2 {
		return nil
	}
	var out []string
	for i, t := range tabs {
		if !t.Active {
			out = append(out, fmt.Sprintf("tab_focus(%d)", i))
		}
	}
	return append(out, "tab_close()")
}
