// Command bidirectional runs go-plugin's examples/bidirectional Counter client
// (its published shared package, which serves the host's AddHelper to the
// plugin through the GRPCBroker) against `sh -c "$COUNTER_PLUGIN"`, with
// AutoMTLS and gRPC broker multiplexing from SOUP_EXAMPLES_TLS /
// SOUP_EXAMPLES_MULTIPLEX.
//
//	COUNTER_PLUGIN=CMD bidirectional put KEY N | get KEY
//
// As the example's host: get prints the count; errors on stdout as "Error: ..."
// with exit code 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
	"github.com/soup-rpc/soup-rpc/go/internal/examplehost"
)

// adder is the host's shared.AddHelper, which the plugin calls back.
type adder struct{}

func (adder) Sum(a, b int64) (int64, error) { return a + b, nil }

func main() {
	log.SetOutput(io.Discard)
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("Error:", err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          shared.PluginMap,
		Cmd:              exec.Command("sh", "-c", os.Getenv("COUNTER_PLUGIN")),
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
	raw, err := conn.Dispense("counter")
	if err != nil {
		return err
	}
	counter := raw.(shared.Counter)

	switch {
	case len(args) == 2 && args[0] == "get":
		n, err := counter.Get(args[1])
		if err != nil {
			return err
		}
		fmt.Println(n)
		return nil
	case len(args) == 3 && args[0] == "put":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		return counter.Put(args[1], int64(n), adder{})
	default:
		return errors.New("Please only use 'get' or 'put'")
	}
}
