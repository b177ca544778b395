package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/envgym/envgym/plugins/dockerbroker"
)

// A plugin whose manifest asks for Docker (sandbox.docker) never gets
// the engine's socket where the host builds its mount namespace: it gets
// a broker of its own (package dockerbroker), bound over
// /var/run/docker.sock and /run/docker.sock in its view, which lets it
// make only containers of swe's shape from its own image repository, with
// mounts from its scratch and cache directories, and touch only those.
// The broker lives as long as the plugin process.

// dockerBrokerDir holds, for each brokered plugin process, NAME-N/ (the
// socket's directory: the plugin's uid, 0700), NAME-N.pins/ (root's,
// 0700: the mount sources it pinned) and NAME-N.lock, which the host
// holds (flock) while the broker lives: a later start removes what a
// host that died (kill -9) left, its pins' bind mounts included.
const dockerBrokerDir = "/run/envgym/docker-broker"

// dockerBroker is one plugin process's broker and its directories.
type dockerBroker struct {
	srv  *dockerbroker.Server
	base string   // NAME-N
	lock *os.File // held while it lives
	once sync.Once
}

// dockerBrokered says whether a plugin with sandbox s gets a broker here,
// and if not why: the broker's socket is bound into the plugin's own
// mount namespace, which needs root and CAP_SYS_ADMIN.
func dockerBrokered(s Sandbox) (bool, string) {
	if !s.Docker {
		return false, "the manifest does not ask for Docker"
	}
	if why := MountNamespaceSupported(); why != "" {
		return false, why
	}
	if s.HostFiles && NamespacesSupported() != "" {
		return false, NamespacesSupported()
	}
	return true, ""
}

// startDockerBroker serves a broker for the plugin called name, whose
// processes run as host uid, in front of the real engine.
func startDockerBroker(name string, uid int, pol fsPolicy) (*dockerBroker, error) {
	if err := os.MkdirAll(dockerBrokerDir, 0o711); err != nil {
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	sweepDockerBrokers()
	sockDir, err := os.MkdirTemp(dockerBrokerDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	b := &dockerBroker{base: sockDir}
	if b.lock, err = os.OpenFile(sockDir+".lock", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		err = unix.Flock(int(b.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err == nil {
		err = os.Mkdir(sockDir+".pins", 0o700)
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	pinDir := sockDir + ".pins"
	br, err := dockerbroker.New(dockerbroker.Policy{
		Owner:     name,
		Roots:     []string{pol.scratch, pol.cache},
		ImageRepo: dockerbroker.ImageRepoFor(name),
		PinDir:    pinDir,
	}, dockerbroker.DefaultEngine())
	if err != nil {
		b.close()
		return nil, err
	}
	if b.srv, err = dockerbroker.Listen(br, filepath.Join(sockDir, "docker.sock"), uid, uid); err != nil {
		br.Close()
		b.close()
		return nil, err
	}
	// Only root and the plugin's uid get through to the socket.
	if err := os.Chown(sockDir, uid, uid); err != nil {
		b.close()
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	return b, nil
}

// socket is where the broker listens on the host.
func (b *dockerBroker) socket() string { return b.srv.Socket() }

// close stops the broker and removes its directories; nil-safe, once.
func (b *dockerBroker) close() error {
	if b == nil {
		return nil
	}
	var err error
	b.once.Do(func() {
		if b.srv != nil {
			err = b.srv.Close()
		}
		err = errors.Join(err, removeBrokerDirs(b.base))
		if b.lock != nil {
			os.Remove(b.lock.Name())
			b.lock.Close()
		}
	})
	return err
}

// removeBrokerDirs removes a broker's socket directory and pins (each
// pin unmounted first: never a recursive remove through a bind of a
// plugin's directory).
func removeBrokerDirs(base string) error {
	var errs []error
	pins, _ := os.ReadDir(base + ".pins")
	for _, e := range pins {
		p := filepath.Join(base+".pins", e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("docker broker: unmount %s: %w", p, err))
			continue
		}
		os.Remove(p)
	}
	for _, d := range []string{filepath.Join(base, "docker.sock"), base, base + ".pins"} {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepDockerBrokers removes what brokers of dead hosts left: those
// whose lock nobody holds.
func sweepDockerBrokers() {
	locks, _ := filepath.Glob(filepath.Join(dockerBrokerDir, "*.lock"))
	for _, l := range locks {
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if removeBrokerDirs(strings.TrimSuffix(l, ".lock")) == nil {
				os.Remove(l)
			}
		}
		f.Close()
	}
}
