package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"strings"
	"testing"

	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/kvstore"
	"github.com/soup-rpc/soup-rpc/go/internal/testpki"
)

func newServer(t *testing.T, mode string) *KVServer {
	t.Helper()
	st, err := kvstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &KVServer{Store: st, TLSMode: mode}
}

func tlsContext(cert *x509.Certificate) context.Context {
	p := &peer.Peer{
		Addr: &net.UnixAddr{Name: "/tmp/x", Net: "unix"},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{
			Version:          tls.VersionTLS13,
			PeerCertificates: []*x509.Certificate{cert},
		}},
	}
	return peer.NewContext(context.Background(), p)
}

func TestGetMissingIsNotFoundNamingTheKey(t *testing.T) {
	s := newServer(t, "off")
	_, err := s.Get(context.Background(), &kvproto.GetRequest{Key: "missing-key"})
	st := status.Convert(err)
	if st.Code() != codes.NotFound || !strings.Contains(st.Message(), "missing-key") {
		t.Errorf("got %v", err)
	}
}

func TestPutGetVerbatim(t *testing.T) {
	s := newServer(t, "off")
	ctx := context.Background()
	value := []byte(`{"client_language":"go"}`)
	if _, err := s.Put(ctx, &kvproto.PutRequest{Key: "k", Value: value}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, &kvproto.GetRequest{Key: "k"})
	if err != nil || string(got.Value) != string(value) {
		t.Errorf("got %q, %v", got.GetValue(), err)
	}
}

func TestHandshakeProbeSeesPeerCertificate(t *testing.T) {
	ca, err := testpki.NewCA("ec-p384")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.NewLeaf("ec-p256", "host")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, "manual")
	ctx := tlsContext(leaf.Cert)
	if _, err := s.Put(ctx, &kvproto.PutRequest{Key: "handshake-probe",
		Value: []byte(`{"client_language":"python","server_handshake":null}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, &kvproto.GetRequest{Key: "handshake-probe"})
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		ClientLanguage  string `json:"client_language"`
		ServerHandshake struct {
			ServerLanguage  string          `json:"server_language"`
			TLSMode         string          `json:"tls_mode"`
			PeerCertificate *certinfo.Brief `json:"peer_certificate"`
		} `json:"server_handshake"`
	}
	if err := json.Unmarshal(got.Value, &obj); err != nil {
		t.Fatalf("%s: %v", got.Value, err)
	}
	sh := obj.ServerHandshake
	if obj.ClientLanguage != "python" || sh.ServerLanguage != "go" || sh.TLSMode != "manual" ||
		sh.PeerCertificate == nil || sh.PeerCertificate.KeyType != "ec-p256" ||
		sh.PeerCertificate.SHA256 != certinfo.SHA256Hex(leaf.Cert.Raw) {
		t.Errorf("stored %s", got.Value)
	}
}

func TestHandshakeWithoutTLS(t *testing.T) {
	s := newServer(t, "off")
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.UnixAddr{Name: "/tmp/x", Net: "unix"}})
	if h := s.Handshake(ctx); h.PeerCertificate != nil || h.TLSMode != "off" || h.ServerLanguage != "go" {
		t.Errorf("got %+v", h)
	}
	if PeerCertificate(context.Background()) != nil {
		t.Error("no peer in context must give nil")
	}
}

func TestParseArgs(t *testing.T) {
	var sink strings.Builder
	o, err := ParseArgs([]string{"--tls", "off", "--key", "P-384", "--store", "/tmp/s"}, &sink)
	if err != nil || o.Key != "ec-p384" || o.TLS != "off" || o.Transport != "unix" {
		t.Errorf("got %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--tls", "x"}, {"--key", "x"}, {"--transport", "udp"}, {"--tls", "manual"}, {"extra"}} {
		if _, err := ParseArgs(bad, &sink); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
