// Package envgym carries the sources that `gym init` copies into a new
// env's own module or folder: the Go SDK an env plugin builds against
// (gym, sdk, sdk/envtest, wire) and the Python SDK, so a new env builds
// without this checkout and without a published module.
package envgym

import "embed"

// SDK holds the Go SDK's packages (tests included; gym init skips them),
// this module's go.mod and go.sum, and the Python SDK. scaffold's tests
// check that it covers every package the SDK imports.
//
//go:embed go.mod go.sum gym/*.go gym/play/*.go gym/trajectory/*.go sdk/*.go sdk/envtest/*.go wire/*.go wire/pb/*.go all:sdk/python/envgym
var SDK embed.FS
