// Command grpc runs go-plugin's examples/grpc KV client (its published shared
// package) against the plugin `sh -c "$KV_PLUGIN"`, with AutoMTLS and gRPC
// broker multiplexing from SOUP_EXAMPLES_TLS / SOUP_EXAMPLES_MULTIPLEX.
//
//	KV_PROTO=grpc|netrpc KV_PLUGIN=CMD grpc put KEY VALUE | get KEY
//
// As the example's host: errors on stdout as "error: ..." with exit code 1.
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
	"github.com/soup-rpc/soup-rpc/go/internal/examplehost"
)

// errKVProto: KV_PROTO is neither grpc nor netrpc; the message is printed as is.
type errKVProto struct{}

func (errKVProto) Error() string { return "must set KV_PROTO to netrpc or grpc" }

func main() {
	// The plugin's log lines are not for the user.
	log.SetOutput(io.Discard)
	err := run(os.Args[1:])
	switch err.(type) {
	case nil:
		return
	case errKVProto:
		fmt.Println(err)
	default:
		fmt.Printf("error: %+v\n", err)
	}
	os.Exit(1)
}

func run(args []string) error {
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          shared.PluginMap,
		Cmd:              exec.Command("sh", "-c", os.Getenv("KV_PLUGIN")),
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
	names := map[string]string{"grpc": shared.PluginGRPC, "netrpc": shared.PluginNetRPC}
	name, ok := names[os.Getenv("KV_PROTO")]
	if !ok {
		return errKVProto{}
	}
	raw, err := conn.Dispense(name)
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
		return fmt.Errorf("please only use 'get' or 'put', given: %q", args)
	}
}
