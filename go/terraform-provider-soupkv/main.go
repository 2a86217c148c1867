// Command terraform-provider-soupkv is a small Terraform provider built with HashiCorp's
// terraform-plugin-framework. soup-rpc uses it as a real-world go-plugin peer: `soup probe`
// reads its schema over tfplugin6 (or tfplugin5 with -protocol5).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/soup-rpc/soup-rpc/go/terraform-provider-soupkv/internal/provider"
)

// version is set at build time with -ldflags "-X main.version=..." by release builds.
var version = "0.1.0"

func main() {
	var debug, protocol5 bool
	flag.BoolVar(&debug, "debug", false, "run in debug mode: print TF_REATTACH_PROVIDERS and serve until interrupted")
	flag.BoolVar(&protocol5, "protocol5", false, "serve tfplugin5 instead of tfplugin6")
	flag.Parse()

	proto := 6
	if protocol5 {
		proto = 5
	}
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address:         "registry.terraform.io/soup-rpc/soupkv",
		Debug:           debug,
		ProtocolVersion: proto,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
