package dockerbroker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Policy is what one plugin may do with Docker through its broker: make
// containers of one shape (swe's sandboxes: envs/swe/docker.go), from its
// own image repository, with bind mounts only from its own directories,
// and touch only the containers it made.
type Policy struct {
	// Owner names the plugin; its containers carry OwnerLabel=Owner.
	Owner string
	// Roots are the host directories bind mount sources must lie
	// beneath (the plugin's scratch and cache directories).
	Roots []string
	// ImageRepo is the one local image repository the plugin may import
	// into (new tags only) and run containers from: by convention
	// envgym-NAME-base (swe: envgym-swe-base).
	ImageRepo string
	// PinDir is a directory only root can traverse, where each verified
	// mount source is bound for the life of the container that uses it.
	PinDir string
	// Upper bounds of the resource limits a container must set; zero:
	// the host's memory, its CPUs, 32768 pids.
	MaxMemory   int64
	MaxNanoCPUs int64
	MaxPids     int64
}

// OwnerLabel marks the containers a broker made, with the plugin's name.
const OwnerLabel = "envgym.broker.owner"

// ImageRepoFor is the image repository the plugin called name may use.
func ImageRepoFor(name string) string { return "envgym-" + name + "-base" }

func (p Policy) withDefaults() Policy {
	if p.MaxMemory <= 0 {
		p.MaxMemory = hostMemory()
	}
	if p.MaxNanoCPUs <= 0 {
		p.MaxNanoCPUs = int64(runtime.NumCPU()) * 1e9
	}
	if p.MaxPids <= 0 {
		p.MaxPids = 32768
	}
	return p
}

// refusal is a request the policy does not allow: 403 with its message.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// createRequest is a decoded POST /containers/create body: the container
// config at the top, HostConfig and NetworkingConfig beside it.
type createRequest map[string]any

// configChecks are the container Config fields swe sets; every other
// field must be absent or empty.
var configChecks = map[string]func(p Policy, v any) error{
	"Image":      checkImageField,
	"User":       func(_ Policy, v any) error { return checkUser("User", v) },
	"Cmd":        func(Policy, any) error { return nil },
	"WorkingDir": func(Policy, any) error { return nil },
	"Hostname":   func(Policy, any) error { return nil },
	"Env":        func(Policy, any) error { return nil },
	"Labels":     checkLabels,
}

// hostChecks are the HostConfig fields swe sets, each with its rule.
// Mounts is checked (and rewritten) apart: see Broker.create.
var hostChecks = map[string]func(p Policy, v any) error{
	"NetworkMode": func(_ Policy, v any) error { return wantString("NetworkMode", v, "none") },
	"AutoRemove":  func(Policy, any) error { return nil },
	"ReadonlyRootfs": func(_ Policy, v any) error {
		return wantTrue("ReadonlyRootfs", v, "the root filesystem must be read-only")
	},
	"Init": func(_ Policy, v any) error { return wantTrue("Init", v, "an init must reap the container's orphans") },
	"CapDrop": func(_ Policy, v any) error {
		for _, c := range stringList(v) {
			if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(c), "CAP_"), "ALL") {
				return nil
			}
		}
		return refuse("HostConfig.CapDrop must be [\"ALL\"] (got %s): swe's containers keep no capability", js(v))
	},
	"SecurityOpt": func(_ Policy, v any) error {
		s := stringList(v)
		if len(s) == 1 && slices.Contains([]string{"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}, s[0]) {
			return nil
		}
		return refuse("HostConfig.SecurityOpt must be exactly [\"no-new-privileges\"] (got %s): no other seccomp, AppArmor or SELinux setting is allowed", js(v))
	},
	"IpcMode": func(_ Policy, v any) error {
		if s, _ := v.(string); s == "" || s == "private" || s == "none" {
			return nil
		}
		return refuse("HostConfig.IpcMode %s refused: only \"private\" or \"none\", never the host's or another container's IPC namespace", js(v))
	},
	"CgroupnsMode": func(_ Policy, v any) error {
		if s, _ := v.(string); s == "" || s == "private" {
			return nil
		}
		return refuse("HostConfig.CgroupnsMode %s refused: only \"private\"", js(v))
	},
	"Memory": func(p Policy, v any) error { return wantLimit("Memory", v, p.MaxMemory) },
	"MemorySwap": func(p Policy, v any) error {
		return wantLimit("MemorySwap", v, p.MaxMemory)
	},
	"PidsLimit": func(p Policy, v any) error { return wantLimit("PidsLimit", v, p.MaxPids) },
	"NanoCpus":  func(p Policy, v any) error { return wantLimit("NanoCpus", v, p.MaxNanoCPUs) },
}

