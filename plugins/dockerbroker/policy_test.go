package dockerbroker

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

var testPolicy = Policy{Owner: "swe", Roots: []string{"/tmp/x"}, ImageRepo: "envgym-swe-base", PinDir: "/run/x"}.withDefaults()

// sweBody is a create body as swe's Docker client sends it.
const sweBody = `{"Hostname":"sandbox","Domainname":"","User":"65533:65533","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sleep","86400"],"Image":"envgym-swe-base:abc","Volumes":null,"WorkingDir":"/work","Entrypoint":null,"OnBuild":null,"Labels":{"envgym.swe":"sandbox"},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":null},"NetworkMode":"none","PortBindings":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":["ALL"],"CgroupnsMode":"","Dns":null,"DnsOptions":null,"DnsSearch":null,"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":2147483648,"NanoCpus":2000000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":2147483648,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":512,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"bind","Source":"/tmp/x/ws","Target":"/work"}],"Init":true},"NetworkingConfig":{"EndpointsConfig":null}}`

func decodeBody(t testing.TB, b []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// asEngine decodes a body as the engine does (encoding/json into its
// types: names matched case-insensitively, the last spelling winning).
func asEngine(t testing.TB, body any) container.CreateRequest {
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var r container.CreateRequest
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("the engine could not decode %s: %v", b, err)
	}
	return r
}

// TestCreateOtherSpellingsCannotUndoChecks: an empty field under another
// spelling ("networkmode": "" after "NetworkMode": "none") passes the
// per-name checks and, sent on as it came, would win in the engine's
// decoder; the broker sends only what it checked.
func TestCreateOtherSpellingsCannotUndoChecks(t *testing.T) {
	req := decodeBody(t, []byte(sweBody))
	hc := req["HostConfig"].(map[string]any)
	hc["networkmode"], hc["readonlyrootfs"], hc["capdrop"], hc["securityopt"], hc["init"] = "", false, []any{}, []any{}, false
	req["user"] = ""
	// What the engine would have done with the body as it came.
	if e := asEngine(t, req); e.HostConfig.NetworkMode == "none" || e.HostConfig.ReadonlyRootfs || e.User != "" {
		t.Fatalf("the engine's decoder took the first spelling; this test proves nothing: %+v", e.HostConfig)
	}
	clean, _, err := checkCreate(testPolicy, req)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	e := asEngine(t, clean)
	if e.HostConfig.NetworkMode != "none" || !e.HostConfig.ReadonlyRootfs || len(e.HostConfig.CapDrop) != 1 ||
		len(e.HostConfig.SecurityOpt) != 1 || e.HostConfig.Init == nil || !*e.HostConfig.Init || e.User != "65533:65533" {
		t.Errorf("what the engine decodes from the broker's body: user %q, %+v", e.User, e.HostConfig)
	}
	// Other spellings with a value are refused outright.
	hc["privileged"] = true
	if _, _, err := checkCreate(testPolicy, req); err == nil || !strings.Contains(err.Error(), "privileged") {
		t.Errorf(`"privileged": true: %v`, err)
	}
}

// FuzzCheckCreate: whatever body the broker lets through, the engine
// decodes it into a container of swe's shape.
func FuzzCheckCreate(f *testing.F) {
	f.Add([]byte(sweBody))
	f.Add([]byte(strings.Replace(sweBody, `"Privileged":false`, `"privileged":true`, 1)))
	f.Add([]byte(strings.Replace(sweBody, `"NetworkMode":"none"`, `"NetworkMode":"none","networkMode":""`, 1)))
	f.Add([]byte(strings.Replace(sweBody, `"Type":"bind"`, `"Type":"bind","type":"volume"`, 1)))
	f.Add([]byte(strings.Replace(sweBody, `"User":"65533:65533"`, `"User":"65533:65533","ſser":"0"`, 1)))
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var req map[string]any
		if dec.Decode(&req) != nil || req == nil {
			return
		}
		clean, _, err := checkCreate(testPolicy, req)
		if err != nil {
			return
		}
		b, err := json.Marshal(clean)
		if err != nil {
			t.Fatal(err)
		}
		var e container.CreateRequest
		if err := json.Unmarshal(b, &e); err != nil {
			return // the engine refuses it too
		}
		h := e.HostConfig
		bad := func(what string) { t.Fatalf("allowed %s: %s", what, b) }
		if e.Config == nil || h == nil {
			bad("no config")
		}
		if checkUser("User", e.User) != nil || checkImageRef(testPolicy, e.Image) != nil {
			bad("user or image")
		}
		if h.Privileged || len(h.CapAdd) > 0 || !slices.Contains(h.CapDrop, "ALL") || len(h.Devices) > 0 || len(h.DeviceRequests) > 0 {
			bad("privileges")
		}
		if h.NetworkMode != "none" || h.PidMode != "" || h.UTSMode != "" || h.UsernsMode != "" || h.Cgroup != "" || !(h.IpcMode == "" || h.IpcMode == "private" || h.IpcMode == "none") {
			bad("a namespace")
		}
		if !h.ReadonlyRootfs || h.Init == nil || !*h.Init || len(h.SecurityOpt) != 1 || !strings.HasPrefix(h.SecurityOpt[0], "no-new-privileges") {
			bad("a weaker container")
		}
		if len(h.Binds) > 0 || len(h.VolumesFrom) > 0 || len(h.Tmpfs) > 0 || len(e.Volumes) > 0 || len(h.Sysctls) > 0 || h.MaskedPaths != nil || h.ReadonlyPaths != nil || h.Runtime != "" || h.CgroupParent != "" {
			bad("host access")
		}
		if h.Memory <= 0 || h.PidsLimit == nil || *h.PidsLimit <= 0 || h.NanoCPUs <= 0 {
			bad("no limits")
		}
		for _, m := range h.Mounts {
			if m.Type != "bind" || m.BindOptions != nil && m.BindOptions.Propagation != "" || m.VolumeOptions != nil || m.TmpfsOptions != nil {
				bad("a mount")
			}
		}
	})
}
