package deploy

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestImageBuildsAndServesEnvs builds the core image (scripts/build-image.sh
// core: static binaries FROM scratch, no registry), plays the text env
// inside it with no network, and serves from it until Docker's
// HEALTHCHECK (gym healthcheck, no shell in the image) reports healthy.
// The Debian-based images (web, gui, swe) are built by the opt-in
// TestSwarm: they take minutes.
func TestImageBuildsAndServesEnvs(t *testing.T) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine is not reachable (scripts/setup.sh starts dockerd): %v\n%s", err, out)
	}
	const tag = "envgym:test"
	build := exec.Command("bash", "../scripts/build-image.sh", "-t", tag, "core")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, out)
	}
	defer exec.Command("docker", "rmi", "-f", tag).Run()
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", "--memory", "1g", tag,
		"run", "text/maze-v0", "--policy", "oracle", "--episodes", "3", "--json").Output()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	var sum struct {
		SuccessRate float64 `json:"success_rate"`
		Episodes    int     `json:"episodes"`
	}
	if err := json.Unmarshal(out, &sum); err != nil || sum.Episodes != 3 || sum.SuccessRate != 1 {
		t.Fatalf("in the container: %s (%v)", out, err)
	}
	out, err = exec.Command("docker", "run", "--rm", "--network", "none", tag, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "search/fictional-v0") || !strings.Contains(string(out), "bench/echo-v0") {
		t.Fatalf("gym list in the container: %v\n%s", err, out)
	}

	// gym serve as the entrypoint's default command, with a token (it
	// refuses 0.0.0.0 without one), until the HEALTHCHECK says healthy.
	out, err = exec.Command("docker", "run", "-d", "--network", "none", "-e", "GYM_SERVE_TOKEN=t0k3n-for-the-test",
		"--health-interval", "1s", "--health-start-period", "1s", tag).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run -d: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	defer exec.Command("docker", "rm", "-f", id).Run()
	var health string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		b, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", id).Output()
		if health = strings.TrimSpace(string(b)); health == "healthy" {
			break
		}
	}
	if health != "healthy" {
		logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
		t.Fatalf("container health %q, want healthy\n%s", health, logs)
	}
	// The probe fails for an env the image does not serve, and says why.
	out, err = exec.Command("docker", "exec", id, "/usr/local/bin/gym", "healthcheck", "--openenv", "web/shop-v0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HTTP 404") {
		t.Fatalf("healthcheck for an env the core image lacks: want exit 1 with HTTP 404, got %v\n%s", err, out)
	}
}