// required must be set in every create: swe always sets them.
var requiredHost = []string{"NetworkMode", "ReadonlyRootfs", "Init", "CapDrop", "SecurityOpt", "Memory", "MemorySwap", "PidsLimit", "NanoCpus"}

// worstFirst are checked before anything else of a create.
var worstFirst = []string{"Privileged", "CapAdd", "Devices", "DeviceRequests", "DeviceCgroupRules", "PidMode", "UsernsMode", "Binds", "VolumesFrom"}

// why explains the refusal of fields that must stay empty and are known
// ways out of a container; other fields get a generic message.
var why = map[string]string{
	"Privileged":        "a privileged container is root on the host",
	"CapAdd":            "no capability is ever added (swe drops them all)",
	"Devices":           "no host device is passed in",
	"DeviceRequests":    "no host device is passed in",
	"DeviceCgroupRules": "no host device is passed in",
	"PidMode":           "never the host's or another container's PID namespace",
	"UTSMode":           "never the host's UTS namespace",
	"UsernsMode":        "never the host's user namespace",
	"Cgroup":            "never another container's cgroup",
	"CgroupParent":      "the container stays in Docker's cgroup tree",
	"Binds":             "bind mounts only as HostConfig.Mounts of type bind beneath the plugin's own directories",
	"VolumesFrom":       "never another container's volumes",
	"VolumeDriver":      "no volumes",
	"Tmpfs":             "swe mounts no tmpfs",
	"Sysctls":           "no sysctl is set",
	"Links":             "no links to other containers",
	"PortBindings":      "no network",
	"PublishAllPorts":   "no network",
	"ExtraHosts":        "no network",
	"Dns":               "no network",
	"Runtime":           "only the default runtime",
	"MaskedPaths":       "the default masked /proc paths stay masked",
	"ReadonlyPaths":     "the default read-only /proc paths stay read-only",
	"OomKillDisable":    "the OOM killer stays on",
	"Ulimits":           "no ulimit is raised",
	"GroupAdd":          "no extra group",
	"Volumes":           "no volumes",
	"Entrypoint":        "swe sets none",
}

