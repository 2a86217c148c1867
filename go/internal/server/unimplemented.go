//go:build !goplugin_v1_4

package server

import kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"

// unimplementedKV is what protoc-gen-go-grpc asks every KV server to embed.
type unimplementedKV = kvproto.UnimplementedKVServer
