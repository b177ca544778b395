package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

func sha256New() hash.Hash { return sha256.New() }

func hexSHA(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("plugin manifest: sha256 %q is not a hex SHA-256", s)
	}
	return b, nil
}
