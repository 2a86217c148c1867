package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/keys"
	"github.com/soup-rpc/soup-rpc/go/internal/report"
)

// Defaults of `soup-go bench` (those of the Rust host's `soup bench`).
const (
	DefaultLaunches     = 20
	DefaultGets         = 5000
	DefaultConcurrency  = 64
	DefaultDuration     = 3 * time.Second
	DefaultPuts         = 10
	DefaultBenchTimeout = 30 * time.Second
	benchWarmupGets     = 200
	coldStartKey        = "missing-for-cold-start"
	benchKey            = "bench"
)

// benchValue is what the latency and throughput Gets read: 16 bytes of 0x07.
var benchValue = bytes.Repeat([]byte{0x07}, 16)

// BenchOptions are the parsed flags of `soup-go bench`.
type BenchOptions struct {
	TLS         string
	Key         string
	Transport   string
	Launches    int
	Gets        int
	Concurrency int
	Duration    time.Duration
	Puts        int
	Timeout     time.Duration
	Command     []string
}

const benchUsage = "usage: soup-go bench [--tls auto|off] [--key ec-p521] [--transport unix] [--launches N] [--gets N] [--concurrency N] [--duration SECS] [--puts N] [--timeout SECS] -- SERVER-COMMAND..."

// ParseBenchArgs parses `bench` flags; everything after `--` is the server command.
func ParseBenchArgs(args []string, stderr io.Writer) (*BenchOptions, error) {
	fs := flag.NewFlagSet("soup-go bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &BenchOptions{}
	var duration, timeout float64
	fs.StringVar(&o.TLS, "tls", "auto", "auto|off")
	fs.StringVar(&o.Key, "key", keys.ECP521, "host key type; go-plugin's AutoMTLS makes only ec-p521 (ignored for --tls off)")
	fs.StringVar(&o.Transport, "transport", "unix", "unix (go-plugin's only transport on this platform)")
	fs.IntVar(&o.Launches, "launches", DefaultLaunches, "launches measured for cold start")
	fs.IntVar(&o.Gets, "gets", DefaultGets, "sequential Gets measured for latency")
	fs.IntVar(&o.Concurrency, "concurrency", DefaultConcurrency, "Gets in flight for the throughput figure")
	fs.Float64Var(&duration, "duration", DefaultDuration.Seconds(), "seconds of the throughput run")
	fs.IntVar(&o.Puts, "puts", DefaultPuts, "sequential Puts of a 1 MiB value for the MB/s figure")
	fs.Float64Var(&timeout, "timeout", DefaultBenchTimeout.Seconds(),
		"seconds allowed for each handshake, and without any RPC completing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	o.Command = fs.Args()
	if len(o.Command) == 0 {
		return nil, fmt.Errorf("%w: no server command (give it after --)", errUsage)
	}
	switch o.TLS {
	case "auto", "off":
	default:
		return nil, fmt.Errorf("%w: --tls must be auto or off, not %q", errUsage, o.TLS)
	}
	k, err := keys.Parse(o.Key, false)
	if err != nil {
		return nil, fmt.Errorf("%w: --key: %v", errUsage, err)
	}
	o.Key = k
	if o.TLS == "auto" && o.Key != keys.ECP521 {
		return nil, fmt.Errorf("%w: --key %s: go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate; only ec-p521 is possible with --tls auto",
			errUsage, o.Key)
	}
	if o.Transport != "unix" {
		return nil, fmt.Errorf("%w: --transport must be unix, not %q (a go-plugin host reaches its plugins over unix sockets here)",
			errUsage, o.Transport)
	}
	switch {
	case o.Launches < 1:
		return nil, fmt.Errorf("%w: --launches must be at least 1", errUsage)
	case o.Gets < 1:
		return nil, fmt.Errorf("%w: --gets must be at least 1", errUsage)
	case o.Puts < 1:
		return nil, fmt.Errorf("%w: --puts must be at least 1", errUsage)
	case o.Concurrency < 1:
		return nil, fmt.Errorf("%w: --concurrency must be at least 1", errUsage)
	case !(duration > 0) || math.IsInf(duration, 0):
		return nil, fmt.Errorf("%w: --duration must be positive", errUsage)
	case !(timeout > 0) || math.IsInf(timeout, 0):
		return nil, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	o.Duration = time.Duration(duration * float64(time.Second))
	o.Timeout = time.Duration(timeout * float64(time.Second))
	return o, nil
}

// Summary is the distribution of one measured figure.
type Summary struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize sorts v ascending and takes the percentiles at index
// round((n-1)*p), as the Rust host does. v must not be empty.
func Summarize(v []float64) Summary {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	at := func(p float64) float64 { return s[int(math.Round(float64(len(s)-1)*p))] }
	return Summary{N: len(s), Min: at(0), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

// BenchReport is the one JSON object `soup-go bench` prints; `soup bench`
// (the Rust host) prints the same shape.
type BenchReport struct {
	Host          string             `json:"host"`
	TLS           string             `json:"tls"`
	HostKey       string             `json:"host_key"`
	Transport     string             `json:"transport"`
	ServerCommand []string           `json:"server_command"`
	ColdStartMs   Summary            `json:"cold_start_ms"`
	GetLatencyUs  Summary            `json:"get_latency_us"`
	OpsPerSec     float64            `json:"ops_per_sec"`
	Concurrency   int                `json:"concurrency"`
	PutMBPerSec   float64            `json:"put_1mib_mb_per_s"`
	PluginPid     *int               `json:"plugin_pid"`
	PluginPeakRSS *int64             `json:"plugin_peak_rss_kib"`
	CPUPer10k     CPUPer10kGets      `json:"cpu_ms_per_10k_gets"`
	PluginExit    *report.PluginExit `json:"plugin_exit"`
}

// CPUPer10kGets is the CPU time (user+sys, ms) each process spent per 10,000
// sequential Gets; nil when /proc could not be read.
type CPUPer10kGets struct {
	Host   *float64 `json:"host"`
	Plugin *float64 `json:"plugin"`
}

// userHZ is the unit of /proc/<pid>/stat times (Linux's USER_HZ, fixed at 100).
const userHZ = 100.0

// CPUMillis is utime+stime of a process in ms, from /proc/<pid>/stat ("self" for this one).
func CPUMillis(pid string) (float64, bool) {
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
	return (u + st) * 1e3 / userHZ, true
}

// PeakRSSKiB is a process's VmHWM in KiB, from /proc/<pid>/status.
func PeakRSSKiB(pid string) (int64, bool) {
	if pid == "" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

func per10k(before, after float64, okB, okA bool, gets int) *float64 {
	if !okB || !okA {
		return nil
	}
	v := (after - before) * 10000 / float64(gets)
	return &v
}

// BenchMain runs `soup-go bench` and returns the exit code.
func BenchMain(args []string, stdout, stderr io.Writer) int {
	o, err := ParseBenchArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "soup-go bench:", err)
		}
		return ExitUsage
	}
	level := hclog.LevelFromString(os.Getenv("SOUP_GO_LOG"))
	if level == hclog.NoLevel {
		level = hclog.Warn // go-plugin logs every launch at debug; keep that out of the timings
	}
	b := &bench{
		o:      o,
		stderr: stderr,
		logger: hclog.New(&hclog.LoggerOptions{Name: "soup-go.bench", Level: level, Output: stderr}),
	}
	rep, err := b.execute()
	if err != nil {
		fmt.Fprintln(stderr, "soup-go bench:", err)
		return ExitFailure
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(stderr, "soup-go bench: encoding the result:", err)
		return ExitFailure
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return ExitFailure
	}
	return ExitOK
}

// bench is one `soup-go bench` run.
type bench struct {
	o      *BenchOptions
	logger hclog.Logger
	stderr io.Writer

	// progress counts finished RPCs and launch stages; the stall watchdog
	// fails the run when it stands still for --timeout.
	progress atomic.Uint64

	mu      sync.Mutex
	current *hosted // the plugin the watchdog kills on a stall
}

// hosted is one launched plugin.
type hosted struct {
	c  *plugin.Client
	kv kvproto.KVClient

	mu        sync.Mutex
	runner    *teeRunner
	socketDir string
	closed    bool
}

func (h *hosted) parts() (*teeRunner, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runner, h.socketDir
}

// stderrTail describes what the plugin last wrote to stderr, for errors.
func (h *hosted) stderrTail() string {
	tr, _ := h.parts()
	if tr == nil {
		return ""
	}
	tail := tr.stderr.Tail()
	if len(tail) == 0 {
		return ""
	}
	return "\nlast plugin stderr lines:\n  " + strings.Join(tail, "\n  ")
}

func (b *bench) tick() { b.progress.Add(1) }

// execute runs the bench under the stall watchdog.
func (b *bench) execute() (*BenchReport, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		rep *BenchReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{err: fmt.Errorf("internal error: panic: %v", p)}
			}
			done <- res
		}()
		res.rep, res.err = b.work(ctx)
	}()

	// A backstop: go-plugin's StartTimeout (--timeout) bounds each handshake
	// and Kill bounds itself, so a stall is an RPC or launch stage hanging.
	limit := b.o.Timeout + killReserve
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	last, lastAt := b.progress.Load(), time.Now()
	for {
		select {
		case res := <-done:
			return res.rep, res.err
		case <-ticker.C:
		}
		if now := b.progress.Load(); now != last {
			last, lastAt = now, time.Now()
			continue
		}
		if time.Since(lastAt) < limit {
			continue
		}
		b.logger.Error("no progress: killing the plugin", "for", limit)
		cancel()
		b.mu.Lock()
		h := b.current
		b.mu.Unlock()
		if h != nil {
			if tr, _ := h.parts(); tr != nil {
				tr.forceKill()
			}
		}
		err := fmt.Errorf("no launch stage or RPC finished for %s (--timeout %s + %s); the plugin was killed",
			limit, b.o.Timeout, killReserve)
		select {
		case res := <-done:
			if res.err != nil {
				err = fmt.Errorf("%w (%v)", err, res.err)
			}
		case <-time.After(killReserve):
			b.logger.Error("the host did not finish after the plugin was killed")
		}
		return nil, err
	}
}

