// Package client is `soup-go client`: a go-plugin host (plugin.NewClient)
// that launches a KV plugin, runs the contract's KV script and prints one
// JSON report.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/keys"
	"github.com/soup-rpc/soup-rpc/go/internal/report"
	"github.com/soup-rpc/soup-rpc/go/internal/version"
)

// Exit codes of the contract.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// DefaultTimeout bounds the whole run.
const DefaultTimeout = 20 * time.Second

// killReserve is how long after the timeout the watchdog waits for the
// killed plugin to be reaped before printing the report anyway.
const killReserve = 5 * time.Second

// Options are the parsed flags of `soup-go client`.
type Options struct {
	TLS       string
	Key       string
	Transport string
	CertFile  string
	KeyFile   string
	CAFile    string
	Timeout   time.Duration
	// Versions are the app protocol versions the host offers (--versions).
	Versions []int
	// Script is the script to run (--script).
	Script  ScriptSpec
	Command []string
}

// Usage is the synopsis of `soup-go client`.
const Usage = `soup-go client --tls auto|manual|off --key KEY --transport tcp|unix
               [--tls-cert F --tls-key F --tls-ca F] [--timeout SECS]
               [--versions LIST] [--script SCRIPT] -- SERVER-COMMAND...`

// ParseVersions parses --versions: a comma list of non-negative decimal
// app protocol versions, at least one.
func ParseVersions(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("empty list")
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		if !decimal.MatchString(f) {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", f, err)
		}
		out = append(out, int(v))
	}
	return out, nil
}

var errUsage = errors.New("usage")

// ParseArgs parses `client` flags; everything after `--` is the server command.
func ParseArgs(args []string, stderr io.Writer) (*Options, error) {
	fs := flag.NewFlagSet("soup-go client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Options{}
	var timeout float64
	var versions, script string
	fs.StringVar(&o.TLS, "tls", "auto", "auto|manual|off")
	fs.StringVar(&o.Key, "key", keys.ECP256, "ec-p256|ec-p384|ec-p521|rsa-2048|rsa-4096")
	fs.StringVar(&o.Transport, "transport", "unix", "tcp|unix: what the server was asked for")
	fs.StringVar(&o.CertFile, "tls-cert", "", "PEM leaf certificate (manual)")
	fs.StringVar(&o.KeyFile, "tls-key", "", "PEM PKCS#8 private key (manual)")
	fs.StringVar(&o.CAFile, "tls-ca", "", "PEM CA that signed the server's certificate (manual)")
	fs.Float64Var(&timeout, "timeout", DefaultTimeout.Seconds(), "seconds bounding the whole run")
	fs.StringVar(&versions, "versions", "1", "comma list of app protocol versions the host offers (PLUGIN_PROTOCOL_VERSIONS)")
	fs.StringVar(&script, "script", ScriptKV, "kv|get|hold|put-stream:N|get-stream:N|put-large:BYTES")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: "+Usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	o.Command = fs.Args()
	if len(o.Command) == 0 {
		return nil, fmt.Errorf("%w: no server command (give it after --)", errUsage)
	}
	switch o.TLS {
	case "auto", "manual", "off":
	default:
		return nil, fmt.Errorf("%w: --tls must be auto, manual or off, not %q", errUsage, o.TLS)
	}
	k, err := keys.Parse(o.Key, false)
	if err != nil {
		return nil, fmt.Errorf("%w: --key: %v", errUsage, err)
	}
	o.Key = k
	switch o.Transport {
	case "tcp", "unix":
	default:
		return nil, fmt.Errorf("%w: --transport must be tcp or unix, not %q", errUsage, o.Transport)
	}
	if o.TLS == "manual" && (o.CertFile == "" || o.KeyFile == "" || o.CAFile == "") {
		return nil, fmt.Errorf("%w: --tls manual needs --tls-cert, --tls-key and --tls-ca", errUsage)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	o.Timeout = time.Duration(timeout * float64(time.Second))
	if o.Versions, err = ParseVersions(versions); err != nil {
		return nil, fmt.Errorf("%w: --versions: %v", errUsage, err)
	}
	if o.Script, err = ParseScript(script); err != nil {
		return nil, fmt.Errorf("%w: --script: %v", errUsage, err)
	}
	return o, nil
}

// Main runs `soup-go client` and returns the exit code. stdin is only read
// by the hold script (until EOF).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	begin := time.Now()
	o, err := ParseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "soup-go client:", err)
		}
		return ExitUsage
	}
	r := newRun(o, begin, stdin, stderr)
	r.execute()
	rep := r.finish()
	b, err := report.Marshal(rep)
	if err != nil {
		fmt.Fprintln(stderr, "soup-go client: encoding report:", err)
		return ExitFailure
	}
	if _, err := stdout.Write(b); err != nil {
		return ExitFailure
	}
	if rep.OK {
		return ExitOK
	}
	return ExitFailure
}

