package brokerbench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/proto"
	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/report"
)

// Options are the parsed flags of `soup-go-bench-broker host` (those of
// `soup-bench-broker host`).
type Options struct {
	TLS           string
	Multiplex     bool
	SteadyCalls   int
	SteadyWarmup  int
	PerCallCalls  int
	PerCallWarmup int
	Timeout       time.Duration
	Command       []string
}

const hostUsage = "usage: soup-go-bench-broker host [--tls auto|off] [--key ec-p521] [--multiplex] [--steady-calls N] [--steady-warmup N] [--per-call-calls N] [--per-call-warmup N] [--timeout SECS] -- PLUGIN-COMMAND..."

// ParseHostArgs parses `host` flags; everything after `--` is the plugin command.
func ParseHostArgs(args []string, stderr io.Writer) (*Options, error) {
	fs := flag.NewFlagSet("soup-go-bench-broker host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Options{}
	var key string
	var timeout float64
	fs.StringVar(&o.TLS, "tls", "auto", "auto (go-plugin AutoMTLS) or off")
	fs.StringVar(&key, "key", "ec-p521", "host key type; go-plugin's AutoMTLS makes only ec-p521")
	fs.BoolVar(&o.Multiplex, "multiplex", false, "gRPC broker multiplexing (GRPCBrokerMultiplex)")
	fs.IntVar(&o.SteadyCalls, "steady-calls", 2000, "timed Puts over the already dialled brokered connection")
	fs.IntVar(&o.SteadyWarmup, "steady-warmup", 200, "untimed Puts before those (the first one dials)")
	fs.IntVar(&o.PerCallCalls, "per-call-calls", 300, "timed Puts of go-plugin's per-call pattern (AcceptAndServe, Dial, Sum, Stop)")
	fs.IntVar(&o.PerCallWarmup, "per-call-warmup", 20, "untimed per-call Puts before those")
	fs.Float64Var(&timeout, "timeout", 60, "seconds allowed for each handshake and for each of the two phases")
	fs.Usage = func() {
		fmt.Fprintln(stderr, hostUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.Command = fs.Args()
	switch {
	case len(o.Command) == 0:
		return nil, errors.New("no plugin command (give it after --)")
	case o.TLS != "auto" && o.TLS != "off":
		return nil, fmt.Errorf("--tls must be auto or off, not %q", o.TLS)
	case key != "ec-p521":
		return nil, fmt.Errorf("--key %s: go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate", key)
	case o.SteadyCalls < 1 || o.PerCallCalls < 1:
		return nil, errors.New("--steady-calls and --per-call-calls must be at least 1")
	case o.SteadyWarmup < 0 || o.PerCallWarmup < 0:
		return nil, errors.New("warm-up counts cannot be negative")
	case !(timeout > 0) || math.IsInf(timeout, 0):
		return nil, errors.New("--timeout must be positive")
	}
	o.Timeout = time.Duration(timeout * float64(time.Second))
	return o, nil
}

// HostMain runs `soup-go-bench-broker host` and returns the exit code.
func HostMain(args []string, stdout, stderr io.Writer) int {
	o, err := ParseHostArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "soup-go-bench-broker host:", err)
		}
		return 2
	}
	rep, err := Run(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "soup-go-bench-broker host:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(stderr, "soup-go-bench-broker host: encoding the result:", err)
		return 1
	}
	return 0
}

// Report is the one JSON object a host prints.
type Report struct {
	Host          string   `json:"host"`
	TLS           string   `json:"tls"`
	HostKey       *string  `json:"host_key"`
	Multiplex     bool     `json:"multiplex"`
	Transport     string   `json:"transport"`
	PluginCommand []string `json:"plugin_command"`
	Steady        *Phase   `json:"steady"`
	PerCall       *Phase   `json:"per_call"`
}

