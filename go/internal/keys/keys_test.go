package keys

import "testing"

func TestParseAliases(t *testing.T) {
	for in, want := range map[string]string{
		"ec-p256": ECP256, "secp256r1": ECP256, "P-256": ECP256, "prime256v1": ECP256,
		"ec-p384": ECP384, "secp384r1": ECP384, "P-384": ECP384,
		"ec-p521": ECP521, "secp521r1": ECP521, "P-521": ECP521,
		"rsa-2048": RSA2048, "rsa2048": RSA2048, "rsa-4096": RSA4096, "rsa4096": RSA4096,
	} {
		got, err := Parse(in, false)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("match", false); err == nil {
		t.Error("clients must not accept match")
	}
	if got, err := Parse("match", true); err != nil || got != Match {
		t.Errorf("servers accept match: %q, %v", got, err)
	}
	if _, err := Parse("rsa-1024", true); err == nil {
		t.Error("rsa-1024 is not a contract key type")
	}
}