// run is one client run; the mutex guards the report, which the watchdog
// may read while the worker still writes.
type run struct {
	o      *Options
	begin  time.Time
	logger hclog.Logger
	stdin  io.Reader
	stderr io.Writer

	mu               sync.Mutex
	rep              report.Report
	runner           *teeRunner
	socketDir        string
	firstRPCDone     bool
	handshakeToFirst *float64
	killing          bool
}

func newRun(o *Options, begin time.Time, stdin io.Reader, stderr io.Writer) *run {
	level := hclog.LevelFromString(os.Getenv("SOUP_GO_LOG"))
	if level == hclog.NoLevel {
		level = hclog.Debug
	}
	r := &run{
		o:      o,
		begin:  begin,
		stdin:  stdin,
		stderr: stderr,
		logger: hclog.New(&hclog.LoggerOptions{
			Name:   "soup-go.client",
			Level:  level,
			Output: stderr,
		}),
	}
	r.rep = report.Report{
		Schema: report.Schema,
		Peer:   report.Peer{Language: "go", Implementation: version.Implementation()},
		Requested: report.Requested{
			TLS: o.TLS, Key: o.Key, Transport: o.Transport, ServerCommand: o.Command,
			Versions: o.Versions, Script: o.Script.String(),
		},
		Steps: []report.Step{},
	}
	return r
}

// setError records the first error only.
func (r *run) setError(stage, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep.Error == nil {
		r.rep.Error = &report.Error{Stage: stage, Message: msg}
	}
}

func (r *run) hasError() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep.Error != nil
}

// execute runs the worker under the --timeout watchdog.
func (r *run) execute() {
	if r.o.TLS == "auto" && r.o.Key != keys.ECP521 {
		r.setError(report.StageUnsupported, fmt.Sprintf(
			"go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate; it cannot make %s", r.o.Key))
		return
	}
	if r.o.Script.Kind == ScriptPutLarge && r.o.Script.N > MaxLarge {
		r.setError(report.StageUnsupported, fmt.Sprintf(
			"put-large:%d: grpc-go's message size limits are ints and protobuf messages stay under 2 GiB; this host sends at most %d bytes",
			r.o.Script.N, MaxLarge))
		return
	}
	deadline := r.begin.Add(r.o.Timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.setError(report.StageInternal, fmt.Sprintf("panic: %v", p))
			}
		}()
		r.work(ctx)
	}()
	select {
	case <-done:
		return
	case <-time.After(time.Until(deadline)):
	}
	r.setError(report.StageTimeout, fmt.Sprintf("the run did not finish within --timeout %s", r.o.Timeout))
	r.logger.Error("timeout: killing the plugin", "timeout", r.o.Timeout)
	cancel()
	r.mu.Lock()
	tr := r.runner
	r.mu.Unlock()
	if tr != nil {
		tr.forceKill()
	}
	select {
	case <-done:
	case <-time.After(killReserve):
		r.logger.Error("the host did not finish after the plugin was killed; reporting anyway")
	}
}

func (r *run) work(ctx context.Context) {
	var tlsConfig *tls.Config
	var clientLeaf []byte
	if r.o.TLS == "manual" {
		cfg, leaf, err := manualTLS(r.o)
		if err != nil {
			r.setError(report.StageTLS, err.Error())
			return
		}
		tlsConfig, clientLeaf = cfg, leaf
		if info, err := certinfo.DescribeDER(leaf); err == nil && info.KeyType != r.o.Key {
			r.logger.Warn("--key differs from the key of --tls-cert; presenting the certificate as given",
				"requested", r.o.Key, "certificate", info.KeyType)
		}
	}

	deadline, _ := ctx.Deadline()
	c, cfg := newHost(hostConfig{
		Command:   r.o.Command,
		AutoMTLS:  r.o.TLS == "auto",
		TLSConfig: tlsConfig,
		Logger:    r.logger,
		Stderr:    r.stderr,
		// Under the run's bound, so a plugin that never prints its handshake
		// gets go-plugin's own "timeout while waiting for plugin to start".
		StartTimeout: time.Until(deadline) * 3 / 4,
		Versions:     r.o.Versions,
		MessageLimit: r.o.Script.MessageLimit(),
		OnRunner: func(tr *teeRunner, socketDir string) {
			r.mu.Lock()
			r.runner = tr
			r.socketDir = socketDir
			r.mu.Unlock()
		},
	})
	defer r.shutdown(c)

	if err := safeStart(c); err != nil {
		r.recordHandshake()
		r.setError(r.startStage(err), err.Error())
		return
	}
	r.recordHandshake()

	if r.o.TLS == "auto" && cfg.TLSConfig != nil && len(cfg.TLSConfig.Certificates) > 0 {
		// go-plugin filled in the AutoMTLS config it made for us.
		clientLeaf = cfg.TLSConfig.Certificates[0].Certificate[0]
	}
	if clientLeaf != nil {
		if info, err := certinfo.DescribeDER(clientLeaf); err == nil {
			r.mu.Lock()
			r.rep.Observed.ClientCertificate = info
			r.mu.Unlock()
		}
	}

	kv, stage, err := dispenseKV(c)
	if err != nil {
		r.setError(stage, err.Error())
		return
	}
	r.script(ctx, kv)
	if r.o.Script.Kind == ScriptHold {
		r.hold(ctx)
	}
}

