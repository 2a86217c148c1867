// Package server is `soup-go server`: go-plugin's KV example served with
// plugin.Serve, exactly as a go-plugin plugin author would.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/keys"
	"github.com/soup-rpc/soup-rpc/go/internal/kvstore"
	"github.com/soup-rpc/soup-rpc/go/internal/probe"
)

// Handshake is go-plugin's KV example handshake (BASIC_PLUGIN=hello, v1).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "BASIC_PLUGIN",
	MagicCookieValue: "hello",
}

// PluginName is the name of the KV plugin in the plugin set.
const PluginName = "kv"

// MaxMessageSize is the gRPC receive/send limit of the server (the contract
// asks for at least 16 MiB; grpc-go's default is 4 MiB).
const MaxMessageSize = 64 << 20

// EnvClientCert is the variable through which a go-plugin host asks for AutoMTLS.
const EnvClientCert = "PLUGIN_CLIENT_CERT"

// ErrUsage marks command-line errors (exit code 2).
var ErrUsage = errors.New("usage")

// Options are the parsed flags of `soup-go server`.
type Options struct {
	TLS       string
	Key       string
	Transport string
	CertFile  string
	KeyFile   string
	CAFile    string
	StoreDir  string
	// Debug serves in go-plugin's test mode (ServeConfig.Test): no host, a
	// reattach config printed on stdout, served until SIGINT/SIGTERM.
	Debug bool
}

// ParseArgs parses `server` flags.
func ParseArgs(args []string, stderr io.Writer) (*Options, error) {
	fs := flag.NewFlagSet("soup-go server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Options{}
	fs.StringVar(&o.TLS, "tls", "auto", "auto|manual|off")
	fs.StringVar(&o.Key, "key", keys.Match, "match|ec-p256|ec-p384|ec-p521|rsa-2048|rsa-4096")
	fs.StringVar(&o.Transport, "transport", "unix", "tcp|unix (go-plugin only serves unix on Linux)")
	fs.StringVar(&o.CertFile, "tls-cert", "", "PEM leaf certificate (manual)")
	fs.StringVar(&o.KeyFile, "tls-key", "", "PEM PKCS#8 private key (manual)")
	fs.StringVar(&o.CAFile, "tls-ca", "", "PEM CA that signed the host's certificate (manual)")
	fs.StringVar(&o.StoreDir, "store", "", "directory holding the KV data")
	fs.BoolVar(&o.Debug, "debug", false, "go-plugin test mode: print a reattach config (TF_REATTACH_PROVIDERS) and serve without a host")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	switch o.TLS {
	case "auto", "manual", "off":
	default:
		return nil, fmt.Errorf("%w: --tls must be auto, manual or off, not %q", ErrUsage, o.TLS)
	}
	k, err := keys.Parse(o.Key, true)
	if err != nil {
		return nil, fmt.Errorf("%w: --key: %v", ErrUsage, err)
	}
	o.Key = k
	switch o.Transport {
	case "tcp", "unix":
	default:
		return nil, fmt.Errorf("%w: --transport must be tcp or unix, not %q", ErrUsage, o.Transport)
	}
	if o.TLS == "manual" && (o.CertFile == "" || o.KeyFile == "" || o.CAFile == "") {
		return nil, fmt.Errorf("%w: --tls manual needs --tls-cert, --tls-key and --tls-ca", ErrUsage)
	}
	if o.StoreDir == "" {
		o.StoreDir = DefaultStoreDir()
	}
	return o, nil
}

// DefaultStoreDir is a directory under the user cache dir (or TMPDIR).
func DefaultStoreDir() string {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "soup-rpc", "soup-go-kv")
}

// NewLogger is the logger go-plugin would make by default (hclog JSON at
// Trace on the original stderr).
func NewLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "soup-go",
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// Run serves the KV plugin until the host shuts it down. It returns an error
// only for problems found before plugin.Serve (plugin.Serve exits itself on
// a wrong cookie).
func Run(o *Options, logger hclog.Logger) error {
	store, err := kvstore.Open(o.StoreDir)
	if err != nil {
		return err
	}

	if o.Transport == "tcp" {
		logger.Warn("--transport tcp cannot be honoured: go-plugin listens on a unix socket on every OS but Windows; serving unix",
			"requested", "tcp", "serving", "unix")
	}

	hostCert := os.Getenv(EnvClientCert)
	mode := o.TLS
	cfg := &plugin.ServeConfig{
		HandshakeConfig: Handshake,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
			return grpc.NewServer(opts...)
		},
		Logger: logger,
	}

	switch o.TLS {
	case "off":
		// go-plugin turns AutoMTLS on whenever the host sent a certificate;
		// a plugin opts out by not seeing it.
		if hostCert != "" {
			logger.Info("--tls off: ignoring the host's PLUGIN_CLIENT_CERT (unset before plugin.Serve)")
		}
		if err := os.Unsetenv(EnvClientCert); err != nil {
			return err
		}
	case "auto":
		if hostCert == "" {
			// As go-plugin: AutoMTLS only when the host asked for it.
			mode = "off"
			logger.Info("--tls auto but the host sent no PLUGIN_CLIENT_CERT: serving plaintext, as go-plugin does")
		}
		if k := o.Key; k != keys.Match && k != keys.ECP521 {
			logger.Warn("go-plugin's AutoMTLS always makes an ECDSA P-521 certificate; the requested key cannot be honoured",
				"requested", k, "serving", keys.ECP521)
		} else if k == keys.Match && hostCert != "" {
			if hk := pemKeyType(hostCert); hk != keys.ECP521 {
				logger.Warn("--key match: go-plugin's AutoMTLS always makes an ECDSA P-521 certificate, whatever the host's",
					"host_key", hk, "serving", keys.ECP521)
			}
		}
	case "manual":
		tlsConfig, leaf, err := manualTLS(o)
		if err != nil {
			return err
		}
		if o.Key != keys.Match {
			if got := certinfo.KeyType(leaf); got != o.Key {
				logger.Warn("--key differs from the key of --tls-cert; serving the certificate as given",
					"requested", o.Key, "certificate", got)
			}
		}
		cfg.TLSProvider = func() (*tls.Config, error) { return tlsConfig, nil }
		if hostCert != "" {
			logger.Info("host sent PLUGIN_CLIENT_CERT; go-plugin ignores it when a TLSProvider is set")
		}
	}

	cfg.Plugins = plugin.PluginSet{PluginName: &KVPlugin{Impl: &KVServer{Store: store, TLSMode: mode, Logger: logger.Named("kv")}}}
	logger.Info("serving go-plugin KV", "tls", mode, "requested_tls", o.TLS, "key", o.Key,
		"store", store.Dir, "max_message_bytes", MaxMessageSize)
	if o.Debug {
		serveDebug(cfg, logger)
		return nil
	}
	plugin.Serve(cfg)
	logger.Debug("plugin.Serve returned")
	return nil
}

