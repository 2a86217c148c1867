// soup-go built on hashicorp/go-plugin v1.6.3 with the grpc-go its go.mod requires
// (v1.58.3): one release of the Go peer for the matrix's version axis
// (xtask/versions.toml; `cargo xtask peers --versions all` builds it with
// `go build -modfile=versions/go-plugin@v1.6.3.mod`). Versions here are minimal
// version selection's answer for these requirements; never edit by hand.
module github.com/soup-rpc/soup-rpc/go

go 1.26.0

replace github.com/soup-rpc/soup-rpc/peer-contract => ../peer-contract

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/hashicorp/go-plugin v1.6.3
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/soup-rpc/soup-rpc/peer-contract v0.0.0
	google.golang.org/grpc v1.58.3
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.3 // indirect
	github.com/hashicorp/yamux v0.1.1 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/oklog/run v1.0.0 // indirect
	golang.org/x/net v0.34.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
	golang.org/x/text v0.21.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20230711160842-782d3b101e98 // indirect
	google.golang.org/protobuf v1.36.1 // indirect
)
