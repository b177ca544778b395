package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/envgym/envgym/plugins/dockerbroker"
)

// A plugin whose manifest asks for Docker (sandbox.docker) never gets
// the engine's socket where the host builds its mount namespace: it gets
// a broker of its own (package dockerbroker), bound over
// /var/run/docker.sock and /run/docker.sock in its view, which lets it
// make only containers of swe's shape from its own image repository, with
// mounts from its scratch and cache directories, and touch only those.
// The broker lives as long as the plugin process.

// dockerBrokerDir holds one directory per brokered plugin process: the
// socket's (the plugin's uid, 0700) and the pins' (root's, 0700).
const dockerBrokerDir = "/run/envgym/docker-broker"

// dockerBroker is one plugin process's broker and its directories.
type dockerBroker struct {
	srv  *dockerbroker.Server
	dirs []string
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
	sockDir, err := os.MkdirTemp(dockerBrokerDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	b := &dockerBroker{dirs: []string{sockDir}}
	pinDir, err := os.MkdirTemp(dockerBrokerDir, name+"-pins-")
	if err != nil {
		b.close()
		return nil, fmt.Errorf("docker broker: %w", err)
	}
	b.dirs = append(b.dirs, pinDir)
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
		for _, d := range b.dirs {
			if rerr := os.Remove(d); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	})
	return err
}
