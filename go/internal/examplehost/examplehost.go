// Package examplehost is what soup-rpc's Go example hosts (cmd/example-hosts/*) add
// to go-plugin's example hosts: AutoMTLS and gRPC broker multiplexing, chosen from the
// environment, which the examples' own main.go files cannot turn on. Everything a
// host does with its plugin comes from the example's published shared package
// (github.com/hashicorp/go-plugin/examples/*/shared); the hosts keep each example's
// command line, plugin command and output.
package examplehost

import (
	"fmt"
	"os"
	"strconv"

	"github.com/hashicorp/go-plugin"
)

const (
	// TLSEnv selects AutoMTLS: "auto" turns it on; "off" or unset leaves the
	// host plaintext, as go-plugin's example hosts are. The Rust example hosts
	// read the same variable for their --tls flag.
	TLSEnv = "SOUP_EXAMPLES_TLS"
	// MultiplexEnv turns on ClientConfig.GRPCBrokerMultiplex (go-plugin's
	// PLUGIN_MULTIPLEX_GRPC) when it parses as true with strconv.ParseBool;
	// unset leaves it off. The Rust example hosts read it for --multiplex.
	MultiplexEnv = "SOUP_EXAMPLES_MULTIPLEX"
)

// Apply sets cfg.AutoMTLS and cfg.GRPCBrokerMultiplex from the environment.
func Apply(cfg *plugin.ClientConfig) error {
	return apply(cfg, os.LookupEnv)
}

func apply(cfg *plugin.ClientConfig, lookup func(string) (string, bool)) error {
	switch tls, _ := lookup(TLSEnv); tls {
	case "auto":
		cfg.AutoMTLS = true
	case "", "off":
		cfg.AutoMTLS = false
	default:
		return fmt.Errorf("%s=%q: want auto or off", TLSEnv, tls)
	}
	if v, ok := lookup(MultiplexEnv); ok && v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want a boolean (1, true, 0, false)", MultiplexEnv, v)
		}
		cfg.GRPCBrokerMultiplex = on
	}
	return nil
}
