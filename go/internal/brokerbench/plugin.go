// Package brokerbench times go-plugin's brokered round trip, the shape of
// go-plugin's examples/bidirectional: the host calls Counter.Put(add_server =
// id, …), and inside that call the plugin dials the host's AddHelper through
// the GRPCBroker under id, calls Sum, and only then replies. It is the Go
// counterpart of crates/soup-bench-broker (same flags, same JSON, same wire:
// go-plugin's examples/bidirectional/proto), on go-plugin's own GRPCBroker on
// both sides. Benchmark only: `cargo xtask bench` runs it.
package brokerbench

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/proto"
	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DialEnv tells the plugin how to reach the host's AddHelper: "once" (dial an
// id on its first Put, keep the connection for later Puts naming it) or
// "per-call" (dial for every Put and close before replying, as go-plugin's
// example does).
const DialEnv = "SOUP_BENCH_BROKER_DIAL"

// PluginName is the name the Counter is dispensed under (as in the example).
const PluginName = "counter"

// counterPlugin is the plugin.GRPCPlugin of both sides: the plugin serves a
// counterServer; the host gets a counterClient, which keeps the broker (the
// example's shared.GRPCClient hides it, and the steady pattern needs it).
type counterPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	perCall bool
}

func (p *counterPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterCounterServer(s, &counterServer{
		broker:  broker,
		perCall: p.perCall,
		conns:   map[uint32]*grpc.ClientConn{},
		values:  map[string]int64{},
	})
	return nil
}

func (p *counterPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &counterClient{broker: broker, counter: proto.NewCounterClient(c)}, nil
}

var _ plugin.GRPCPlugin = &counterPlugin{}

// counterServer is the example's GRPCServer + Counter with the count in memory
// (the example writes a file per Put, which would measure the disk).
type counterServer struct {
	proto.UnimplementedCounterServer
	broker  *plugin.GRPCBroker
	perCall bool

	mu     sync.Mutex
	conns  map[uint32]*grpc.ClientConn // dialled ids (not per-call)
	values map[string]int64
}

func (s *counterServer) conn(id uint32) (*grpc.ClientConn, error) {
	if s.perCall {
		return s.broker.Dial(id)
	}
	s.mu.Lock()
	c, ok := s.conns[id]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := s.broker.Dial(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conns[id] = c
	s.mu.Unlock()
	return c, nil
}

func (s *counterServer) Put(_ context.Context, req *proto.PutRequest) (*proto.Empty, error) {
	s.mu.Lock()
	current := s.values[req.Key]
	s.mu.Unlock()
	conn, err := s.conn(req.AddServer)
	if err != nil {
		return nil, err
	}
	if s.perCall {
		defer func() { _ = conn.Close() }()
	}
	resp, err := proto.NewAddHelperClient(conn).Sum(context.Background(), &proto.SumRequest{A: current, B: req.Value})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.values[req.Key] = resp.R
	s.mu.Unlock()
	return &proto.Empty{}, nil
}

func (s *counterServer) Get(_ context.Context, req *proto.GetRequest) (*proto.GetResponse, error) {
	s.mu.Lock()
	v, ok := s.values[req.Key]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no value for %q", req.Key)
	}
	return &proto.GetResponse{Value: v}, nil
}

// PluginMain serves the Counter (`soup-go-bench-broker plugin`); it returns
// only on a usage error, as plugin.Serve exits the process itself.
func PluginMain() int {
	perCall := false
	switch v := os.Getenv(DialEnv); v {
	case "", "once":
	case "per-call":
		perCall = true
	default:
		fmt.Fprintf(os.Stderr, "soup-go-bench-broker plugin: %s=%q: expected once or per-call\n", DialEnv, v)
		return 1
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: shared.Handshake,
		Plugins:         plugin.PluginSet{PluginName: &counterPlugin{perCall: perCall}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
	return 0
}
