package probe

import (
	"encoding/json"
	"testing"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
)

func TestEnrichProbe(t *testing.T) {
	sh := ServerHandshake{ServerLanguage: "go", TLSMode: "auto",
		PeerCertificate: &certinfo.Brief{KeyType: "ec-p521", SHA256: "ab"}}
	in := []byte(`{"client_language":"rust","server_handshake":null,"extra":[1,{"a":"<&>"}]}`)
	out, ok := Enrich(in, sh)
	if !ok {
		t.Fatal("probe not recognised")
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["client_language"]) != `"rust"` || string(got["extra"]) != `[1,{"a":"<&>"}]` {
		t.Errorf("other members not kept: %s", out)
	}
	var saw ServerHandshake
	if err := json.Unmarshal(got[Key], &saw); err != nil {
		t.Fatal(err)
	}
	if saw.ServerLanguage != "go" || saw.TLSMode != "auto" || saw.PeerCertificate == nil || saw.PeerCertificate.KeyType != "ec-p521" {
		t.Errorf("server_handshake = %s", got[Key])
	}
}

func TestEnrichPlaintextHasNullCertificate(t *testing.T) {
	out, ok := Enrich([]byte(`{"server_handshake":{"old":1}}`), ServerHandshake{ServerLanguage: "go", TLSMode: "off"})
	if !ok {
		t.Fatal("probe not recognised")
	}
	want := `{"server_handshake":{"server_language":"go","tls_mode":"off","peer_certificate":null}}`
	if string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestOrdinaryValuesVerbatim(t *testing.T) {
	for _, v := range []string{
		"", "hello, soup", "null", "[]", `["server_handshake"]`, `{"client_language":"go"}`,
		`{"server_handshake":null`, `{"server_handshake":null} trailing`, "\xff{\"server_handshake\":null}",
		`"server_handshake"`, `{"nested":{"server_handshake":null}}`,
	} {
		out, ok := Enrich([]byte(v), ServerHandshake{ServerLanguage: "go"})
		if ok || string(out) != v {
			t.Errorf("Enrich(%q) = %q, %v; want it verbatim", v, out, ok)
		}
	}
}