// reattachJSON is ReattachConfig as Terraform's TF_REATTACH_PROVIDERS carries
// it (net.Addr as {Network, String}).
type reattachJSON struct {
	Protocol        string
	ProtocolVersion int
	Pid             int
	Test            bool
	Addr            struct{ Network, String string }
}

// serveDebug runs plugin.Serve in go-plugin's test mode, as terraform-plugin-go's
// debug mode does, printing the reattach config it hands back.
func serveDebug(cfg *plugin.ServeConfig, logger hclog.Logger) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
	go plugin.Serve(cfg)
	select {
	case rc := <-reattach:
		var j reattachJSON
		j.Protocol, j.ProtocolVersion, j.Pid, j.Test = string(rc.Protocol), rc.ProtocolVersion, rc.Pid, rc.Test
		j.Addr.Network, j.Addr.String = rc.Addr.Network(), rc.Addr.String()
		one, _ := json.Marshal(j)
		providers, _ := json.Marshal(map[string]reattachJSON{"soup-rpc/kv": j})
		fmt.Printf("Plugin started in debug mode (go-plugin test mode).\n\n\tReattachConfig: %s\n\n\tTF_REATTACH_PROVIDERS='%s'\n\n", one, providers)
	case <-closed:
		logger.Error("plugin.Serve ended before handing back a reattach config")
		return
	}
	<-closed
	logger.Debug("debug serve ended")
}

func pemKeyType(p string) string {
	cert, err := parsePEMCert([]byte(p))
	if err != nil {
		return "unparsable"
	}
	return certinfo.KeyType(cert)
}

func manualTLS(o *Options) (*tls.Config, *x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	caPEM, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", o.CAFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, leaf, nil
}

// KVPlugin is the go-plugin GRPCPlugin for the KV service.
type KVPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl kvproto.KVServer
}

// GRPCServer registers the KV service.
func (p *KVPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	kvproto.RegisterKVServer(s, p.Impl)
	return nil
}

// GRPCClient returns the generated KV client on go-plugin's connection.
func (p *KVPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return kvproto.NewKVClient(c), nil
}

// KVServer implements proto.KV on a kvstore.Store.
type KVServer struct {
	unimplementedKV
	Store   *kvstore.Store
	TLSMode string
	Logger  hclog.Logger
}

// Get returns the stored value or NOT_FOUND naming the key.
func (s *KVServer) Get(_ context.Context, req *kvproto.GetRequest) (*kvproto.GetResponse, error) {
	v, err := s.Store.Get(req.Key)
	if errors.Is(err, kvstore.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "key not found: %q", req.Key)
	}
	if err != nil {
		s.logger().Error("get failed", "key", req.Key, "error", err)
		return nil, status.Errorf(codes.Internal, "reading key %q: %v", req.Key, err)
	}
	return &kvproto.GetResponse{Value: v}, nil
}

// Put stores the value, enriching a handshake probe.
func (s *KVServer) Put(ctx context.Context, req *kvproto.PutRequest) (*kvproto.Empty, error) {
	value := req.Value
	if enriched, ok := probe.Enrich(value, s.Handshake(ctx)); ok {
		s.logger().Info("handshake probe enriched", "key", req.Key, "value", string(enriched))
		value = enriched
	}
	if err := s.Store.Put(req.Key, value); err != nil {
		s.logger().Error("put failed", "key", req.Key, "error", err)
		return nil, status.Errorf(codes.Internal, "writing key %q: %v", req.Key, err)
	}
	return &kvproto.Empty{}, nil
}

// Handshake is what this server saw on the connection carrying ctx.
func (s *KVServer) Handshake(ctx context.Context) probe.ServerHandshake {
	return probe.ServerHandshake{
		ServerLanguage:  "go",
		TLSMode:         s.TLSMode,
		PeerCertificate: certinfo.BriefOf(PeerCertificate(ctx)),
	}
}

func (s *KVServer) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

// PeerCertificate is the client certificate of the TLS connection carrying
// ctx, or nil (plaintext, or no certificate).
func PeerCertificate(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil
	}
	return ti.State.PeerCertificates[0]
}
