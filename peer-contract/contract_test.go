package peercontract

import "testing"

func TestTheScriptAndKeyTypesDecode(t *testing.T) {
	s := KVScript()
	if len(s) != 16 || s[0].Step != "put-ascii" || s[15].Expect != ExpectError {
		t.Fatalf("%+v", s)
	}
	if got := string(s[13].Value.Bytes("go")); got != `{"client_language":"go","server_handshake":null}` {
		t.Errorf("probe value %q", got)
	}
	big := s[6].Value.Bytes("go")
	if len(big) != 1<<20 || big[250] != 250 || big[251] != 0 {
		t.Errorf("1 MiB value: len %d", len(big))
	}
	bin := s[2].Value.Bytes("go")
	if len(bin) != 256 || bin[255] != 255 {
		t.Errorf("binary value: len %d", len(bin))
	}
	for in, want := range map[string]string{"P-384": "ec-p384", " secp521r1 ": "ec-p521", "rsa-2048": "rsa-2048"} {
		if got, ok := CanonicalKey(in); !ok || got != want {
			t.Errorf("CanonicalKey(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := CanonicalKey("ed25519"); ok {
		t.Error("ed25519 is not a contract key type")
	}
}
