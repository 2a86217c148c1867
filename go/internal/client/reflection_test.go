package client

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/soup-rpc/soup-rpc/go/internal/server"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// grpc-go's own reflection client (what grpcurl uses) lists the services of the
// Rust plugin, over go-plugin's AutoMTLS connection, as it lists a Go plugin's:
// go-plugin registers reflection in every plugin since v1.2.
func TestReflectionListsRustPluginServicesLikeGoPlugins(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	rust := filepath.Join(root, "target/release/soup-server")
	if _, err := os.Stat(rust); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it; cargo xtask test runs this after it)", rust)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rustList := listServices(t, exec.Command(rust, "server", "--store", t.TempDir()), false)
	goCmd := exec.Command(self, "-test.run=^TestDebugGoPlugin$")
	goCmd.Env = append(os.Environ(), "SOUP_SERVE_GO_PLUGIN=1", "SOUP_DEBUG_STORE="+t.TempDir())
	goList := listServices(t, goCmd, true)
	t.Logf("Rust plugin (v1): %v; Go plugin (v1alpha): %v", rustList, goList)
	for _, want := range goList {
		found := false
		for _, got := range rustList {
			found = found || got == want
		}
		if !found {
			t.Errorf("the Go plugin lists %s, the Rust plugin does not (Rust: %v)", want, rustList)
		}
	}
}

func listServices(t *testing.T, cmd *exec.Cmd, alpha bool) []string {
	t.Helper()
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  server.Handshake,
		Plugins:          plugin.PluginSet{server.PluginName: &server.KVPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	defer c.Kill()
	rpc, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	conn := rpc.(*plugin.GRPCClient).Conn
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var names []string
	if alpha {
		stream, err := reflectionalpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionalpha.ServerReflectionRequest{MessageRequest: &reflectionalpha.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
	} else {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("%s: reflection listed no service", cmd.Path)
	}
	return names
}