// Phase is what one pattern measured, against its own plugin process.
type Phase struct {
	Calls        int                `json:"calls"`
	LatencyUs    Summary            `json:"latency_us"`
	GetLatencyUs *Summary           `json:"get_latency_us,omitempty"` // steady only
	CPUUsPerCall CPUPerCall         `json:"cpu_us_per_call"`
	PluginPid    *int               `json:"plugin_pid"`
	PluginExit   *report.PluginExit `json:"plugin_exit"`
}

// CPUPerCall is utime+stime (µs) per timed call; nil when /proc could not be read.
type CPUPerCall struct {
	Host   *float64 `json:"host"`
	Plugin *float64 `json:"plugin"`
}

// adder is the host's AddHelper.
type adder struct {
	proto.UnimplementedAddHelperServer
}

func (adder) Sum(_ context.Context, req *proto.SumRequest) (*proto.SumResponse, error) {
	return &proto.SumResponse{R: req.A + req.B}, nil
}

// counterClient is what the host dispenses.
type counterClient struct {
	broker  *plugin.GRPCBroker
	counter proto.CounterClient
}

// hosted is one launched plugin.
type hosted struct {
	c        *plugin.Client
	cmd      *exec.Cmd
	cc       *counterClient
	pid      string
	timedOut atomic.Bool
}

// Run measures both patterns, each against a fresh plugin.
func Run(o *Options, stderr io.Writer) (*Report, error) {
	logger := hclog.New(&hclog.LoggerOptions{Name: "soup-go-bench-broker", Level: hclog.Warn, Output: stderr})
	rep := &Report{Host: "go", TLS: o.TLS, Multiplex: o.Multiplex, PluginCommand: o.Command}
	if o.TLS == "auto" {
		k := "ec-p521"
		rep.HostKey = &k
	}
	var err error
	rep.Steady, rep.Transport, err = phase(o, logger, "once", steady)
	if err != nil {
		return nil, fmt.Errorf("steady phase: %w", err)
	}
	rep.PerCall, _, err = phase(o, logger, "per-call", perCall)
	if err != nil {
		return nil, fmt.Errorf("per-call phase: %w", err)
	}
	return rep, nil
}

func launch(o *Options, logger hclog.Logger, dial string) (*hosted, error) {
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Env = append(os.Environ(), DialEnv+"="+dial)
	h := &hosted{cmd: cmd}
	h.c = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:     shared.Handshake,
		Plugins:             plugin.PluginSet{PluginName: &counterPlugin{}},
		Cmd:                 cmd,
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:            o.TLS == "auto",
		GRPCBrokerMultiplex: o.Multiplex,
		StartTimeout:        o.Timeout,
		Logger:              logger,
		SyncStdout:          io.Discard,
		SyncStderr:          io.Discard,
	})
	rpc, err := h.c.Client()
	if err != nil {
		h.c.Kill()
		return nil, fmt.Errorf("launching the plugin (%v dial=%s): %w", o.Command, dial, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		h.c.Kill()
		return nil, err
	}
	h.cc = raw.(*counterClient)
	h.pid = h.c.ID()
	return h, nil
}

// measured is what a pattern's calls gave.
type measured struct {
	lat                []float64
	get                []float64 // steady: plain Gets, the one-RPC reference
	cpuHost, cpuPlugin *float64
}

