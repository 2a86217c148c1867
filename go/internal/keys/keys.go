// Package keys parses the peer contract's --key values.
package keys

import (
	"fmt"
	"strings"

	peercontract "github.com/soup-rpc/soup-rpc/peer-contract"
)

// The canonical key type names of the peer contract.
const (
	ECP256  = "ec-p256"
	ECP384  = "ec-p384"
	ECP521  = "ec-p521"
	RSA2048 = "rsa-2048"
	RSA4096 = "rsa-4096"
	Match   = "match"
)

// All lists the key types a peer can be asked for, in contract order
// (peer-contract/key-types.json).
var All = func() []string {
	var out []string
	for _, k := range peercontract.KeyTypes() {
		out = append(out, k.Name)
	}
	return out
}()

// Parse returns the canonical name of a --key value. allowMatch admits
// "match" (servers only).
func Parse(s string, allowMatch bool) (string, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if allowMatch && l == Match {
		return Match, nil
	}
	if c, ok := peercontract.CanonicalKey(l); ok {
		return c, nil
	}
	want := strings.Join(All, ", ")
	if allowMatch {
		want = "match, " + want
	}
	return "", fmt.Errorf("unknown key type %q (want one of %s)", s, want)
}
