// Package keys parses the peer contract's --key values.
package keys

import (
	"fmt"
	"strings"
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

// All lists the key types a peer can be asked for, in contract order.
var All = []string{ECP256, ECP384, ECP521, RSA2048, RSA4096}

var aliases = map[string]string{
	"ec-p256": ECP256, "secp256r1": ECP256, "p-256": ECP256, "prime256v1": ECP256,
	"ec-p384": ECP384, "secp384r1": ECP384, "p-384": ECP384,
	"ec-p521": ECP521, "secp521r1": ECP521, "p-521": ECP521,
	"rsa-2048": RSA2048, "rsa2048": RSA2048,
	"rsa-4096": RSA4096, "rsa4096": RSA4096,
}

// Parse returns the canonical name of a --key value. allowMatch admits
// "match" (servers only).
func Parse(s string, allowMatch bool) (string, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if allowMatch && l == Match {
		return Match, nil
	}
	if c, ok := aliases[l]; ok {
		return c, nil
	}
	want := "ec-p256, ec-p384, ec-p521, rsa-2048, rsa-4096"
	if allowMatch {
		want = "match, " + want
	}
	return "", fmt.Errorf("unknown key type %q (want one of %s)", s, want)
}
