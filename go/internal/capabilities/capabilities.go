// Package capabilities is `soup-go capabilities`: what go-plugin v1.8.0 cannot
// express, so the matrix shows those cells as n/a with the reason.
package capabilities

import (
	"bytes"
	"encoding/json"

	"github.com/soup-rpc/soup-rpc/go/internal/version"
)

// Rule matches a cell when its TLS mode, one of its keys and one of its
// transports match ("*" matches anything).
type Rule struct {
	TLS        string   `json:"tls"`
	Keys       []string `json:"keys"`
	Transports []string `json:"transports"`
	Reason     string   `json:"reason"`
}

// Side lists one role's unsupported cells.
type Side struct {
	Unsupported []Rule `json:"unsupported"`
}

// Capabilities is the printed object.
type Capabilities struct {
	Language       string `json:"language"`
	Implementation string `json:"implementation"`
	Client         Side   `json:"client"`
	Server         Side   `json:"server"`
}

var notP521 = []string{"ec-p256", "ec-p384", "rsa-2048", "rsa-4096"}

// Get returns Go's limits.
func Get() Capabilities {
	return Capabilities{
		Language:       "go",
		Implementation: version.Implementation(),
		Client: Side{Unsupported: []Rule{{
			TLS: "auto", Keys: notP521, Transports: []string{"*"},
			Reason: "go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate (ClientConfig offers no key choice)",
		}}},
		Server: Side{Unsupported: []Rule{
			{
				TLS: "*", Keys: []string{"*"}, Transports: []string{"tcp"},
				Reason: "go-plugin listens on a unix socket on every OS but Windows",
			},
			{
				TLS: "auto", Keys: notP521, Transports: []string{"*"},
				Reason: "go-plugin's AutoMTLS always makes an ECDSA P-521 plugin certificate, and a ServeConfig.TLSProvider's certificate is not advertised in the handshake (field 6 stays empty), so no other key can be used with AutoMTLS",
			},
		}},
	}
}

// JSON is Get as one line of JSON.
func JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Get()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
