package plugins

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// InstallOptions tune Install.
type InstallOptions struct {
	Name    string  // default: the binary's name without "gym-plugin-"
	Version string  // default: the version of the first env it serves
	Sandbox Sandbox // isolation the manifest asks for
}

// Install copies a plugin binary into DIR/NAME/, asks it which envs it
// serves, and writes the manifest with the binary's checksum. Installing
// is the moment of trust: from then on the host refuses any other binary.
func Install(ctx context.Context, bin, dir string, opts InstallOptions) (Manifest, error) {
	name := opts.Name
	if name == "" {
		name = strings.TrimPrefix(filepath.Base(bin), "gym-plugin-")
	}
	dest := filepath.Join(dir, name)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	target := filepath.Join(dest, filepath.Base(bin))
	if err := copyExecutable(bin, target); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	sum, err := FileSHA256(target)
	if err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	m := Manifest{Name: name, Version: "0", Binary: filepath.Base(bin), SHA256: sum, Sandbox: opts.Sandbox, path: filepath.Join(dest, ManifestFile)}
	p := &Plugin{m: m, cfg: Config{Dir: dir, HealthInterval: -1}.withDefaults()}
	defer p.Stop()
	specs, err := p.Specs(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	if len(specs) == 0 {
		return Manifest{}, fmt.Errorf("install %s: the plugin serves no env", bin)
	}
	for _, s := range specs {
		m.Envs = append(m.Envs, s.ID)
	}
	m.Version = opts.Version
	if m.Version == "" {
		m.Version = specs[0].Version
	}
	if err := WriteManifest(m.path, m); err != nil {
		return Manifest{}, fmt.Errorf("install %s: %w", bin, err)
	}
	return m, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst) // atomic: a running plugin keeps its old inode
}
