// Command soup-go is the Go peer of the soup-rpc conformance matrix, built on
// hashicorp/go-plugin and grpc-go (docs/peer-contract.md).
//
//	soup-go server [--tls auto|manual|off] [--key match|KEY] [--transport tcp|unix]
//	               [--tls-cert F --tls-key F --tls-ca F] [--store DIR]
//	soup-go client --tls auto|manual|off --key KEY --transport tcp|unix
//	               [--tls-cert F --tls-key F --tls-ca F] [--timeout SECS]
//	               [--versions LIST] [--script SCRIPT] -- SERVER-COMMAND...
//	soup-go bench [--tls auto|off] [--key ec-p521] [--transport unix] [--launches N] [--gets N]
//	              [--concurrency N] [--duration SECS] [--timeout SECS] -- SERVER-COMMAND...
//	soup-go capabilities
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/soup-rpc/soup-rpc/go/internal/capabilities"
	"github.com/soup-rpc/soup-rpc/go/internal/server"
)

const usage = `usage:
  soup-go server [--tls auto|manual|off] [--key match|KEY] [--transport tcp|unix]
                 [--tls-cert F --tls-key F --tls-ca F] [--store DIR]
  soup-go client --tls auto|manual|off --key KEY --transport tcp|unix
                 [--tls-cert F --tls-key F --tls-ca F] [--timeout SECS]
                 [--versions LIST] [--script SCRIPT] -- SERVER-COMMAND...
  soup-go bench [--tls auto|off] [--key ec-p521] [--transport unix] [--launches N] [--gets N]
                [--concurrency N] [--duration SECS] [--timeout SECS] -- SERVER-COMMAND...
  soup-go capabilities`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		o, err := server.ParseArgs(args[1:], os.Stderr)
		if err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "soup-go server:", err)
			}
			return 2
		}
		logger := server.NewLogger()
		if err := server.Run(o, logger); err != nil {
			logger.Error("soup-go server failed", "error", err)
			return 1
		}
		return 0
	case "client":
		return clientMain(args[1:])
	case "bench":
		return benchMain(args[1:])
	case "capabilities":
		if len(args) > 1 {
			fmt.Fprintln(os.Stderr, "soup-go capabilities takes no arguments")
			return 2
		}
		b, err := capabilities.JSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Stdout.Write(b)
		return 0
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "soup-go: unknown subcommand %q\n%s\n", args[0], usage)
		return 2
	}
}
