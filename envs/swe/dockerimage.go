package swe

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// baseImageFormat changes whenever the image layout below changes; it is
// part of the image tag.
const baseImageFormat = "1"

// baseImageRepo is the local repository of the SWE base images; the tag
// is a hash of what went in, so building is idempotent.
const baseImageRepo = "envgym-swe-base"

// imageTools (read-only) are the host commands copied into the base image, with the
// shared libraries they need (no registry to pull a busybox from).
var imageTools = []string{
	"sh", "bash", "cat", "ls", "cp", "mv", "rm", "mkdir", "rmdir", "ln", "touch", "chmod",
	"echo", "printf", "env", "id", "head", "tail", "wc", "sort", "uniq", "cut", "tr", "tee",
	"sed", "grep", "awk", "find", "xargs", "diff", "cmp", "patch", "sleep", "true", "false",
	"test", "[", "basename", "dirname", "pwd", "date", "stat", "du", "df", "readlink",
	"realpath", "mktemp", "seq", "nproc", "timeout", "ps", "kill", "yes", "dd", "expr",
}

// imageFile is one file of the base image's rootfs, read from the host.
type imageFile struct {
	name string // path in the image, no leading slash
	host string // host path of the content ("" for a dir or link)
	link string // symlink target
	mode fs.FileMode
}

// rootfsPlan lists the image's files apart from the Go toolchain, and a
// hash of everything that determines the image.
func rootfsPlan(goroot string) ([]imageFile, string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\n", baseImageFormat)
	ver, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return nil, "", fmt.Errorf("%w: Go toolchain at %s: %w", ErrSandbox, goroot, err)
	}
	fmt.Fprintf(h, "go %s\n", ver)
	var files []imageFile
	// Merged-/usr top-level links, as on the host.
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if t, err := os.Readlink("/" + d); err == nil {
			files = append(files, imageFile{name: d, link: t})
		}
	}
	for _, d := range []string{"etc", "tmp", "work", "gocache", "proc", "dev", "sys", "home", "usr/local/bin"} {
		mode := fs.ModeDir | 0o755
		if d == "tmp" {
			mode = fs.ModeDir | fs.ModeSticky | 0o777
		}
		files = append(files, imageFile{name: d, mode: mode})
	}
	seen := map[string]bool{}
	var addELF func(host, name string) error
	add := func(host, name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			return err
		}
		st, err := os.Stat(real)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(real)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %x\n", name, sha256.Sum256(b))
		files = append(files, imageFile{name: name, host: real, mode: st.Mode().Perm()})
		return addELF(real, name)
	}
	// inImage maps a host path to its image path through the host's
	// directory links (/lib -> usr/lib), so ld.so finds libraries where
	// the host's ld.so.cache says they are.
	inImage := func(p string) string {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			dir = filepath.Dir(p)
		}
		return strings.TrimPrefix(filepath.Join(dir, filepath.Base(p)), "/")
	}
	libDirs := []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	addELF = func(host, name string) error {
		f, err := elf.Open(host)
		if err != nil {
			return nil // a script, not a binary
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b, err := io.ReadAll(p.Open())
				if err != nil {
					return err
				}
				interp := strings.TrimRight(string(b), "\x00")
				if err := add(interp, inImage(interp)); err != nil {
					return fmt.Errorf("interpreter %s: %w", interp, err)
				}
			}
		}
		libs, _ := f.ImportedLibraries()
		for _, lib := range libs {
			found := false
			for _, d := range libDirs {
				p := filepath.Join(d, lib)
				if _, err := os.Stat(p); err == nil {
					if err := add(p, inImage(p)); err != nil {
						return fmt.Errorf("library %s: %w", p, err)
					}
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("library %s of %s not found", lib, host)
			}
		}
		return nil
	}
	for _, tool := range imageTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			continue // optional
		}
		if err := add(p, inImage(p)); err != nil {
			return nil, "", fmt.Errorf("%w: base image: %s: %w", ErrSandbox, tool, err)
		}
	}
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		if err := add("/etc/ld.so.cache", "etc/ld.so.cache"); err != nil {
			return nil, "", fmt.Errorf("%w: base image: %w", ErrSandbox, err)
		}
	}
	slices.SortFunc(files, func(a, b imageFile) int { return strings.Compare(a.name, b.name) })
	return files, hex.EncodeToString(h.Sum(nil))[:16], nil
}

