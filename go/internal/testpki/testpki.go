// Package testpki makes certificates for tests: a CA and leaves like the
// ones xtask makes (SAN DNS:localhost and IP:127.0.0.1, serverAuth and
// clientAuth, PKCS#8 keys), of every key type of the peer contract.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// NewKey makes a private key of a contract key type (or "ed25519").
func NewKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "ec-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ec-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ec-p521":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa-2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("testpki: unknown key type %q", keyType)
}

// Cert is a certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// NewCA makes a self-signed CA of the given key type.
func NewCA(keyType string) (*Cert, error) {
	key, err := NewKey(keyType)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "soup-rpc test CA " + keyType},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	return &Cert{Cert: c, Key: key}, err
}

// NewLeaf makes a leaf of the given key type signed by ca.
func (ca *Cert) NewLeaf(keyType, cn string) (*Cert, error) {
	key, err := NewKey(keyType)
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	return &Cert{Cert: c, Key: key}, err
}

// CertPEM is the certificate as PEM.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the key as PKCS#8 PEM.
func (c *Cert) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Files are the paths of a leaf, its key and the CA, as given to a peer.
type Files struct{ Cert, Key, CA string }

// WriteFiles writes c, its key and ca into dir with the given name prefix.
func (c *Cert) WriteFiles(dir, prefix string, ca *Cert) (Files, error) {
	f := Files{
		Cert: filepath.Join(dir, prefix+".crt"),
		Key:  filepath.Join(dir, prefix+".key"),
		CA:   filepath.Join(dir, prefix+"-ca.crt"),
	}
	keyPEM, err := c.KeyPEM()
	if err != nil {
		return f, err
	}
	for path, b := range map[string][]byte{f.Cert: c.CertPEM(), f.Key: keyPEM, f.CA: ca.CertPEM()} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return f, err
		}
	}
	return f, nil
}
