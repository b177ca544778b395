package swe

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// nsinitSource is the namespace sandbox's init (nsinit/main.go). It is
// built from source, once per toolchain, rather than re-executing the
// host binary: the gym, the plugin and test binaries would each need a
// hook in main, and a small static binary starts in about a millisecond.
//
//go:embed nsinit/main.go
var nsinitSource []byte

// ensureNSInit returns the path of the nsinit binary for this source and
// toolchain, building it into dir when it is not there yet. The file and
// its name are root's (dir is the backend's, never a sandbox-writable
// place), so no sandbox can replace what the next one runs first.
func ensureNSInit(ctx context.Context, goroot, dir string) (string, error) {
	h := sha256.New()
	h.Write(nsinitSource)
	h.Write([]byte(goroot))
	if v, err := os.ReadFile(filepath.Join(goroot, "VERSION")); err == nil {
		h.Write(v)
	}
	bin := filepath.Join(dir, "envgym-swe-nsinit-"+hex.EncodeToString(h.Sum(nil))[:16])
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() && st.Mode()&0o022 == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == os.Geteuid() {
			return bin, nil
		}
	}
	src, err := os.MkdirTemp(dir, "envgym-swe-nsinit-build-")
	if err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w", ErrSandbox, err)
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "main.go"), nsinitSource, 0o644); err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w", ErrSandbox, err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module nsinit\n\ngo 1.24\n"), 0o644); err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w", ErrSandbox, err)
	}
	tmp := filepath.Join(src, "nsinit")
	cmd := exec.CommandContext(ctx, filepath.Join(goroot, "bin", "go"), "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w: %s", ErrSandbox, err, out.Bytes())
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w", ErrSandbox, err)
	}
	// Rename is atomic: concurrent builders each install a whole binary.
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("%w: build nsinit: %w", ErrSandbox, err)
	}
	return bin, nil
}
