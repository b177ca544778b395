package python_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPythonClientAgainstRealServe builds gym and the text and web
// plugins, runs `gym serve` with a token, and plays episodes of the text
// env and the web shop from Python through both transports.
func TestPythonClientAgainstRealServe(t *testing.T) {
	tmp := t.TempDir()
	gym, dir := gymWithPlugins(t, tmp, "text", "web")
	tokenFile := filepath.Join(tmp, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	httpAddr, streamAddr := freeAddr(t), freeAddr(t)
	serve := exec.Command(gym, "--plugin-dir", dir, "serve", "--http", httpAddr, "--stream", streamAddr, "--token-file", tokenFile, "--drain", "1s")
	var serr strings.Builder
	serve.Stderr = &serr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			serve.Process.Kill()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(serr.String(), "env ids from") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	py := exec.Command("/usr/bin/python3", "tests/client_episode.py", "http://"+httpAddr, streamAddr, "s3cret")
	out, err := py.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python client: %v\n%s\nserver:\n%s", err, stderr, serr.String())
	}
	var got struct {
		WrongToken        any            `json:"wrong_token"`
		HTTPText          map[string]any `json:"http_text"`
		StreamText        map[string]any `json:"stream_text"`
		StepAfterDone     any            `json:"step_after_done"`
		ShopObsHasSearch  bool           `json:"shop_obs_has_search"`
		ShopInvalidStatus string         `json:"shop_invalid_status"`
		ShopValidActions  int            `json:"shop_valid_actions"`
		ShopEpisode       map[string]any `json:"shop_episode"`
		VectorN           int            `json:"vector_n"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.WrongToken != float64(401) {
		t.Errorf("wrong token: %v, want 401", got.WrongToken)
	}
	for name, ep := range map[string]map[string]any{"http": got.HTTPText, "stream": got.StreamText} {
		if ep["done"] != true || ep["steps"].(float64) < 1 {
			t.Errorf("%s episode: %v", name, ep)
		}
	}
	if got.StepAfterDone != float64(409) {
		t.Errorf("step after done: %v, want 409", got.StepAfterDone)
	}
	if !got.ShopObsHasSearch || got.ShopInvalidStatus != "INVALID_ACTION" || got.ShopValidActions == 0 {
		t.Errorf("shop through the client: %+v", got)
	}
	if got.ShopEpisode["done"] != true {
		t.Errorf("shop episode did not end: %v", got.ShopEpisode)
	}
	if got.VectorN != 3 {
		t.Errorf("vector env: %d", got.VectorN)
	}
}

// gymWithPlugins builds gym and the named env families' plugins into
// tmp/bin and installs the plugins into tmp/plugins as setup.sh does
// (web with its memory and process limits); it returns gym and that dir.
func gymWithPlugins(t *testing.T, tmp string, families ...string) (gymBin, pluginDir string) {
	t.Helper()
	bin, err := builtOnce()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "plugins")
	gymBin = filepath.Join(bin, "gym")
	for _, f := range families {
		if !slices.Contains(builtFamilies, f) {
			t.Fatalf("gymWithPlugins: family %s is not in builtFamilies", f)
		}
		args := []string{"--plugin-dir", dir, "plugin", "install", filepath.Join(bin, "gym-plugin-"+f)}
		if f == "web" {
			args = append(args, "--memory-mb", "4096", "--max-pids", "4096")
		}
		if out, err := exec.Command(gymBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("install %s: %v\n%s", f, err, out)
		}
	}
	return gymBin, dir
}

// builtFamilies are the plugins the tests' gym binary comes with.
var builtFamilies = []string{"text", "web"}

// builtOnce builds gym and the families' plugins once for the test binary
// (TestMain removes the directory): each test installs its own copies.
var builtOnce = sync.OnceValues(func() (string, error) {
	bin, err := os.MkdirTemp("", "envgym-python-test-bin-")
	if err != nil {
		return "", err
	}
	buildDir = bin
	pkgs := []string{"github.com/envgym/envgym/cmd/gym"}
	for _, f := range builtFamilies {
		pkgs = append(pkgs, "github.com/envgym/envgym/envs/"+f+"/cmd/gym-plugin-"+f)
	}
	build := exec.Command("go", append([]string{"build", "-tags", "notorch", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	// Plugins run as their own uid and must reach the binaries.
	if err := os.Chmod(bin, 0o755); err != nil {
		return "", err
	}
	return bin, nil
})

// buildDir is builtOnce's directory, for TestMain to remove.
var buildDir string

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
