package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/envgym/envgym/envs/web/action"
	"github.com/envgym/envgym/envs/web/browser"
)

// filer is an episode whose task has a folder the agent may upload files
// from (a user's task file's folder).
type filer interface{ filesDir() string }

func (o *openEpisode) filesDir() string { return o.task.Dir }

// elementAction reports whether a takes element ids, and which.
func elementAction(a action.Action) []int {
	switch a.Kind {
	case action.Click, action.Fill, action.Select, action.Check, action.Hover,
		action.DblClick, action.Clear, action.Focus, action.Uncheck, action.Upload:
		return []int{a.ID}
	case action.Drag:
		return []int{a.ID, a.To}
	case action.Press:
		if a.ID != 0 {
			return []int{a.ID}
		}
	}
	return nil
}

// fillable are the roles fill and clear apply to.
func fillable(n browser.Node) bool {
	switch n.Role {
	case "textbox", "slider", "spinbutton", "searchbox":
		return true
	case "combobox":
		return n.Options == nil // an editable combo box, not a <select>
	}
	return false
}

// precheckElements rejects element actions that cannot apply, by the last
// observation alone; "" when they may.
func (e *env) precheckElements(a action.Action) string {
	ids := elementAction(a)
	for _, id := range ids {
		if _, ok := e.ids[id]; !ok {
			return fmt.Sprintf("there is no element [%d] in the current observation; use an id shown in [brackets]", id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	n := e.ids[ids[0]]
	switch {
	case (a.Kind == action.Fill || a.Kind == action.Clear) && !fillable(n):
		return fmt.Sprintf("[%d] is a %s, not a text field; %s works on textboxes, sliders and date/time/color inputs", a.ID, n.Role, a.Kind)
	case a.Kind == action.Select && n.Role != "combobox" && n.Role != "listbox":
		return fmt.Sprintf("[%d] is a %s, not a drop-down; select works on comboboxes and list boxes", a.ID, n.Role)
	case a.Kind == action.Select && a.List && len(a.Strings()) > 1 && n.Type != "multiple":
		return fmt.Sprintf("[%d] takes one option; only a multiple select (type=multiple) takes a list", a.ID)
	case (a.Kind == action.Check || a.Kind == action.Uncheck) && n.Role != "checkbox" && n.Role != "radio" && n.Role != "switch" && n.Role != "menuitemcheckbox":
		return fmt.Sprintf("[%d] is a %s, not a checkbox or radio; use click(%d)", a.ID, n.Role, a.ID)
	case a.Kind == action.Upload && n.Type != "file":
		return fmt.Sprintf("[%d] is a %s, not a file input (type=file); upload works on file inputs", a.ID, n.Role)
	case n.Disabled && a.Kind != action.Hover:
		return fmt.Sprintf("[%d] is disabled", a.ID)
	}
	if a.Kind == action.Upload {
		if _, err := e.uploadPaths(a); err != nil {
			return err.Error()
		}
	}
	return ""
}

// uploadPaths resolves upload's file names in the task's folder; a name
// may not leave it (no absolute paths, no "..", no symlink out).
func (e *env) uploadPaths(a action.Action) ([]string, error) {
	f, ok := e.ep.(filer)
	dir := ""
	if ok {
		dir = f.filesDir()
	}
	if dir == "" {
		return nil, fmt.Errorf("this task has no folder of files to upload from (upload takes files from the folder of a task_file)")
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("upload: the task's folder: %v", err)
	}
	var out []string
	for _, name := range a.Strings() {
		clean := filepath.Clean(filepath.FromSlash(name))
		if name == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("upload: %q is not a file name inside the task's folder", name)
		}
		p, err := filepath.EvalSymlinks(filepath.Join(root, clean))
		if err != nil {
			return nil, fmt.Errorf("upload: no file %q in the task's folder", name)
		}
		if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("upload: %q leads outside the task's folder", name)
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("upload: %q is not a regular file", name)
		}
		out = append(out, p)
	}
	return out, nil
}

// applyInput runs the element, pointer and keyboard actions; handled is
// false for the others.
func (e *env) applyInput(ctx context.Context, a action.Action) (handled bool, err error) {
	t := e.tab
	switch a.Kind {
	case action.Click:
		return true, t.ClickWith(ctx, a.ID, 1, clickOptions(a))
	case action.DblClick:
		return true, t.ClickWith(ctx, a.ID, 2, clickOptions(a))
	case action.Hover:
		return true, t.Hover(ctx, a.ID)
	case action.Fill:
		return true, t.Fill(ctx, a.ID, a.Text)
	case action.Clear:
		return true, t.Clear(ctx, a.ID)
	case action.Focus:
		return true, t.Focus(ctx, a.ID)
	case action.Select:
		return true, t.Select(ctx, a.ID, a.Strings()...)
	case action.Check:
		return true, t.Check(ctx, a.ID)
	case action.Uncheck:
		return true, t.Uncheck(ctx, a.ID)
	case action.Drag:
		return true, t.Drag(ctx, a.ID, a.To)
	case action.Upload:
		paths, err := e.uploadPaths(a)
		if err != nil {
			return true, &browser.ActionError{Msg: err.Error()}
		}
		return true, t.Upload(ctx, a.ID, paths)
	case action.Press:
		if a.ID != 0 {
			if err := t.Focus(ctx, a.ID); err != nil {
				return true, err
			}
		}
		return true, t.Press(ctx, a.Text)
	case action.KeyboardType:
		return true, t.Type(ctx, a.Text)
	case action.KeyboardPaste:
		return true, t.InsertText(ctx, a.Text)
	case action.MouseClick:
		return true, t.MouseClickWith(ctx, a.X, a.Y, 1, clickOptions(a))
	case action.MouseDblClick:
		return true, t.MouseClickWith(ctx, a.X, a.Y, 2, clickOptions(a))
	case action.MouseMove:
		return true, t.MouseMove(ctx, a.X, a.Y)
	case action.MouseDown:
		return true, t.MouseDown(ctx, a.X, a.Y)
	case action.MouseUp:
		return true, t.MouseUp(ctx, a.X, a.Y)
	case action.MouseDrag:
		return true, t.MouseDrag(ctx, a.X, a.Y, a.X2, a.Y2)
	case action.Scroll:
		if a.Dir == "" {
			return true, t.Wheel(ctx, a.X, a.Y)
		}
		return true, t.Scroll(ctx, a.Dir)
	case action.Noop:
		if a.Ms > 0 {
			timer := time.NewTimer(time.Duration(a.Ms) * time.Millisecond)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
				return true, ctx.Err()
			}
		}
		return true, nil
	}
	return false, nil
}

// clickOptions is a click action's button and modifier keys; the action's
// modifier bits are the DevTools protocol's.
func clickOptions(a action.Action) browser.ClickOptions {
	return browser.ClickOptions{Button: a.Button, Modifiers: int64(a.Mods)}
}