// checkCreate validates a create body against the policy and returns
// the body to send: only the fields checked, under their exact names, and
// the Mounts in it for the caller to pin. Every empty field is left out:
// the engine decodes JSON names case-insensitively and the last of two
// spellings wins, so an empty "networkmode" after "NetworkMode" would
// undo the check.
func checkCreate(p Policy, req createRequest) (createRequest, []map[string]any, error) {
	clean := createRequest{}
	for _, k := range sortedKeys(req) {
		v := req[k]
		switch k {
		case "HostConfig", "NetworkingConfig":
			continue
		}
		if f, ok := configChecks[k]; ok {
			if err := f(p, v); err != nil {
				return nil, nil, err
			}
			if !isEmpty(v) {
				clean[k] = v
			}
			continue
		}
		if !isEmpty(v) {
			return nil, nil, refuseField("Config."+k, k, v)
		}
	}
	hc, _ := req["HostConfig"].(map[string]any)
	if hc == nil {
		return nil, nil, refuse("HostConfig is missing: swe's containers set network none, read-only root, no capabilities and limits")
	}
	// The known ways out first, so that the message names the worst.
	for _, k := range worstFirst {
		if v, ok := hc[k]; ok && !isEmpty(v) {
			return nil, nil, refuseField("HostConfig."+k, k, v)
		}
	}
	if _, ok := req["Image"]; !ok {
		return nil, nil, refuse("Config.Image is missing")
	}
	if _, ok := req["User"]; !ok {
		return nil, nil, refuse("Config.User is missing: containers run as a numeric non-root uid:gid")
	}
	for _, k := range requiredHost {
		if _, ok := hc[k]; !ok {
			return nil, nil, refuse("HostConfig.%s is missing: swe's containers always set it", k)
		}
	}
	if m, s := num(hc["Memory"]), num(hc["MemorySwap"]); m != s {
		return nil, nil, refuse("HostConfig.MemorySwap (%d) must equal Memory (%d): no swap beyond the memory limit", s, m)
	}
	for _, k := range []string{"MaskedPaths", "ReadonlyPaths"} {
		if v, ok := hc[k]; ok && v != nil {
			return nil, nil, refuseField("HostConfig."+k, k, v)
		}
	}
	var mounts []map[string]any
	cleanHC := map[string]any{}
	for _, k := range sortedKeys(hc) {
		v := hc[k]
		if k == "Mounts" {
			list, ok := v.([]any)
			if v != nil && !ok {
				return nil, nil, refuse("HostConfig.Mounts must be a list")
			}
			var out []any
			for i, m := range list {
				mm, ok := m.(map[string]any)
				if !ok {
					return nil, nil, refuse("HostConfig.Mounts[%d] must be an object", i)
				}
				cm, err := checkMount(i, mm)
				if err != nil {
					return nil, nil, err
				}
				mounts = append(mounts, cm)
				out = append(out, cm)
			}
			if len(out) > 0 {
				cleanHC[k] = out
			}
			continue
		}
		if f, ok := hostChecks[k]; ok {
			if err := f(p, v); err != nil {
				return nil, nil, err
			}
			if !isEmpty(v) {
				cleanHC[k] = v
			}
			continue
		}
		if !isEmpty(v) {
			return nil, nil, refuseField("HostConfig."+k, k, v)
		}
	}
	if nc, ok := req["NetworkingConfig"]; ok && !isEmpty(nc) {
		return nil, nil, refuseField("NetworkingConfig", "NetworkingConfig", nc)
	}
	clean["HostConfig"] = cleanHC
	return clean, mounts, nil
}

// checkMount allows a bind mount with no propagation and returns it with
// only its checked fields; the source is resolved and pinned later
// (pin_linux.go).
func checkMount(i int, m map[string]any) (map[string]any, error) {
	if t, _ := m["Type"].(string); t != "bind" {
		return nil, refuse("HostConfig.Mounts[%d].Type %s refused: only bind mounts beneath the plugin's own directories (no volumes, tmpfs or named pipes)", i, js(m["Type"]))
	}
	if s, _ := m["Source"].(string); !strings.HasPrefix(s, "/") {
		return nil, refuse("HostConfig.Mounts[%d].Source %s must be an absolute host path", i, js(m["Source"]))
	}
	clean := map[string]any{}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "Type", "Source", "Target", "ReadOnly":
			if !isEmpty(v) {
				clean[k] = v
			}
		case "BindOptions":
			bo, _ := v.(map[string]any)
			for _, bk := range sortedKeys(bo) {
				if bv := bo[bk]; !isEmpty(bv) {
					return nil, refuse("HostConfig.Mounts[%d].BindOptions.%s refused (got %s): no mount propagation or other bind option", i, bk, js(bv))
				}
			}
		default:
			if !isEmpty(v) {
				return nil, refuse("HostConfig.Mounts[%d].%s refused (got %s): a bind mount has only a source, a target and read-only", i, k, js(v))
			}
		}
	}
	return clean, nil
}

func refuseField(path, key string, v any) error {
	if w, ok := why[key]; ok {
		return refuse("%s=%s refused: %s", path, js(v), w)
	}
	return refuse("%s=%s refused: swe's containers never set it", path, js(v))
}

// execChecks are the exec create fields swe sets.
var execChecks = map[string]func(v any) error{
	"User":         func(v any) error { return checkUser("User", v) },
	"AttachStdout": func(any) error { return nil },
	"AttachStderr": func(any) error { return nil },
	"AttachStdin":  func(any) error { return nil },
	"Tty":          func(any) error { return nil },
	"Env":          func(any) error { return nil },
	"Cmd":          func(any) error { return nil },
	"WorkingDir":   func(any) error { return nil },
	"DetachKeys":   func(any) error { return nil },
	"ConsoleSize":  func(any) error { return nil },
}

