package deploy

import (
	"bytes"
	"io/fs"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestManifestsDecodeWithKubernetesTypes(t *testing.T) {
	files, err := fs.Glob(Manifests, "k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]int{}
	decode := scheme.Codecs.UniversalDeserializer().Decode
	for _, f := range files {
		raw, _ := fs.ReadFile(Manifests, f)
		r := yaml.NewYAMLReader(bufioReader(raw))
		for {
			doc, err := r.Read()
			if err != nil {
				break
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, gvk, err := decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kinds[gvk.Kind]++
			switch o := obj.(type) {
			case *appsv1.Deployment:
				c := o.Spec.Template.Spec.Containers[0]
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
					t.Error("deployment without resource limits")
				}
				if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
					t.Error("deployment without a /healthz readiness probe")
				}
				if o.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *o.Spec.Template.Spec.TerminationGracePeriodSeconds < 60 {
					t.Error("grace period too short to drain episodes")
				}
			case *networkingv1.NetworkPolicy:
				if len(o.Spec.Egress) != 0 || len(o.Spec.PolicyTypes) != 2 {
					t.Errorf("network policy must deny all egress: %+v", o.Spec)
				}
			case *autoscalingv2.HorizontalPodAutoscaler:
				if o.Spec.Metrics[0].Pods == nil || o.Spec.Metrics[0].Pods.Metric.Name != "envgym_sessions" {
					t.Error("HPA must scale on envgym_sessions")
				}
			case *corev1.Service:
				if len(o.Spec.Ports) != 2 {
					t.Error("service must expose http and stream")
				}
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy", "Secret", "Namespace"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the manifests", k)
		}
	}
}
