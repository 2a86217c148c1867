// Package certinfo names certificates the way every soup-rpc peer reports them:
// key type (ec-p256, ec-p384, ec-p521, rsa-<bits>, ed25519, unknown:<oid>),
// signature algorithm (OpenSSL/OID long names) and the SHA-256 of the DER.
package certinfo

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
)

// Info is the report's certificate object.
type Info struct {
	KeyType            string `json:"key_type"`
	SignatureAlgorithm string `json:"signature_algorithm"`
	SHA256             string `json:"sha256"`
}

// Brief is the handshake probe's peer_certificate object.
type Brief struct {
	KeyType string `json:"key_type"`
	SHA256  string `json:"sha256"`
}

// Describe returns the report object for cert.
func Describe(cert *x509.Certificate) *Info {
	if cert == nil {
		return nil
	}
	return &Info{
		KeyType:            KeyType(cert),
		SignatureAlgorithm: SignatureAlgorithm(cert),
		SHA256:             SHA256Hex(cert.Raw),
	}
}

// DescribeDER parses der and describes it.
func DescribeDER(der []byte) (*Info, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return Describe(cert), nil
}

// BriefOf returns the handshake-probe object for cert.
func BriefOf(cert *x509.Certificate) *Brief {
	if cert == nil {
		return nil
	}
	return &Brief{KeyType: KeyType(cert), SHA256: SHA256Hex(cert.Raw)}
}

// SHA256Hex is the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// KeyType names the certificate's public key.
func KeyType(cert *x509.Certificate) string {
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return "ec-p256"
		case elliptic.P384():
			return "ec-p384"
		case elliptic.P521():
			return "ec-p521"
		}
		if oid, ok := namedCurveOID(cert.RawSubjectPublicKeyInfo); ok {
			return "unknown:" + oid
		}
		return "unknown:ec-" + pub.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", pub.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	if oid, ok := spkiAlgorithmOID(cert.RawSubjectPublicKeyInfo); ok {
		return "unknown:" + oid
	}
	return "unknown:unparsed"
}

// signatureNames maps Go's algorithms to the OpenSSL/OID long names the other
// peers print (e.g. ecdsa-with-SHA512, sha256WithRSAEncryption).
var signatureNames = map[x509.SignatureAlgorithm]string{
	x509.MD5WithRSA:       "md5WithRSAEncryption",
	x509.SHA1WithRSA:      "sha1WithRSAEncryption",
	x509.SHA256WithRSA:    "sha256WithRSAEncryption",
	x509.SHA384WithRSA:    "sha384WithRSAEncryption",
	x509.SHA512WithRSA:    "sha512WithRSAEncryption",
	x509.SHA256WithRSAPSS: "rsassaPss",
	x509.SHA384WithRSAPSS: "rsassaPss",
	x509.SHA512WithRSAPSS: "rsassaPss",
	x509.ECDSAWithSHA1:    "ecdsa-with-SHA1",
	x509.ECDSAWithSHA256:  "ecdsa-with-SHA256",
	x509.ECDSAWithSHA384:  "ecdsa-with-SHA384",
	x509.ECDSAWithSHA512:  "ecdsa-with-SHA512",
	x509.PureEd25519:      "ED25519",
}

// SignatureAlgorithm names the algorithm the certificate is signed with.
func SignatureAlgorithm(cert *x509.Certificate) string {
	if name, ok := signatureNames[cert.SignatureAlgorithm]; ok {
		return name
	}
	if oid, ok := signatureOID(cert.Raw); ok {
		return "unknown:" + oid
	}
	return "unknown:" + cert.SignatureAlgorithm.String()
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type subjectPublicKeyInfo struct {
	Algorithm algorithmIdentifier
	PublicKey asn1.BitString
}

func spkiAlgorithmOID(raw []byte) (string, bool) {
	var spki subjectPublicKeyInfo
	if _, err := asn1.Unmarshal(raw, &spki); err != nil {
		return "", false
	}
	return spki.Algorithm.Algorithm.String(), true
}

func namedCurveOID(raw []byte) (string, bool) {
	var spki subjectPublicKeyInfo
	if _, err := asn1.Unmarshal(raw, &spki); err != nil {
		return "", false
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil {
		return "", false
	}
	return curve.String(), true
}

func signatureOID(raw []byte) (string, bool) {
	var outer struct {
		TBS       asn1.RawValue
		Algorithm algorithmIdentifier
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(raw, &outer); err != nil {
		return "", false
	}
	return outer.Algorithm.Algorithm.String(), true
}