// checkExec validates an exec create body (a numeric non-root user, never
// privileged) and returns the body to send: the fields checked, each
// empty one left out (see checkCreate).
func checkExec(body map[string]any) (map[string]any, error) {
	if _, ok := body["User"]; !ok {
		return nil, refuse("exec User is missing: commands run as a numeric non-root uid:gid")
	}
	clean := map[string]any{}
	for _, k := range sortedKeys(body) {
		v := body[k]
		if f, ok := execChecks[k]; ok {
			if err := f(v); err != nil {
				return nil, err
			}
			if !isEmpty(v) {
				clean[k] = v
			}
			continue
		}
		if k == "Privileged" && !isEmpty(v) {
			return nil, refuse("exec Privileged=true refused: a privileged exec is root on the host")
		}
		if !isEmpty(v) {
			return nil, refuse("exec %s=%s refused: swe's commands never set it", k, js(v))
		}
	}
	return clean, nil
}

var numericUser = regexp.MustCompile(`^([0-9]+):([0-9]+)$`)

// checkUser wants "uid:gid", numeric (a name would be looked up in the
// image's /etc/passwd, which the plugin wrote) and neither 0.
func checkUser(field string, v any) error {
	s, _ := v.(string)
	m := numericUser.FindStringSubmatch(s)
	if m == nil {
		return refuse("%s %s refused: give a numeric non-root \"uid:gid\" (names resolve in the image's /etc/passwd; empty means the image's user)", field, js(v))
	}
	uid, _ := strconv.ParseUint(m[1], 10, 32)
	gid, _ := strconv.ParseUint(m[2], 10, 32)
	if uid == 0 || gid == 0 {
		return refuse("%s %s refused: root (uid or gid 0) is never allowed", field, js(v))
	}
	return nil
}

func checkLabels(p Policy, v any) error {
	m, _ := v.(map[string]any)
	for k := range m {
		if strings.HasPrefix(k, "envgym.broker.") {
			return refuse("label %q refused: the broker sets envgym.broker.* labels itself", k)
		}
	}
	return nil
}

func checkImageField(p Policy, v any) error {
	s, _ := v.(string)
	return checkImageRef(p, s)
}

var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// checkImageRef allows REPO or REPO:TAG of the plugin's own repository.
func checkImageRef(p Policy, ref string) error {
	repo, tag, hasTag := strings.Cut(ref, ":")
	if repo != p.ImageRepo || (hasTag && !tagRe.MatchString(tag)) {
		return refuse("image %q refused: plugin %s may only use images of its own repository %s (imported through its broker), never other images of the host", ref, p.Owner, p.ImageRepo)
	}
	return nil
}

// importChanges are the Dockerfile instructions an import may apply:
// swe's. Never LABEL: containers inherit their image's labels, and an
// image labelled envgym.broker.owner would make containers others create
// from it look like the plugin's.
var importChanges = []string{"ENV", "WORKDIR", "USER"}

func checkChange(c string) error {
	instr, _, _ := strings.Cut(strings.TrimSpace(c), " ")
	if !slices.Contains(importChanges, strings.ToUpper(instr)) {
		return refuse("import change %q refused: only %s", c, strings.Join(importChanges, ", "))
	}
	return nil
}

// isEmpty: the JSON zero of any type, as the Docker client sends for
// fields it does not set (null, "", false, 0, [], {} or objects and lists
// of those).
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		for _, e := range x {
			if !isEmpty(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range x {
			if !isEmpty(e) {
				return false
			}
		}
		return true
	}
	return false
}

func num(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}

func wantString(field string, v any, want string) error {
	if s, _ := v.(string); s != want {
		return refuse("HostConfig.%s %s refused: must be %q", field, js(v), want)
	}
	return nil
}

func wantTrue(field string, v any, reason string) error {
	if b, _ := v.(bool); !b {
		return refuse("HostConfig.%s must be true (got %s): %s", field, js(v), reason)
	}
	return nil
}

func wantLimit(field string, v any, max int64) error {
	n := num(v)
	if n <= 0 || n > max {
		return refuse("HostConfig.%s %s refused: a limit between 1 and %d is required", field, js(v), max)
	}
	return nil
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// js renders a value for a message, compactly.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

// sortedKeys is for deterministic messages.
func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