func phase(o *Options, logger hclog.Logger, dial string, body func(*Options, *hosted) (*measured, error)) (*Phase, string, error) {
	h, err := launch(o, logger, dial)
	if err != nil {
		return nil, "", err
	}
	transport := ""
	if rc := h.c.ReattachConfig(); rc != nil && rc.Addr != nil {
		transport = rc.Addr.Network()
	}
	// A watchdog instead of per-call deadlines (which would add a timer per
	// RPC to what is measured): on a stall, killing the plugin fails the calls.
	watchdog := time.AfterFunc(o.Timeout, func() {
		h.timedOut.Store(true)
		h.c.Kill()
	})
	m, err := body(o, h)
	watchdog.Stop()
	if h.timedOut.Load() {
		err = fmt.Errorf("did not finish within %s (--timeout); the plugin was killed (%v)", o.Timeout, err)
	}
	h.c.Kill()
	if err != nil {
		return nil, "", err
	}
	p := &Phase{Calls: len(m.lat), LatencyUs: Summarize(m.lat), PluginExit: exitOf(h.cmd)}
	if len(m.get) > 0 {
		g := Summarize(m.get)
		p.GetLatencyUs = &g
	}
	per := func(ms *float64) *float64 {
		if ms == nil {
			return nil
		}
		v := *ms * 1e3 / float64(len(m.lat))
		return &v
	}
	p.CPUUsPerCall = CPUPerCall{Host: per(m.cpuHost), Plugin: per(m.cpuPlugin)}
	if n, err := strconv.Atoi(h.pid); err == nil {
		p.PluginPid = &n
	}
	return p, transport, nil
}

// exitOf says how the plugin ended (go-plugin's Kill has waited for it).
func exitOf(cmd *exec.Cmd) *report.PluginExit {
	st := cmd.ProcessState
	if st == nil {
		return nil
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case st.Exited():
		code := st.ExitCode()
		return &report.PluginExit{How: "exited", Code: &code}
	case ok && ws.Signaled():
		sig := int(ws.Signal())
		how := "signaled"
		if ws.Signal() == syscall.SIGKILL {
			how = "killed"
		}
		return &report.PluginExit{How: how, Signal: &sig}
	}
	return nil
}

type cpuMark struct {
	host, plugin     float64
	okHost, okPlugin bool
}

func markCPU(pid string) cpuMark {
	var m cpuMark
	m.host, m.okHost = cpuMillis("self")
	m.plugin, m.okPlugin = cpuMillis(pid)
	return m
}

func (m *measured) cpuSince(a cpuMark, pid string) {
	b := markCPU(pid)
	if a.okHost && b.okHost {
		v := b.host - a.host
		m.cpuHost = &v
	}
	if a.okPlugin && b.okPlugin {
		v := b.plugin - a.plugin
		m.cpuPlugin = &v
	}
}

func rpcErr(what string, err error) error {
	s := status.Convert(err)
	return fmt.Errorf("%s: %s: %s", what, s.Code(), s.Message())
}

// checkCount: the count the plugin holds must be the sum of the Puts (every Sum ran).
func checkCount(h *hosted, key string, want int) error {
	resp, err := h.cc.counter.Get(context.Background(), &proto.GetRequest{Key: key})
	if err != nil {
		return rpcErr("Get", err)
	}
	if resp.Value != int64(want) {
		return fmt.Errorf("Get %q = %d after %d Puts of 1", key, resp.Value, want)
	}
	return nil
}

// serveAdder starts the example's AcceptAndServe goroutine for id and waits
// until go-plugin has made the grpc.Server, which it does only once Accept
// has returned. The example sends its Put without waiting; with
// GRPCBrokerMultiplex that races in go-plugin v1.8.0: a knock for id that
// arrives before Accept is queued, and Accept starts listenForKnocks (which
// answers it at once) before it registers the listener, so the plugin's dial
// fails with "failed to knock for id N: no listener for id N" (seen in about
// 1 of 5 runs of 320 per-call Puts). Waiting costs what the Rust host pays
// by awaiting accept_and_serve before its Put.
func serveAdder(b *plugin.GRPCBroker, id uint32) (*grpc.Server, error) {
	srv := make(chan *grpc.Server, 1)
	go b.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		proto.RegisterAddHelperServer(s, adder{})
		srv <- s
		return s
	})
	select {
	case s := <-srv:
		return s, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("AcceptAndServe(%d) made no server within 5 s (go-plugin logs why)", id)
	}
}

