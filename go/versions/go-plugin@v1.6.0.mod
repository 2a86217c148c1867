// soup-go built on hashicorp/go-plugin v1.6.0 with the grpc-go its go.mod requires
// (v1.38.0): one release of the Go peer for the matrix's version axis
// (xtask/versions.toml; `cargo xtask peers --versions all` builds it with
// `go build -modfile=versions/go-plugin@v1.6.0.mod`). Versions here are minimal
// version selection's answer for these requirements; never edit by hand.
module github.com/soup-rpc/soup-rpc/go

go 1.26.0

replace github.com/soup-rpc/soup-rpc/peer-contract => ../peer-contract

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/hashicorp/go-plugin v1.6.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/soup-rpc/soup-rpc/peer-contract v0.0.0
	google.golang.org/grpc v1.38.0
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.0 // indirect
	github.com/hashicorp/yamux v0.1.1 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.14 // indirect
	github.com/mitchellh/go-testing-interface v0.0.0-20171004221916-a61a99592b77 // indirect
	github.com/oklog/run v1.0.0 // indirect
	golang.org/x/net v0.17.0 // indirect
	golang.org/x/sys v0.13.0 // indirect
	golang.org/x/text v0.14.0 // indirect
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013 // indirect
	google.golang.org/protobuf v1.28.2-0.20230222093303-bc1253ad3743 // indirect
)
