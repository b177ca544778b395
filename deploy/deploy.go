// Package deploy holds what runs envgym at scale: the Kubernetes kustomize
// tree (k8s/: a base and one overlay per env family) and the Docker Swarm
// stack (swarm/stack.yml). Its tests render the kustomize tree with
// kustomize's own library and decode it with the Kubernetes API types,
// build and run the core image, and (opt-in) run the Swarm stack live.
package deploy

import "embed"

// Manifests is the kustomize tree under k8s/ (the token file, which a
// user creates there, is left out).
//
//go:embed k8s/*.yaml k8s/base/*.yaml k8s/overlays/*/*.yaml
var Manifests embed.FS

// Families are the env families with an image and an overlay, each with
// the env its probes ask about.
var Families = map[string]string{
	"core": "text/maze-v0",
	"web":  "web/shop-v0",
	"gui":  "gui/phone-v0",
	"swe":  "swe/gomut-v0",
}
