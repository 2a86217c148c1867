package examples

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// A go-plugin host's SyncStdout/SyncStderr receive what a Rust plugin prints on
// stdout after its handshake and what it sends as stderr, through GRPCStdio.
func TestGoHostSyncStdioReceivesRustPluginOutput(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	bin := filepath.Join(root, "target/debug/stdio-plugin")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built (cargo test --workspace builds it; cargo xtask test runs this after it)", bin)
	}
	var stdout, stderr syncBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"},
		Plugins:          plugin.PluginSet{},
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SyncStdout:       &stdout,
		SyncStderr:       &stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	defer client.Kill()
	if _, err := client.Client(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !(strings.Contains(stdout.String(), "plugin stdout line") && strings.Contains(stderr.String(), "plugin stderr line")) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: SyncStdout %q, SyncStderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(stderr.String(), "@level") {
		t.Fatalf("hclog lines leaked into the stdio stream: %q", stderr.String())
	}
}
