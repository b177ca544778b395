// Package deploy holds the Kubernetes manifests for running `gym serve`
// at scale; its test decodes them with the Kubernetes API types.
package deploy

import "embed"

// Manifests are the YAML files under k8s/.
//
//go:embed k8s/*.yaml
var Manifests embed.FS