// launch is one cold start up to a dispensed KV client (not the first RPC).
func (b *bench) launch() (*hosted, error) {
	h := &hosted{}
	b.mu.Lock()
	b.current = h
	b.mu.Unlock()
	h.c, _ = newHost(hostConfig{
		Command:      b.o.Command,
		AutoMTLS:     b.o.TLS == "auto",
		Logger:       b.logger,
		Stderr:       b.stderr,
		StartTimeout: b.o.Timeout,
		OnRunner: func(tr *teeRunner, socketDir string) {
			h.mu.Lock()
			h.runner, h.socketDir = tr, socketDir
			h.mu.Unlock()
		},
	})
	if err := safeStart(h.c); err != nil {
		b.tick()
		h.close(b.logger)
		return nil, fmt.Errorf("starting the plugin: %v", err) // go-plugin appends the runner's Diagnose
	}
	b.tick()
	kv, stage, err := dispenseKV(h.c)
	b.tick()
	if err != nil {
		h.close(b.logger)
		return nil, fmt.Errorf("%s: %v%s", stage, err, h.stderrTail())
	}
	h.kv = kv
	return h, nil
}

// close kills and reaps the plugin once and returns how it ended.
func (h *hosted) close(logger hclog.Logger) *report.PluginExit {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	tr, dir := h.runner, h.socketDir
	h.mu.Unlock()
	return killAndReap(h.c, tr, dir, logger)
}

