// Command streaming runs go-plugin's examples/streaming client (its published
// shared package) against ./plugin/streamer, with AutoMTLS and gRPC broker
// multiplexing from SOUP_EXAMPLES_TLS / SOUP_EXAMPLES_MULTIPLEX: it configures
// PATH and a chunk size of 10, streams "Lorem ipsum dolor sit amet" to the
// plugin and reads it back under a 1000-byte gRPC message limit, logging
// (hclog JSON, trace level, on stderr) "received N bytes".
//
//	streaming PATH
//
// As the example's host: errors through log.Fatal (stderr, exit code 1).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/streaming/shared"
	"github.com/soup-rpc/soup-rpc/go/internal/examplehost"
	"google.golang.org/grpc"
)

const (
	messageSizeLimit = 1000
	chunkSize        = 10
	payload          = "Lorem ipsum dolor sit amet"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("expected path to file as an argument")
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	if err := run(logger, os.Args[1]); err != nil {
		log.Fatal(err)
	}
}

func run(logger hclog.Logger, path string) error {
	cfg := &plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "BASIC_PLUGIN",
			MagicCookieValue: "hello",
		},
		Plugins:          map[string]plugin.Plugin{"streamer": &shared.StreamerPlugin{}},
		Cmd:              exec.Command("./plugin/streamer"),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(messageSizeLimit),
				grpc.MaxCallSendMsgSize(messageSizeLimit),
			),
		},
	}
	if err := examplehost.Apply(cfg); err != nil {
		return err
	}
	client := plugin.NewClient(cfg)
	defer client.Kill()
	logger.Debug("launching a client")

	conn, err := client.Client()
	if err != nil {
		return err
	}
	raw, err := conn.Dispense("streamer")
	if err != nil {
		return err
	}
	streamer := raw.(shared.Streamer)

	ctx := context.Background()
	if err := streamer.Configure(ctx, path, chunkSize); err != nil {
		return err
	}
	if err := streamer.Write(ctx, []byte(payload)); err != nil {
		return err
	}
	logger.Debug("writing finished")
	got, err := streamer.Read(ctx)
	if err != nil {
		return err
	}
	logger.Debug(fmt.Sprintf("received %d bytes", len(got)), "bytes", string(got))
	return nil
}
