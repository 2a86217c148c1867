// Package examples checks soup-rpc's Rust ports of go-plugin's examples from the
// Go side, with go-plugin's own client code for them (the examples' published
// shared packages) in configurations the examples' fixed main.go cannot reach.
package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
)

type adder struct{}

func (adder) Sum(a, b int64) (int64, error) { return a + b, nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// go-plugin's bidirectional Counter client hosting the Rust plugin, with
// AutoMTLS and broker multiplexing on and off: the host's AddHelper is served
// through the broker (over TLS with the same pinned certificates, go-plugin#109;
// as a yamux stream after a knock when multiplexed) and the plugin dials it.
func TestGoHostBrokersAddHelperToRustPlugin(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	bin := filepath.Join(root, "target/release/bidirectional-plugin")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it; cargo xtask test runs this after it)", bin)
	}
	for _, tc := range []struct {
		name      string
		autoMTLS  bool
		multiplex bool
	}{
		{"auto", true, false}, {"off", false, false},
		{"auto+mux", true, true}, {"off+mux", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) { brokerRoundTrip(t, bin, tc.autoMTLS, tc.multiplex) })
	}
}

func brokerRoundTrip(t *testing.T, bin string, autoMTLS, multiplex bool) {
	dir := t.TempDir()
	var logs syncBuffer
	cmd := exec.Command(bin)
	cmd.Dir = dir
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:     shared.Handshake,
		Plugins:             shared.PluginMap,
		Cmd:                 cmd,
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:            autoMTLS,
		GRPCBrokerMultiplex: multiplex,
		Logger:              hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, logs.String())
	}
	raw, err := rpc.Dispense("counter")
	if err != nil {
		t.Fatal(err)
	}
	counter := raw.(shared.Counter)
	for _, n := range []int64{5, 37} {
		if err := counter.Put("answer", n, adder{}); err != nil {
			t.Fatalf("put %d: %v\n%s", n, err, logs.String())
		}
	}
	got, err := counter.Get("answer")
	if err != nil || got != 42 {
		t.Fatalf("get = %d, %v; want 42", got, err)
	}
	client.Kill()
	want := "tls=" + strconv.FormatBool(autoMTLS)
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("the plugin did not report serving %s:\n%s", want, logs.String())
	}
	if multiplex && !strings.Contains(logs.String(), "multiplexing=true") {
		t.Fatalf("the plugin did not report multiplexing:\n%s", logs.String())
	}
}