// tarWriter skips directories written before, since the daemon refuses
// duplicate paths.
type tarWriter struct {
	*tar.Writer
	dirs map[string]bool
}

func (t *tarWriter) WriteHeader(h *tar.Header) error {
	if h.Typeflag == tar.TypeDir {
		name := strings.TrimSuffix(h.Name, "/")
		if t.dirs[name] {
			return nil
		}
		t.dirs[name] = true
	}
	return t.Writer.WriteHeader(h)
}

// writeRootfs writes the image's rootfs as a tar stream.
func writeRootfs(w io.Writer, goroot string, files []imageFile) error {
	tw := &tarWriter{tar.NewWriter(w), map[string]bool{}}
	dirs := tw.dirs
	mkdirs := func(name string) error {
		var parents []string
		for d := filepath.Dir(name); d != "." && d != "/" && !dirs[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755}); err != nil {
				return err
			}
		}
		return nil
	}
	text := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nsandbox-init:x:65533:65533::/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n",
		"etc/group":    "root:x:0:\nsandbox-init:x:65533:\nnogroup:x:65534:\n",
		"etc/hostname": "sandbox\n",
	}
	for _, f := range files {
		if err := mkdirs(f.name); err != nil {
			return err
		}
		hdr := &tar.Header{Name: f.name, Mode: int64(f.mode.Perm())}
		switch {
		case f.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.link
		case f.mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.name+"/"
			if f.mode&fs.ModeSticky != 0 {
				hdr.Mode |= 0o1000
			}
			if f.name == "work" || f.name == "gocache" {
				hdr.Uid, hdr.Gid = sandboxUID, sandboxUID
			}
		default:
			b, err := os.ReadFile(f.host)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(b))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	for _, name := range []string{"etc/group", "etc/hostname", "etc/passwd"} {
		b := text[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, b); err != nil {
			return err
		}
	}
	// The Go toolchain, at the same path as on the host.
	const gorootIn = "usr/local/go"
	if err := mkdirs(gorootIn + "/x"); err != nil {
		return err
	}
	err := filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, p)
		name := filepath.Join(gorootIn, rel)
		if rel == "test" && d.IsDir() {
			return filepath.SkipDir // Go's own compiler tests: 50 MB nobody runs here
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, t
		case d.Type().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		default:
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.CopyN(tw, f, info.Size()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// EnsureBaseImage returns the reference of the SWE base image (a minimal
// rootfs of host tools plus the Go toolchain at /usr/local/go), importing
// it with `docker import` semantics when it is not there yet. Its tag is
// a hash of the content, so calling it again is cheap and safe.
func EnsureBaseImage(ctx context.Context, cli *client.Client, goroot string) (string, error) {
	files, hash, err := rootfsPlan(goroot)
	if err != nil {
		return "", err
	}
	ref := baseImageRepo + ":" + hash
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !client.IsErrNotFound(err) {
		return "", fmt.Errorf("%w: inspect image %s: %w", ErrSandbox, ref, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, goroot, files)) }()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{
		Message: "envgym SWE base image (host tools + Go toolchain)",
		Changes: []string{
			"ENV PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin",
			"WORKDIR /work",
			"USER 65534:65534",
		},
	})
	if err != nil {
		pr.CloseWithError(err)
		return "", fmt.Errorf("%w: import base image: %w", ErrSandbox, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("%w: import base image: %w", ErrSandbox, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("%w: import base image: %s", ErrSandbox, msg.Error)
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("%w: base image %s missing after import: %w", ErrSandbox, ref, err)
	}
	return ref, nil
}
