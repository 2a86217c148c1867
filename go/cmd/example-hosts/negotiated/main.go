// Command negotiated runs go-plugin's examples/negotiated client (the
// published examples/grpc/shared package, through VersionedPlugins) against
// ./kv-plugin, with AutoMTLS and gRPC broker multiplexing from
// SOUP_EXAMPLES_TLS / SOUP_EXAMPLES_MULTIPLEX. KV_PROTO=netrpc offers protocol
// version 2 (net/rpc), KV_PROTO=grpc version 3 (gRPC).
//
//	KV_PROTO=grpc|netrpc negotiated put KEY VALUE | get KEY
//
// As the example's host: errors on stdout as "Error: ..." with exit code 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
	"github.com/soup-rpc/soup-rpc/go/internal/examplehost"
)

// The example's versions: 2 over net/rpc, 3 over gRPC.
var versions = map[string]int{"netrpc": 2, "grpc": 3}

func main() {
	log.SetOutput(io.Discard)
	// Checked before anything is launched, as in the example.
	version, ok := versions[os.Getenv("KV_PROTO")]
	if !ok {
		fmt.Println("must set KV_PROTO to netrpc or grpc")
		os.Exit(1)
	}
	if err := run(version, os.Args[1:]); err != nil {
		fmt.Println("Error:", err.Error())
		os.Exit(1)
	}
}

func run(version int, args []string) error {
	var kvPlugin plugin.Plugin = &shared.KVGRPCPlugin{}
	if version == 2 {
		kvPlugin = &shared.KVPlugin{}
	}
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{version: {"kv": kvPlugin}},
		Cmd:              exec.Command("./kv-plugin"),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC, plugin.ProtocolGRPC},
	}
	if err := examplehost.Apply(cfg); err != nil {
		return err
	}
	client := plugin.NewClient(cfg)
	defer client.Kill()

	conn, err := client.Client()
	if err != nil {
		return err
	}
	raw, err := conn.Dispense("kv")
	if err != nil {
		return err
	}
	kv := raw.(shared.KV)

	switch {
	case len(args) == 2 && args[0] == "get":
		value, err := kv.Get(args[1])
		if err != nil {
			return err
		}
		fmt.Println(string(value))
		return nil
	case len(args) == 3 && args[0] == "put":
		return kv.Put(args[1], []byte(args[2]))
	default:
		return errors.New("Please only use 'get' or 'put'")
	}
}