func (r *run) startStage(err error) string {
	r.mu.Lock()
	tr := r.runner
	r.mu.Unlock()
	if tr == nil {
		return report.StageSpawn
	}
	if _, ok := tr.started(); !ok {
		return report.StageSpawn
	}
	if strings.Contains(err.Error(), "timeout while waiting for plugin to start") {
		return report.StageTimeout
	}
	return report.StageHandshake
}

func (r *run) recordHandshake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runner == nil {
		return
	}
	line, at, ok := r.runner.stdout.First()
	if !ok {
		return
	}
	r.rep.Observed.HandshakeLine = &line
	if parts := strings.Split(strings.TrimSpace(line), "|"); len(parts) >= 3 {
		n := parts[2]
		r.rep.Observed.Network = &n
	}
	if spawn, ok := r.runner.started(); ok {
		ms := msSince(spawn, at)
		r.rep.Timings.SpawnToHandshakeMs = &ms
	}
}

// shutdown is Client.Kill (Shutdown, 2 s grace, kill) plus the exit record.
func (r *run) shutdown(c *plugin.Client) {
	r.mu.Lock()
	r.killing = true
	tr, dir := r.runner, r.socketDir
	r.mu.Unlock()
	exit := killAndReap(c, tr, dir, r.logger)
	if exit == nil {
		return
	}
	how, code, sig := exit.How, exit.Code, exit.Signal
	r.mu.Lock()
	r.rep.PluginExit = exit
	r.mu.Unlock()
	switch {
	case how == "killed":
		r.setError(report.StageShutdown, "the plugin did not exit within 2 s of GRPCController.Shutdown and was killed")
	case how == "signaled":
		r.setError(report.StageShutdown, fmt.Sprintf("the plugin died of signal %d", *sig))
	case how == "exited" && *code != 0:
		r.setError(report.StageShutdown, fmt.Sprintf("the plugin exited with status %d", *code))
	}
}

// finish completes and returns the report.
func (r *run) finish() *report.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Steps = append([]report.Step{}, r.rep.Steps...)
	rep.Timings.HandshakeToFirstRPCMs = r.handshakeToFirst
	rep.Timings.TotalMs = msSince(r.begin, time.Now())
	if rep.Error != nil && r.runner != nil && rep.Error.Stage != report.StageUnsupported {
		rep.Error.StderrTail = r.runner.stderr.Tail()
	}
	ok := rep.Error == nil && len(rep.Steps) > 0
	for _, s := range rep.Steps {
		ok = ok && s.OK
	}
	rep.OK = ok
	return &rep
}

func msSince(a, b time.Time) float64 {
	return float64(b.Sub(a).Microseconds()) / 1000
}

func manualTLS(o *Options) (*tls.Config, []byte, error) {
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
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
		RootCAs:      pool,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS12,
	}, pair.Certificate[0], nil
}

// recordPeer fills observed.tls and server_certificate from the connection
// that carried an RPC.
func (r *run) recordPeer(p *peer.Peer) {
	if p == nil || p.AuthInfo == nil {
		return
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep.Observed.TLS != nil {
		return
	}
	v := tlsVersionName(ti.State.Version)
	cs := tls.CipherSuiteName(ti.State.CipherSuite)
	r.rep.Observed.TLS = &report.TLS{Version: &v, CipherSuite: &cs}
	if len(ti.State.PeerCertificates) > 0 {
		r.rep.Observed.ServerCertificate = certinfo.Describe(ti.State.PeerCertificates[0])
	}
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1.0"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

// StatusName is the canonical gRPC code name (OK, NOT_FOUND, ...).
func StatusName(c codes.Code) string {
	names := [...]string{
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	}
	if int(c) < len(names) {
		return names[c]
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// classifyTransport names the stage of a transport-level failure.
func classifyTransport(err error, connected bool, fallback string) string {
	if code := status.Code(err); code == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return report.StageTimeout
	}
	if connected {
		return report.StageRPC
	}
	m := strings.ToLower(err.Error())
	for _, s := range []string{"tls:", "x509:", "certificate", "handshake failed", "remote error"} {
		if strings.Contains(m, s) {
			return report.StageTLS
		}
	}
	return fallback
}

// isTransportFailure: the RPC never reached the KV service.
func isTransportFailure(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}
