package certinfo_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/testpki"
)

func TestKeyTypeAndSignatureFromRealCerts(t *testing.T) {
	cases := []struct {
		key     string
		wantKey string
		wantSig string
	}{
		{"ec-p256", "ec-p256", "ecdsa-with-SHA256"},
		{"ec-p384", "ec-p384", "ecdsa-with-SHA384"},
		{"ec-p521", "ec-p521", "ecdsa-with-SHA512"},
		{"rsa-2048", "rsa-2048", "sha256WithRSAEncryption"},
		{"rsa-4096", "rsa-4096", "sha256WithRSAEncryption"},
		{"ed25519", "ed25519", "ED25519"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			// Self-signed: the signature algorithm follows the key's own type.
			ca, err := testpki.NewCA(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			info := certinfo.Describe(ca.Cert)
			if info.KeyType != tc.wantKey {
				t.Errorf("key type = %q, want %q", info.KeyType, tc.wantKey)
			}
			if info.SignatureAlgorithm != tc.wantSig {
				t.Errorf("signature algorithm = %q, want %q", info.SignatureAlgorithm, tc.wantSig)
			}
			sum := sha256.Sum256(ca.Cert.Raw)
			if info.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256 = %s, want sha256 of the DER", info.SHA256)
			}
			fromDER, err := certinfo.DescribeDER(ca.Cert.Raw)
			if err != nil || *fromDER != *info {
				t.Errorf("DescribeDER = %+v, %v; want %+v", fromDER, err, info)
			}
			if b := certinfo.BriefOf(ca.Cert); b.KeyType != tc.wantKey || b.SHA256 != info.SHA256 {
				t.Errorf("BriefOf = %+v", b)
			}
		})
	}
}

func TestLeafSignedByOtherKeyType(t *testing.T) {
	ca, err := testpki.NewCA("ec-p384")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.NewLeaf("rsa-2048", "leaf")
	if err != nil {
		t.Fatal(err)
	}
	info := certinfo.Describe(leaf.Cert)
	// The key type is the leaf's; the signature algorithm is its issuer's.
	if info.KeyType != "rsa-2048" || info.SignatureAlgorithm != "ecdsa-with-SHA384" {
		t.Errorf("got %+v", info)
	}
}

func TestNil(t *testing.T) {
	if certinfo.Describe(nil) != nil || certinfo.BriefOf(nil) != nil {
		t.Error("nil certificate must describe as nil (JSON null)")
	}
}
