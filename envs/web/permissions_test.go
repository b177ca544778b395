package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/envgym/envgym/gym"
)

const permsPage = `<!doctype html><title>Permissions</title><p id="out">checking</p><script>
Promise.all(['geolocation', 'notifications'].map((n) => navigator.permissions.query({ name: n }).then((s) => n + '=' + s.state)))
  .then((r) => { document.getElementById('out').textContent = r.join(' '); });
</script>`

// TestPermissionsFreshPerEpisode: a task's permissions are granted to its
// start origin in its episode only. Episode 1 grants geolocation and
// notifications (the page sees them granted, another origin does not);
// episode 2, on the same origin without them, starts with neither.
func TestPermissionsFreshPerEpisode(t *testing.T) {
	a := site(t, map[string]string{"/": permsPage})
	b := strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
	hosts := []string{strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b, "http://")}
	e := makeEnv(t, "web/open-v0")
	done := func(text string) bool { return !strings.Contains(text, "checking") }
	task := map[string]any{"start_url": a.URL + "/", "allowed_hosts": hosts, "goal": "g", "validator": "false",
		"permissions": []string{"geolocation", "notifications"}}
	obs := until(t, e, openTask(t, e, task, 0), done)
	if !strings.Contains(obs.Text, `"geolocation=granted notifications=granted"`) {
		t.Fatalf("episode 1: the task's permissions are not granted:\n%s", obs.Text)
	}
	obs = until(t, e, step(t, e, fmt.Sprintf("goto(%q)", b+"/"), gym.StatusOK).Observation, done)
	if strings.Contains(obs.Text, "=granted") || !strings.Contains(obs.Text, "geolocation=") {
		t.Fatalf("episode 1: another origin got the start origin's permissions:\n%s", obs.Text)
	}

	delete(task, "permissions")
	obs = until(t, e, openTask(t, e, task, 1), done)
	if strings.Contains(obs.Text, "=granted") || !strings.Contains(obs.Text, "geolocation=") {
		t.Fatalf("episode 2 kept episode 1's permissions:\n%s", obs.Text)
	}

	task["permissions"] = []string{"geolocaton"}
	_, err := e.Reset(context.Background(), gym.ResetOptions{Options: map[string]any{"task": task}})
	if err == nil || !strings.Contains(err.Error(), `permissions[0] "geolocaton"`) {
		t.Fatalf("a misspelt permission: %v", err)
	}
}

// TestDialogFromCrossOriginFrame: a confirm() raised by a button in a
// cross-site iframe shows as the page's dialog; answering it resumes the
// frame's script with the answer.
func TestDialogFromCrossOriginFrame(t *testing.T) {
	a := site(t, map[string]string{
		"/":    `<!doctype html><title>Shop</title><h1>Checkout</h1><iframe id="pay" width="400" height="200"></iframe><script>document.getElementById('pay').src = location.search.slice(1) + '/pay';</script>`,
		"/pay": `<!doctype html><title>Pay</title><button onclick="document.getElementById('r').textContent = confirm('Pay 12 EUR?') ? 'paid' : 'cancelled'">Pay now</button><p id="r">unpaid</p>`,
	})
	b := strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
	hosts := []string{strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b, "http://")}
	e := makeEnv(t, "web/open-v0")
	task := map[string]any{"start_url": a.URL + "/?" + b, "allowed_hosts": hosts, "goal": "Pay.",
		"validator": "false"}
	obs := openTask(t, e, task, 0)
	r := step(t, e, fmt.Sprintf("click(%d)", idOf(t, obs, "button", "Pay now")), gym.StatusOK)
	if !strings.Contains(r.Observation.Text, `Dialog: confirm "Pay 12 EUR?"`) {
		t.Fatalf("the cross-origin frame's confirm is not in the observation:\n%s", r.Observation.Text)
	}
	r = step(t, e, "dismiss_dialog()", gym.StatusOK)
	if !strings.Contains(r.Observation.Text, `"cancelled"`) || strings.Contains(r.Observation.Text, "Dialog:") {
		t.Fatalf("after dismissing:\n%s", r.Observation.Text)
	}
	step(t, e, fmt.Sprintf("click(%d)", idOf(t, r.Observation, "button", "Pay now")), gym.StatusOK)
	r = step(t, e, "accept_dialog()", gym.StatusOK)
	if !strings.Contains(r.Observation.Text, `"paid"`) {
		t.Fatalf("after accepting:\n%s", r.Observation.Text)
	}
}
