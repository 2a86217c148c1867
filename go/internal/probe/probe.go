// Package probe implements the handshake-probe enrichment of the peer
// contract: a Put whose value is a UTF-8 JSON object holding the key
// "server_handshake" is stored with that key replaced by what the server saw.
package probe

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
)

// Key is the member that turns a value into a handshake probe.
const Key = "server_handshake"

// ServerHandshake is the object stored in place of the probe's member.
type ServerHandshake struct {
	ServerLanguage  string          `json:"server_language"`
	TLSMode         string          `json:"tls_mode"`
	PeerCertificate *certinfo.Brief `json:"peer_certificate"`
}

// Enrich returns the value to store for value: when value is a probe, the
// object with Key replaced by sh (other members kept) and true; otherwise
// value unchanged and false.
func Enrich(value []byte, sh ServerHandshake) ([]byte, bool) {
	if !IsProbe(value) {
		return value, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return value, false
	}
	b, err := json.Marshal(sh)
	if err != nil {
		return value, false
	}
	obj[Key] = b
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return value, false
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), true
}

// IsProbe reports whether value is a UTF-8 JSON object containing Key.
func IsProbe(value []byte) bool {
	trimmed := bytes.TrimSpace(value)
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(value) {
		return false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return false
	}
	_, ok := obj[Key]
	return ok
}
