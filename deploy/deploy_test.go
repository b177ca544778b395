package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envgym/envgym/serve"
)

// render builds the kustomization at dir (inside k8s/) with kustomize's
// library, on an in-memory copy of the tree plus a token file, and decodes
// every object with the Kubernetes API types.
func render(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(Manifests, "k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Manifests, p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+p, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.WriteFile("/k8s/token", []byte("test-token\n")); err != nil {
		t.Fatal(err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Join("/k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

// TestKustomizeTreeRendersEveryFamily renders deploy/k8s (what `kubectl
// apply -k deploy/k8s` applies) and checks each family's objects: image,
// probes on its own env, limits, the token Secret, capabilities, a
// headless Service and NetworkPolicy that select only its pods, no egress,
// an HPA on sessions.
func TestKustomizeTreeRendersEveryFamily(t *testing.T) {
	objs := render(t, ".")
	kinds := map[string]int{}
	var secret *corev1.Secret
	deps := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		kinds[fmt.Sprintf("%T", o)]++
		switch o := o.(type) {
		case *corev1.Secret:
			secret = o
		case *appsv1.Deployment:
			deps[o.Spec.Template.Labels["app.kubernetes.io/component"]] = o
		}
		if m, ok := o.(interface{ GetNamespace() string }); ok {
			if _, isNS := o.(*corev1.Namespace); !isNS && m.GetNamespace() != "envgym" {
				t.Errorf("%T in namespace %q, want envgym", o, m.GetNamespace())
			}
		}
	}
	for k, want := range map[string]int{"*v1.Namespace": 1, "*v1.Secret": 1, "*v1.Deployment": 4, "*v1.Service": 4,
		"*v2.HorizontalPodAutoscaler": 4, "*v1.PodDisruptionBudget": 4, "*v1.NetworkPolicy": 4} {
		if kinds[k] != want {
			t.Errorf("%d %s, want %d (all: %v)", kinds[k], k, want, kinds)
		}
	}
	if secret == nil || string(secret.Data["token"]) != "test-token\n" || !strings.HasPrefix(secret.Name, "gym-serve-token-") {
		t.Fatalf("token Secret generated from k8s/token: %+v", secret)
	}
	for fam, envID := range Families {
		d := deps[fam]
		if d == nil {
			t.Errorf("no Deployment for %s", fam)
			continue
		}
		checkDeployment(t, fam, envID, d, secret.Name)
		podLabels := labels.Set(d.Spec.Template.Labels)
		for _, o := range objs {
			switch o := o.(type) {
			case *corev1.Service:
				sel := labels.SelectorFromSet(o.Spec.Selector)
				if o.Name == "gym-serve-"+fam {
					if !sel.Matches(podLabels) || o.Spec.ClusterIP != corev1.ClusterIPNone || len(o.Spec.Ports) != 2 {
						t.Errorf("%s: Service %s must be headless, expose http and stream and select its pods: %+v", fam, o.Name, o.Spec)
					}
				} else if sel.Matches(podLabels) {
					t.Errorf("Service %s also selects the %s pods", o.Name, fam)
				}
			case *networkingv1.NetworkPolicy:
				sel, err := metav1Selector(o.Spec.PodSelector.MatchLabels)
				if err != nil {
					t.Fatal(err)
				}
				if o.Name == "gym-serve-no-egress-"+fam {
					if !sel.Matches(podLabels) || len(o.Spec.Egress) != 0 || !slices.Contains(o.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
						t.Errorf("%s: NetworkPolicy must deny all egress of its pods: %+v", fam, o.Spec)
					}
				}
			case *autoscalingv2.HorizontalPodAutoscaler:
				if o.Name == "gym-serve-"+fam {
					if o.Spec.ScaleTargetRef.Name != d.Name || o.Spec.Metrics[0].Pods == nil || o.Spec.Metrics[0].Pods.Metric.Name != "envgym_sessions" {
						t.Errorf("%s: HPA must scale %s on envgym_sessions: %+v", fam, d.Name, o.Spec)
					}
					if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas != *d.Spec.Replicas {
						t.Errorf("%s: HPA minReplicas %v, Deployment replicas %d", fam, o.Spec.MinReplicas, *d.Spec.Replicas)
					}
				}
			case *policyv1.PodDisruptionBudget:
				if o.Name == "gym-serve-"+fam {
					sel, _ := metav1Selector(o.Spec.Selector.MatchLabels)
					if !sel.Matches(podLabels) {
						t.Errorf("%s: PodDisruptionBudget does not select its pods", fam)
					}
				}
			}
		}
	}
	if c := deps["swe"].Spec.Template.Spec.Containers[0]; !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/sys/fs/cgroup" }) {
		t.Error("swe: its namespace backend needs the node's cgroup tree mounted")
	}
	for fam, d := range deps {
		sp := d.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile
		want := corev1.SeccompProfileTypeRuntimeDefault
		if fam == "swe" {
			want = corev1.SeccompProfileTypeUnconfined // pivot_root in its sandboxes
		}
		if sp == nil || sp.Type != want {
			t.Errorf("%s: seccomp profile %v, want %s", fam, sp, want)
		}
	}
}

func checkDeployment(t *testing.T, fam, envID string, d *appsv1.Deployment, secretName string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if want := "envgym-" + fam + ":local"; c.Image != want {
		t.Errorf("%s: image %s, want %s", fam, c.Image, want)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() ||
		c.Resources.Requests.Cpu().Cmp(*c.Resources.Limits.Cpu()) > 0 || c.Resources.Requests.Memory().Cmp(*c.Resources.Limits.Memory()) > 0 {
		t.Errorf("%s: limits must be set and not below requests: %+v", fam, c.Resources)
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != serve.OpenEnvPath(envID)+"/health" {
		t.Errorf("%s: startup probe must be the OpenEnv /health of %s: %+v", fam, envID, p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("%s: liveness probe must be /healthz: %+v", fam, p)
	}
	if p := c.ReadinessProbe; p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != "/usr/local/bin/gym healthcheck --openenv "+envID {
		t.Errorf("%s: readiness probe must be gym healthcheck --openenv %s: %+v", fam, envID, p)
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < 60 {
		t.Errorf("%s: grace period too short to drain episodes", fam)
	}
	args := strings.Join(c.Args, " ")
	var tokenDir string
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secretName {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && m.ReadOnly {
					tokenDir = m.MountPath
				}
			}
		}
	}
	if tokenDir == "" || !strings.Contains(args, "--token-file "+tokenDir+"/token") {
		t.Errorf("%s: the token Secret %s must be mounted read-only and given to --token-file: args %q", fam, secretName, args)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Fatalf("%s: capabilities must start from none: %+v", fam, sc)
	}
	for _, cap := range []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "KILL", "SETGID", "SETUID", "SETPCAP"} {
		if !slices.Contains(sc.Capabilities.Add, cap) {
			t.Errorf("%s: the plugin sandbox needs %s", fam, cap)
		}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: plugins share the pod: no service account token in it", fam)
	}
}

func metav1Selector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("empty selector selects every pod")
	}
	return labels.SelectorFromSet(m), nil
}

// TestOverlaysRenderAlone: each family's overlay builds by itself (kubectl
// apply -k deploy/k8s/overlays/web), with names of its own.
func TestOverlaysRenderAlone(t *testing.T) {
	for fam := range Families {
		objs := render(t, "overlays/"+fam)
		if len(objs) != 5 {
			t.Errorf("%s: %d objects, want Deployment, Service, HPA, PDB, NetworkPolicy", fam, len(objs))
		}
		for _, o := range objs {
			if n := o.(interface{ GetName() string }).GetName(); !strings.HasSuffix(n, "-"+fam) {
				t.Errorf("%s: %T %s has no -%s suffix (it would clash with the other families)", fam, o, n, fam)
			}
		}
	}
}
