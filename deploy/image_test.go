package deploy

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestImageBuildsAndServesEnvs builds the image the Kubernetes manifests
// use (scripts/build-image.sh: a scratch rootfs imported into the local
// Docker engine) and plays the text env inside it with no network.
func TestImageBuildsAndServesEnvs(t *testing.T) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine is not reachable (scripts/setup.sh starts dockerd): %v\n%s", err, out)
	}
	const tag = "envgym:test"
	build := exec.Command("bash", "../scripts/build-image.sh", tag)
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
	if err != nil || !strings.Contains(string(out), "search/fictional-v0") {
		t.Fatalf("gym list in the container: %v\n%s", err, out)
	}
}
