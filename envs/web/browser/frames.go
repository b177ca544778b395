package browser

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// pageScript is page.js with a fresh token. Every frame of a tab runs the
// same script, so its frames share the token and answer each other's
// requests (observation, actions in a frame) over postMessage; the pages
// themselves cannot read it, so a page cannot use the bridge to read a
// cross-origin frame it embeds.
func pageScript() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.Replace(pageJS, "__EGYM_TOKEN__", hex.EncodeToString(b[:]), 1)
}
