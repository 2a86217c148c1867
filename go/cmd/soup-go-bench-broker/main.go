// Command soup-go-bench-broker times go-plugin's brokered round trip
// (examples/bidirectional's Counter.Put → AddHelper.Sum through the
// GRPCBroker) with go-plugin on both sides; benchmark only, for `cargo xtask
// bench` (package brokerbench says what is measured).
//
//	soup-go-bench-broker host [--tls auto|off] [--multiplex] [--steady-calls N] [--steady-warmup N]
//	                          [--per-call-calls N] [--per-call-warmup N] [--timeout SECS] -- PLUGIN-COMMAND...
//	soup-go-bench-broker plugin
package main

import (
	"fmt"
	"os"

	"github.com/soup-rpc/soup-rpc/go/internal/brokerbench"
)

const usage = `usage:
  soup-go-bench-broker host [--tls auto|off] [--multiplex] [--steady-calls N] [--steady-warmup N]
                            [--per-call-calls N] [--per-call-warmup N] [--timeout SECS] -- PLUGIN-COMMAND...
  soup-go-bench-broker plugin`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "host":
		os.Exit(brokerbench.HostMain(os.Args[2:], os.Stdout, os.Stderr))
	case "plugin":
		os.Exit(brokerbench.PluginMain())
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