// steady: AddHelper served once under one id; every Put names it, and the
// plugin reuses the connection it dialled on the first.
func steady(o *Options, h *hosted) (*measured, error) {
	ctx := context.Background()
	id := h.cc.broker.NextId()
	srv, err := serveAdder(h.cc.broker, id)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	put := &proto.PutRequest{AddServer: id, Key: "steady", Value: 1}
	for i := 0; i < o.SteadyWarmup; i++ {
		if _, err = h.cc.counter.Put(ctx, put); err != nil {
			return nil, rpcErr("warm-up Put", err)
		}
	}
	m := &measured{lat: make([]float64, 0, o.SteadyCalls)}
	mark := markCPU(h.pid)
	for i := 0; i < o.SteadyCalls; i++ {
		start := time.Now()
		_, err = h.cc.counter.Put(ctx, put)
		elapsed := time.Since(start)
		if err != nil {
			return nil, rpcErr("Put", err)
		}
		m.lat = append(m.lat, float64(elapsed.Nanoseconds())/1e3)
	}
	m.cpuSince(mark, h.pid)
	// The reference: as many Gets, one plain RPC each on the main connection (no callback).
	m.get = make([]float64, 0, o.SteadyCalls)
	get := &proto.GetRequest{Key: "steady"}
	for i := 0; i < o.SteadyCalls; i++ {
		start := time.Now()
		_, err = h.cc.counter.Get(ctx, get)
		elapsed := time.Since(start)
		if err != nil {
			return nil, rpcErr("Get", err)
		}
		m.get = append(m.get, float64(elapsed.Nanoseconds())/1e3)
	}
	if err = checkCount(h, "steady", o.SteadyWarmup+o.SteadyCalls); err != nil {
		return nil, err
	}
	return m, nil
}

// perCall: go-plugin's examples/bidirectional per Put (shared.GRPCClient.Put):
// NextId, go AcceptAndServe (waited for: see serveAdder), the Put (the plugin
// dials, calls Sum, closes), s.Stop(). The whole sequence is timed.
func perCall(o *Options, h *hosted) (*measured, error) {
	one := func() (float64, error) {
		start := time.Now()
		id := h.cc.broker.NextId()
		srv, err := serveAdder(h.cc.broker, id)
		if err != nil {
			return 0, err
		}
		_, err = h.cc.counter.Put(context.Background(), &proto.PutRequest{AddServer: id, Key: "per-call", Value: 1})
		srv.Stop()
		elapsed := time.Since(start)
		if err != nil {
			return 0, rpcErr("Put", err)
		}
		return float64(elapsed.Nanoseconds()) / 1e3, nil
	}
	for i := 0; i < o.PerCallWarmup; i++ {
		if _, err := one(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	m := &measured{lat: make([]float64, 0, o.PerCallCalls)}
	mark := markCPU(h.pid)
	for i := 0; i < o.PerCallCalls; i++ {
		us, err := one()
		if err != nil {
			return nil, err
		}
		m.lat = append(m.lat, us)
	}
	m.cpuSince(mark, h.pid)
	if err := checkCount(h, "per-call", o.PerCallWarmup+o.PerCallCalls); err != nil {
		return nil, err
	}
	return m, nil
}

// This package cannot import internal/client (its KV proto and the
// bidirectional example's are both registered as "proto/kv.proto"), hence
// its own copies of the two helpers below.

// Summary is the distribution of one measured figure.
type Summary struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize takes the percentiles at index round((n-1)*p) of v sorted, as
// every bench host does. v must not be empty.
func Summarize(v []float64) Summary {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	at := func(p float64) float64 { return s[int(math.Round(float64(len(s)-1)*p))] }
	return Summary{N: len(s), Min: at(0), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

// cpuMillis is utime+stime of a process in ms, from /proc/<pid>/stat ("self"
// for this one; USER_HZ is 100 on Linux).
func cpuMillis(pid string) (float64, bool) {
	if pid == "" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) * 1e3 / 100, true
}
