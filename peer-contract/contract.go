// Package peercontract is the peer contract's shared data (docs/peer-contract.md),
// embedded from the JSON files beside it, which the Rust and Python peers read too:
// the KV script (kv-script.json) and the key-type names with their aliases
// (key-types.json). One copy for every language, so the peers cannot drift apart.
package peercontract

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed kv-script.json
var kvScriptJSON []byte

//go:embed key-types.json
var keyTypesJSON []byte

// Expect is what a step counts as success.
type Expect string

// The kinds of Expect.
const (
	ExpectOK    Expect = "ok"    // a Put that succeeds
	ExpectBytes Expect = "bytes" // a Get returning exactly the step's value
	ExpectProbe Expect = "probe" // a Get returning a JSON object whose server_handshake is an object
	ExpectError Expect = "error" // a Get that must fail (informational)
)

// Sequence is a value of Length bytes, byte j = j mod Modulus.
type Sequence struct {
	Length  int `json:"length"`
	Modulus int `json:"modulus"`
}

// ValueSpec is how kv-script.json writes a value: UTF-8 text or a sequence.
type ValueSpec struct {
	UTF8     *string   `json:"utf8"`
	Sequence *Sequence `json:"sequence"`
}

// Bytes is the value for a client of language lang ("{client_language}" in
// text is replaced by it).
func (v *ValueSpec) Bytes(lang string) []byte {
	switch {
	case v == nil:
		return nil
	case v.UTF8 != nil:
		return []byte(strings.ReplaceAll(*v.UTF8, "{client_language}", lang))
	case v.Sequence != nil:
		b := make([]byte, v.Sequence.Length)
		for j := range b {
			b[j] = byte(j % v.Sequence.Modulus)
		}
		return b
	}
	return nil
}

// Step is one step of the KV script.
type Step struct {
	Step   string     `json:"step"`
	Op     string     `json:"op"`
	Key    string     `json:"key"`
	Value  *ValueSpec `json:"value"`
	Expect Expect     `json:"expect"`
}

// KeyType is a --key name with its aliases.
type KeyType struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	// Curve is the name pyvider's PYVIDER_CLIENT_CERT_CURVE takes ("" for RSA).
	Curve string `json:"curve"`
}

var (
	kvScript []Step
	keyTypes []KeyType
)

func init() {
	var s struct {
		Steps []Step `json:"steps"`
	}
	if err := json.Unmarshal(kvScriptJSON, &s); err != nil {
		panic(fmt.Sprintf("peer-contract/kv-script.json: %v", err))
	}
	for _, st := range s.Steps {
		if st.Value != nil && (st.Value.UTF8 == nil) == (st.Value.Sequence == nil) {
			panic(fmt.Sprintf("peer-contract/kv-script.json: step %s: a value is utf8 or sequence", st.Step))
		}
	}
	kvScript = s.Steps
	var k struct {
		KeyTypes []KeyType `json:"key_types"`
	}
	if err := json.Unmarshal(keyTypesJSON, &k); err != nil {
		panic(fmt.Sprintf("peer-contract/key-types.json: %v", err))
	}
	keyTypes = k.KeyTypes
}

// KVScript returns the KV script's steps, in order (a fresh copy).
func KVScript() []Step { return append([]Step(nil), kvScript...) }

// KeyTypes returns the key types in contract order (a fresh copy).
func KeyTypes() []KeyType { return append([]KeyType(nil), keyTypes...) }

// CanonicalKey returns the contract name of a --key value or alias (trimmed,
// case-insensitive), and whether it is one.
func CanonicalKey(s string) (string, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, k := range keyTypes {
		if l == k.Name {
			return k.Name, true
		}
		for _, a := range k.Aliases {
			if l == a {
				return k.Name, true
			}
		}
	}
	return "", false
}
