// Package sdk is the env author's side of the plugin boundary: Serve turns
// registered env factories into a plugin binary, and envtest checks an env
// against the contract. Authors never see gRPC.
package sdk

import "github.com/envgym/envgym/gym"

// Serve serves every env registered in reg over go-plugin and returns when
// the host disconnects. It is the whole main of a plugin binary:
//
//	func main() {
//		reg := gym.NewRegistry()
//		mypkg.Register(reg)
//		sdk.Serve(reg)
//	}
func Serve(reg *gym.Registry) {
	panic("sdk.Serve: implementation lands with the plugin host")
}
