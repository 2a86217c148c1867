package client

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"github.com/soup-rpc/soup-rpc/go/internal/server"
)

type reattachJSON struct {
	Protocol        string
	ProtocolVersion int
	Pid             int
	Test            bool
	Addr            struct{ Network, String string }
}

// startDebug runs `bin args...`, which prints a TF_REATTACH_PROVIDERS line, and
// returns the process and the one reattach config of that line.
func startDebug(t *testing.T, bin string, args ...string) (*exec.Cmd, reattachJSON) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "TF_REATTACH_PROVIDERS='")
		if !ok {
			continue
		}
		var m map[string]reattachJSON
		if err := json.Unmarshal([]byte(strings.TrimSuffix(v, "'")), &m); err != nil {
			t.Fatalf("TF_REATTACH_PROVIDERS line does not parse: %v: %s", err, v)
		}
		for _, rc := range m {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd, rc
		}
	}
	t.Fatalf("%s printed no TF_REATTACH_PROVIDERS line", bin)
	return nil, reattachJSON{}
}

// go-plugin's client with a ReattachConfig, as Terraform's TF_REATTACH_PROVIDERS
// workflow uses it, attached twice to `soup-server server --debug`: the
// test-mode plugin outlives each host and serves the next, then stops on SIGTERM.
func TestGoHostReattachesToRustDebugPlugin(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	bin := filepath.Join(root, "target/release/soup-server")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it; cargo xtask test runs this after it)", bin)
	}
	cmd, rc := startDebug(t, bin, "server", "--debug", "--store", t.TempDir())
	if rc.Pid != cmd.Process.Pid || !rc.Test || rc.Protocol != "grpc" {
		t.Fatalf("reattach config %+v does not describe pid %d in test mode", rc, cmd.Process.Pid)
	}
	var addr net.Addr = &net.UnixAddr{Name: rc.Addr.String, Net: "unix"}
	if rc.Addr.Network == "tcp" {
		addr, _ = net.ResolveTCPAddr("tcp", rc.Addr.String)
	}
	for i, value := range []string{"first", "second"} {
		c := plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  server.Handshake,
			Plugins:          plugin.PluginSet{server.PluginName: &server.KVPlugin{}},
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			Reattach: &plugin.ReattachConfig{
				Protocol: plugin.Protocol(rc.Protocol), ProtocolVersion: rc.ProtocolVersion,
				Addr: addr, Pid: rc.Pid, Test: rc.Test,
			},
			Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
		})
		kv, _, err := dispenseKV(c)
		if err != nil {
			t.Fatalf("attach %d: %v", i+1, err)
		}
		if _, err := kv.Put(context.Background(), &kvproto.PutRequest{Key: "k", Value: []byte(value)}); err != nil {
			t.Fatal(err)
		}
		got, err := kv.Get(context.Background(), &kvproto.GetRequest{Key: "k"})
		if err != nil || string(got.Value) != value {
			t.Fatalf("get = %q, %v; want %q", got.GetValue(), err, value)
		}
		c.Kill()
		if !alive(cmd.Process.Pid) {
			t.Fatalf("the test-mode plugin exited when host %d was done", i+1)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("soup-server --debug exited %v after SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("soup-server --debug still running 5 s after SIGTERM")
	}
}

// The Rust host (`soup kv ... --reattach`) attached to the Go plugin served in
// go-plugin's own test mode (soup-go server --debug): twice, leaving it running.
func TestRustHostReattachesToGoTestModePlugin(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	soup := filepath.Join(root, "target/release/soup")
	if _, err := os.Stat(soup); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it; cargo xtask test runs this after it)", soup)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, rc := startDebugGo(t, self)
	j, _ := json.Marshal(map[string]reattachJSON{"go": rc})
	put := exec.Command(soup, "kv", "put", "k", "from-rust", "--reattach", string(j))
	if out, err := put.CombinedOutput(); err != nil {
		t.Fatalf("soup kv put --reattach: %v\n%s", err, out)
	}
	get := exec.Command(soup, "kv", "get", "k", "--reattach", string(j))
	out, err := get.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "from-rust") {
		t.Fatalf("soup kv get --reattach = %q, %v", out, err)
	}
	if !alive(cmd.Process.Pid) {
		t.Fatal("the Go test-mode plugin exited when the Rust host was done")
	}
	// A dead pid is refused with a message naming it.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	out, err = exec.Command(soup, "kv", "get", "k", "--reattach", string(j)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not running") {
		t.Fatalf("attach to a stopped plugin = %q, %v; want an error saying the pid is not running", out, err)
	}
}

// startDebugGo runs this test binary as TestDebugGoPlugin: go-plugin's test mode.
func startDebugGo(t *testing.T, self string) (*exec.Cmd, reattachJSON) {
	t.Helper()
	os.Setenv("SOUP_DEBUG_STORE", t.TempDir())
	os.Setenv("SOUP_DEBUG_PLUGIN", "1")
	defer os.Unsetenv("SOUP_DEBUG_PLUGIN")
	return startDebug(t, self, "-test.run=^TestDebugGoPlugin$")
}

// TestDebugGoPlugin serves soup-go's KV plugin, in go-plugin's test mode or as a
// plain plugin; it does nothing unless run by the tests above.
func TestDebugGoPlugin(t *testing.T) {
	args := []string{"--store", os.Getenv("SOUP_DEBUG_STORE")}
	switch {
	case os.Getenv("SOUP_DEBUG_PLUGIN") != "":
		args = append(args, "--debug", "--tls", "off")
	case os.Getenv("SOUP_SERVE_GO_PLUGIN") != "":
		// As a plain go-plugin plugin, for a host that launches this binary.
	default:
		return
	}
	o, err := server.ParseArgs(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Run(o, hclog.New(&hclog.LoggerOptions{Output: io.Discard})); err != nil {
		t.Fatal(err)
	}
}
