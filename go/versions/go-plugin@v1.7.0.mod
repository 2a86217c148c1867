// soup-go built on hashicorp/go-plugin v1.7.0 with the grpc-go its go.mod requires
// (v1.61.0): one release of the Go peer for the matrix's version axis
// (xtask/versions.toml; `cargo xtask peers --versions all` builds it with
// `go build -modfile=versions/go-plugin@v1.7.0.mod`). Versions here are minimal
// version selection's answer for these requirements; never edit by hand.
module github.com/soup-rpc/soup-rpc/go

go 1.26.0

replace github.com/soup-rpc/soup-rpc/peer-contract => ../peer-contract

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/hashicorp/go-plugin v1.7.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/soup-rpc/soup-rpc/peer-contract v0.0.0
	google.golang.org/grpc v1.61.0
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/oklog/run v1.1.0 // indirect
	golang.org/x/net v0.38.0 // indirect
	golang.org/x/sys v0.31.0 // indirect
	golang.org/x/text v0.23.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20231106174013-bbf56f31fb17 // indirect
	google.golang.org/protobuf v1.36.6 // indirect
)
