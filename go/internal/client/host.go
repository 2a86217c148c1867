package client

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/soup-rpc/soup-rpc/go/internal/report"
	"github.com/soup-rpc/soup-rpc/go/internal/server"
)

// hostConfig is one go-plugin host launch of a KV plugin, shared by
// `soup-go client` and `soup-go bench`.
type hostConfig struct {
	Command      []string
	AutoMTLS     bool
	TLSConfig    *tls.Config // manual TLS; nil for auto (go-plugin fills it in) and off
	Logger       hclog.Logger
	Stderr       io.Writer // the plugin's stdout after the handshake (SyncStdout/SyncStderr)
	StartTimeout time.Duration
	// Versions are the app protocol versions offered (PLUGIN_PROTOCOL_VERSIONS):
	// the KV plugin is registered under each in ClientConfig.VersionedPlugins.
	// Empty: the handshake's version 1 only (ClientConfig.Plugins).
	Versions []int
	// MessageLimit, when positive, is the host's gRPC send and receive limit
	// (ClientConfig.GRPCDialOptions); 0 keeps go-plugin's (math.MaxInt32).
	MessageLimit int
	// OnRunner is called when go-plugin has asked the RunnerFunc for the
	// runner, with the runner and go-plugin's socket dir for this plugin.
	OnRunner func(tr *teeRunner, socketDir string)
}

// newHost is plugin.NewClient (gRPC only, BASIC_PLUGIN=hello v1) with a
// ClientConfig.RunnerFunc that runs hc.Command through a teeRunner. The
// returned config is the one go-plugin fills in (e.g. the AutoMTLS TLSConfig).
func newHost(hc hostConfig) (*plugin.Client, *plugin.ClientConfig) {
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  server.Handshake,
		Plugins:          plugin.PluginSet{server.PluginName: &server.KVPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hc.Logger,
		SyncStdout:       hc.Stderr,
		SyncStderr:       hc.Stderr,
		StartTimeout:     hc.StartTimeout,
		AutoMTLS:         hc.AutoMTLS,
		TLSConfig:        hc.TLSConfig,
		RunnerFunc: func(l hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
			l.Debug("RunnerFunc: go-plugin made a socket dir and sets PLUGIN_UNIX_SOCKET_DIR", "dir", socketDir)
			tr, err := newTeeRunner(l, cmd, hc.Command)
			if err != nil {
				_ = os.RemoveAll(socketDir)
				return nil, err
			}
			if hc.OnRunner != nil {
				hc.OnRunner(tr, socketDir)
			}
			return tr, nil
		},
	}
	if len(hc.Versions) > 0 {
		// With Plugins nil go-plugin does not add the handshake's
		// ProtocolVersion (1) to the offered versions.
		cfg.Plugins = nil
		cfg.VersionedPlugins = make(map[int]plugin.PluginSet, len(hc.Versions))
		for _, v := range hc.Versions {
			cfg.VersionedPlugins[v] = plugin.PluginSet{server.PluginName: &server.KVPlugin{}}
		}
	}
	if hc.MessageLimit > 0 {
		cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(hc.MessageLimit), grpc.MaxCallRecvMsgSize(hc.MessageLimit)))
	}
	return plugin.NewClient(cfg), cfg
}

// safeStart calls Client.Start, turning a go-plugin panic (e.g. a host
// without TLS receiving a certificate in the handshake) into an error.
func safeStart(c *plugin.Client) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("go-plugin panicked in Client.Start: %v", p)
		}
	}()
	_, err = c.Start()
	return err
}

// dispenseKV is Client() + Dispense of the KV plugin. On failure it also
// returns the report stage the failure belongs to.
func dispenseKV(c *plugin.Client) (kvproto.KVClient, string, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, classifyTransport(err, false, report.StageConnect), err
	}
	raw, err := rpc.Dispense(server.PluginName)
	if err != nil {
		return nil, report.StageInternal, err
	}
	kv, ok := raw.(kvproto.KVClient)
	if !ok {
		return nil, report.StageInternal, fmt.Errorf("dispensed %T, not a KV client", raw)
	}
	return kv, "", nil
}

// killAndReap is Client.Kill (Shutdown, 2 s grace, kill), removal of the
// RunnerFunc socket dir, and waiting for the runner to reap the plugin. It
// returns how the plugin ended, or nil when it never started or was not
// reaped in time.
func killAndReap(c *plugin.Client, tr *teeRunner, socketDir string, logger hclog.Logger) *report.PluginExit {
	c.Kill()
	if socketDir != "" {
		// Kill removes the RunnerFunc socket dir only when the plugin was
		// started; when the spawn itself failed it returns early and leaves it.
		_ = os.RemoveAll(socketDir)
	}
	if tr == nil {
		return nil
	}
	if _, started := tr.started(); !started {
		return nil
	}
	select {
	case <-tr.exited:
	case <-time.After(killReserve):
		logger.Warn("plugin not reaped after Kill")
	}
	how, code, sig, ok := tr.exit()
	if !ok {
		return nil
	}
	return &report.PluginExit{How: how, Code: code, Signal: sig}
}
