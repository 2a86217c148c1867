module github.com/soup-rpc/soup-rpc/go

go 1.26.0

// The peer contract's data (KV script, key types), shared with the Rust and
// Python peers: a module of its own at the repository root, so it can embed them.
replace github.com/soup-rpc/soup-rpc/peer-contract => ../peer-contract

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/hashicorp/go-plugin v1.8.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/soup-rpc/soup-rpc/peer-contract v0.0.0
	google.golang.org/grpc v1.85.0
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/oklog/run v1.1.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

tool (
	github.com/hashicorp/go-plugin/examples/bidirectional
	github.com/hashicorp/go-plugin/examples/bidirectional/plugin-go-grpc
	github.com/hashicorp/go-plugin/examples/grpc
	github.com/hashicorp/go-plugin/examples/grpc/plugin-go-grpc
	github.com/hashicorp/go-plugin/examples/negotiated
	github.com/hashicorp/go-plugin/examples/negotiated/plugin-go
	github.com/hashicorp/go-plugin/examples/streaming
	github.com/hashicorp/go-plugin/examples/streaming/plugin
)