// closeChecked is close plus a warning when the plugin did not exit cleanly.
func (b *bench) closeChecked(h *hosted) *report.PluginExit {
	exit := h.close(b.logger)
	b.tick()
	switch {
	case exit == nil:
		b.logger.Warn("could not tell how the plugin ended")
	case exit.How != "exited" || exit.Code == nil || *exit.Code != 0:
		b.logger.Warn("the plugin did not exit cleanly after Kill", "how", exit.How,
			"code", fmtIntPtr(exit.Code), "signal", fmtIntPtr(exit.Signal))
	}
	return exit
}

func fmtIntPtr(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func (b *bench) work(ctx context.Context) (*BenchReport, error) {
	o := b.o
	// Cold start: a fresh plugin per launch, timed up to the first Get's answer.
	cold := make([]float64, 0, o.Launches)
	for i := 0; i < o.Launches; i++ {
		start := time.Now()
		h, err := b.launch()
		if err != nil {
			return nil, fmt.Errorf("cold-start launch %d: %w", i+1, err)
		}
		_, err = h.kv.Get(ctx, &kvproto.GetRequest{Key: coldStartKey})
		elapsed := time.Since(start)
		b.tick()
		if err != nil && isTransportFailure(err) {
			h.close(b.logger)
			return nil, fmt.Errorf("cold-start launch %d: first Get: %v%s", i+1, err, h.stderrTail())
		}
		cold = append(cold, float64(elapsed.Nanoseconds())/1e6)
		b.closeChecked(h)
	}

	h, err := b.launch()
	if err != nil {
		return nil, fmt.Errorf("launching the plugin for the latency run: %w", err)
	}
	defer h.close(b.logger) // on error; the success path closes it below
	fail := func(what string, err error) error {
		s := status.Convert(err)
		return fmt.Errorf("%s: %s: %s%s", what, StatusName(s.Code()), s.Message(), h.stderrTail())
	}

	// Latency: one Get in flight.
	if _, err := h.kv.Put(ctx, &kvproto.PutRequest{Key: benchKey, Value: benchValue}); err != nil {
		return nil, fail("Put "+benchKey, err)
	}
	b.tick()
	for i := 0; i < benchWarmupGets; i++ {
		resp, err := h.kv.Get(ctx, &kvproto.GetRequest{Key: benchKey})
		if err != nil {
			return nil, fail("warm-up Get", err)
		}
		if i == 0 && !bytes.Equal(resp.GetValue(), benchValue) {
			return nil, fmt.Errorf("warm-up Get %q returned %d bytes, not the 16 bytes of 0x07 put", benchKey, len(resp.GetValue()))
		}
		b.tick()
	}
	var pid string
	if tr, _ := h.parts(); tr != nil {
		pid = tr.ID()
	}
	host0, okH0 := CPUMillis("self")
	plugin0, okP0 := CPUMillis(pid)
	lat := make([]float64, 0, o.Gets)
	req := &kvproto.GetRequest{Key: benchKey}
	for i := 0; i < o.Gets; i++ {
		start := time.Now()
		_, err := h.kv.Get(ctx, req)
		elapsed := time.Since(start)
		if err != nil {
			return nil, fail("timed Get", err)
		}
		b.tick()
		lat = append(lat, float64(elapsed.Nanoseconds())/1e3)
	}
	host1, okH1 := CPUMillis("self")
	plugin1, okP1 := CPUMillis(pid)
	cpu := CPUPer10kGets{
		Host:   per10k(host0, host1, okH0, okH1, o.Gets),
		Plugin: per10k(plugin0, plugin1, okP0 && pid != "", okP1 && pid != "", o.Gets),
	}

	// Throughput: --concurrency Gets in flight on the same connection.
	var total atomic.Uint64
	var errMu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	started := time.Now()
	deadline := started.Add(o.Duration)
	for g := 0; g < o.Concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &kvproto.GetRequest{Key: benchKey}
			var n uint64
			for time.Now().Before(deadline) && ctx.Err() == nil {
				_, err := h.kv.Get(ctx, req)
				b.tick()
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if firstErr != nil {
		if total.Load() == 0 {
			return nil, fail("throughput Get", firstErr)
		}
		s := status.Convert(firstErr)
		b.logger.Warn("some throughput Gets failed", "status", StatusName(s.Code()), "message", s.Message())
	}
	ops := float64(total.Load()) / elapsed.Seconds()

	// Put of a 1 MiB value, sequential; MB = 10^6 bytes.
	big := bytes.Repeat([]byte{0x5a}, 1<<20)
	bigReq := &kvproto.PutRequest{Key: "bench-1mib", Value: big}
	if _, err := h.kv.Put(ctx, bigReq); err != nil {
		return nil, fail("Put 1 MiB", err)
	}
	b.tick()
	putStart := time.Now()
	for i := 0; i < o.Puts; i++ {
		if _, err := h.kv.Put(ctx, bigReq); err != nil {
			return nil, fail("Put 1 MiB", err)
		}
		b.tick()
	}
	putMBs := float64(o.Puts*len(big)) / time.Since(putStart).Seconds() / 1e6

	var pidPtr *int
	var rssPtr *int64
	if n, err := strconv.Atoi(pid); err == nil {
		pidPtr = &n
		if rss, ok := PeakRSSKiB(pid); ok {
			rssPtr = &rss
		}
	}
	exit := b.closeChecked(h)
	return &BenchReport{
		Host:          "go",
		TLS:           o.TLS,
		HostKey:       o.Key,
		Transport:     o.Transport,
		ServerCommand: o.Command,
		ColdStartMs:   Summarize(cold),
		GetLatencyUs:  Summarize(lat),
		OpsPerSec:     ops,
		Concurrency:   o.Concurrency,
		PutMBPerSec:   putMBs,
		PluginPid:     pidPtr,
		PluginPeakRSS: rssPtr,
		CPUPer10k:     cpu,
		PluginExit:    exit,
	}, nil
}
