package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/envgym/envgym/gym"
)

// Config tunes the host. The zero value works: defaults are filled in.
type Config struct {
	Dir          string        // plugin directory; DefaultDir() when empty
	StartTimeout time.Duration // plugin start and describe; default 20s
	// StepTimeout bounds a Step (or capability call) whose context has no
	// deadline; default 60s.
	StepTimeout time.Duration
	// ResetTimeout bounds Make and Reset without a deadline; default 10m,
	// since a first reset may build an index or generate tasks.
	ResetTimeout time.Duration
	PingTimeout  time.Duration // health check answer; default 2s
	// HealthInterval is how often running plugins are pinged; a plugin that
	// does not answer is killed so its sessions fail fast. Default 10s;
	// negative disables.
	HealthInterval time.Duration
	CgroupRoot     string    // default /sys/fs/cgroup
	PluginStderr   io.Writer // copy of plugins' stderr; nil: kept only for crash reports
	Transport      string    // TransportSocket (default) or TransportGRPC
	LogLevel       string    // go-plugin's own log level; default "off" (failures reach callers as errors)

	cgroups bool
}

func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = DefaultDir()
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 20 * time.Second
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 60 * time.Second
	}
	if c.ResetTimeout <= 0 {
		c.ResetTimeout = 10 * time.Minute
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 2 * time.Second
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = 10 * time.Second
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.LogLevel == "" {
		c.LogLevel = "off"
	}
	c.cgroups = os.Geteuid() == 0 && CgroupsWritable(c.CgroupRoot)
	return c
}

func (c Config) logLevel() hclog.Level { return hclog.LevelFromString(c.LogLevel) }

// Host owns the plugins of one program. Close it to stop every plugin
// process it started.
type Host struct {
	cfg     Config
	mu      sync.Mutex
	plugins []*Plugin
	byEnv   map[string]*Plugin
	// Problems are manifests that failed to load; they do not stop the rest.
	Problems []error
	stop     chan struct{}
	done     chan struct{}
	closed   bool
}

// New discovers the plugins in cfg.Dir. Bad manifests are collected in
// Problems; New fails only when no directory can be read at all.
func New(cfg Config) *Host {
	cfg = cfg.withDefaults()
	h := &Host{cfg: cfg, byEnv: map[string]*Plugin{}, stop: make(chan struct{}), done: make(chan struct{})}
	ms, errs := Discover(cfg.Dir)
	h.Problems = errs
	for _, m := range ms {
		if err := h.add(m); err != nil {
			h.Problems = append(h.Problems, err)
		}
	}
	go h.healthLoop()
	return h
}

// Add serves the plugin of manifest m from this host, e.g. one that is
// not in the plugin directory.
func (h *Host) Add(m Manifest) (*Plugin, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := h.add(m); err != nil {
		return nil, err
	}
	return h.byEnv[m.Envs[0]], nil
}

func (h *Host) add(m Manifest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range m.Envs {
		if other, dup := h.byEnv[id]; dup {
			return fmt.Errorf("plugin %s (%s): env %s is already served by plugin %s (%s)", m.Name, m.Path(), id, other.m.Name, other.m.Path())
		}
	}
	p := &Plugin{m: m, cfg: h.cfg}
	h.plugins = append(h.plugins, p)
	for _, id := range m.Envs {
		h.byEnv[id] = p
	}
	return nil
}

// Plugins lists the plugins, sorted by name.
func (h *Host) Plugins() []*Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]*Plugin(nil), h.plugins...)
	sort.Slice(out, func(i, j int) bool { return out[i].m.Name < out[j].m.Name })
	return out
}

// Plugin returns the plugin serving env id.
func (h *Host) Plugin(id string) (*Plugin, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.byEnv[id]
	return p, ok
}

// Register adds every env id of every plugin to reg, with the specs the
// manifest recorded at install (plugins installed before specs were
// recorded get their id and version only); Make on reg then starts the
// plugin (if needed) and returns a remote env.
func (h *Host) Register(reg *gym.Registry) error {
	var errs []error
	for _, p := range h.Plugins() {
		for _, id := range p.m.Envs {
			spec, ok := p.m.Spec(id)
			if !ok {
				spec = gym.Spec{ID: id, Version: p.m.Version}
			}
			spec.Components = p.withComponents(spec.Components)
			if err := reg.Register(spec, h.factory(p, id)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (h *Host) factory(p *Plugin, id string) gym.Factory {
	return func(ctx context.Context, opts map[string]any) (gym.Env, error) {
		return p.Make(ctx, id, opts)
	}
}

// Make starts a remote instance of env id.
func (h *Host) Make(ctx context.Context, id string, opts map[string]any) (gym.Env, error) {
	p, ok := h.Plugin(id)
	if !ok {
		h.mu.Lock()
		ids := make([]string, 0, len(h.byEnv))
		for k := range h.byEnv {
			ids = append(ids, k)
		}
		h.mu.Unlock()
		sort.Strings(ids)
		return nil, fmt.Errorf("%w %q in plugin directory %s; nearest: %v", gym.ErrUnknownEnvID, id, h.cfg.Dir, gym.Nearest(id, ids, 3))
	}
	return p.Make(ctx, id, opts)
}

// Close stops every plugin process. Envs still open fail with CRASHED.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.stop)
	plugins := append([]*Plugin(nil), h.plugins...)
	h.mu.Unlock()
	<-h.done
	var wg sync.WaitGroup
	for _, p := range plugins {
		wg.Go(p.Stop)
	}
	wg.Wait()
	return nil
}

func (h *Host) healthLoop() {
	defer close(h.done)
	if h.cfg.HealthInterval < 0 {
		<-h.stop
		return
	}
	t := time.NewTicker(h.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			for _, p := range h.Plugins() {
				p.mu.Lock()
				proc := p.proc
				p.mu.Unlock()
				if proc != nil {
					p.checkHealth(proc)
				}
			}
		}
	}
}

func (p *Plugin) components() map[string]string {
	return map[string]string{"plugin": p.m.Name, "plugin_version": p.m.Version, "plugin_sha256": p.m.SHA256}
}

// withComponents returns a copy of an env's components plus the plugin's
// name, version and checksum.
func (p *Plugin) withComponents(c map[string]string) map[string]string {
	out := maps.Clone(c)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, p.components())
	return out
}
