package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	peercontract "github.com/soup-rpc/soup-rpc/peer-contract"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/report"
)

// Expect is what makes a step ok (beyond reaching the server).
type Expect int

const (
	// ExpectValue: a Put returns OK; a Get returns OK with exactly Value.
	ExpectValue Expect = iota
	// ExpectProbe: a JSON object whose server_handshake is an object.
	ExpectProbe
	// ExpectError: any error status (get-missing; NOT_FOUND expected).
	ExpectError
	// ExpectAnswer: OK or NOT_FOUND, whatever the value (get-deadline).
	ExpectAnswer
)

// ScriptStep is one row of a contract script.
type ScriptStep struct {
	Name     string
	Op       string // "put" or "get"
	Key      string
	Value    []byte // Put: sent; Get: expected (with ExpectValue)
	Expect   Expect
	Deadline time.Duration // this call's own gRPC deadline; 0 = none
	// PauseFirst: print PauseMarker on stderr and read one line (or EOF) from
	// stdin before this step (the get script's pause, docs/peer-contract.md).
	PauseFirst bool
}

// PauseMarker is what a host prints on stderr when the get script pauses.
const PauseMarker = "soup-peer: paused before get-deadline"

// Large is large(n) of the contract: n bytes, byte j = j mod 251.
func Large(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// Stream is stream(i) of the contract: 1024 bytes, byte j = (i + j) mod 251.
func Stream(i uint64) []byte {
	b := make([]byte, 1024)
	base := i % 251
	for j := range b {
		b[j] = byte((base + uint64(j)) % 251)
	}
	return b
}

// Script returns the contract's KV script for a client of language lang,
// from peer-contract/kv-script.json (the copy every peer reads).
func Script(lang string) []ScriptStep {
	var out []ScriptStep
	for _, st := range peercontract.KVScript() {
		step := ScriptStep{Name: st.Step, Op: st.Op, Key: st.Key, Value: st.Value.Bytes(lang)}
		switch st.Expect {
		case peercontract.ExpectProbe:
			step.Expect = ExpectProbe
		case peercontract.ExpectError:
			step.Expect = ExpectError
		default:
			step.Expect = ExpectValue
		}
		if step.Value == nil && step.Op == "put" {
			step.Value = []byte{}
		}
		out = append(out, step)
	}
	return out
}

// GetDeadline is the gRPC deadline of the get script's get-deadline step.
const GetDeadline = 2 * time.Second

// MaxLarge is the largest put-large BYTES this host can express: grpc-go's
// message size limits are ints set here to BYTES + 1 MiB, and a protobuf
// message must stay under 2 GiB.
const MaxLarge = math.MaxInt32 - 1<<20

// Script kinds (--script).
const (
	ScriptKV        = "kv"
	ScriptGet       = "get"
	ScriptHold      = "hold"
	ScriptPutStream = "put-stream"
	ScriptGetStream = "get-stream"
	ScriptPutLarge  = "put-large"
)

// ScriptSpec is a parsed --script: a kind and, for the kinds with a
// ":N" suffix, N.
type ScriptSpec struct {
	Kind string
	N    uint64
}

func (s ScriptSpec) String() string {
	switch s.Kind {
	case ScriptPutStream, ScriptGetStream, ScriptPutLarge:
		return s.Kind + ":" + strconv.FormatUint(s.N, 10)
	}
	return s.Kind
}

var decimal = regexp.MustCompile(`^[0-9]+$`)

// ParseScript parses a --script value: kv, get, hold, put-stream:N,
// get-stream:N or put-large:BYTES (N and BYTES decimal digits; N at most
// 2^32-1).
func ParseScript(s string) (ScriptSpec, error) {
	bad := fmt.Errorf("unknown script %q: expected kv, get, hold, put-stream:N, get-stream:N or put-large:BYTES", s)
	name, arg, hasArg := strings.Cut(s, ":")
	switch name {
	case ScriptKV, ScriptGet, ScriptHold:
		if hasArg {
			return ScriptSpec{}, bad
		}
		return ScriptSpec{Kind: name}, nil
	case ScriptPutStream, ScriptGetStream, ScriptPutLarge:
		if !hasArg || !decimal.MatchString(arg) {
			return ScriptSpec{}, bad
		}
		bits := 64
		if name != ScriptPutLarge {
			bits = 32
		}
		n, err := strconv.ParseUint(arg, 10, bits)
		if err != nil {
			return ScriptSpec{}, fmt.Errorf("%v (%v)", bad, err)
		}
		return ScriptSpec{Kind: name, N: n}, nil
	}
	return ScriptSpec{}, bad
}

// StopsAtFirstFailure: put-stream records its first failing step and
// runs no further.
func (s ScriptSpec) StopsAtFirstFailure() bool { return s.Kind == ScriptPutStream }

// MessageLimit is the gRPC send/receive limit the host sets for this
// script (0: go-plugin's own, which is math.MaxInt32 both ways).
func (s ScriptSpec) MessageLimit() int {
	if s.Kind != ScriptPutLarge || s.N > MaxLarge {
		return 0
	}
	return int(s.N) + 1<<20
}

// Steps are the steps of the script for a client of language lang.
func (s ScriptSpec) Steps(lang string) []ScriptStep {
	switch s.Kind {
	case ScriptGet:
		return []ScriptStep{
			Script(lang)[0], // put-ascii
			{Name: "get-deadline", Op: "get", Key: "ascii", Expect: ExpectAnswer, Deadline: GetDeadline, PauseFirst: true},
		}
	case ScriptHold:
		return Script(lang)[:1]
	case ScriptPutStream, ScriptGetStream:
		op := "put"
		if s.Kind == ScriptGetStream {
			op = "get"
		}
		steps := make([]ScriptStep, 0, min(s.N, 1<<16))
		for i := uint64(0); i < s.N; i++ {
			n := strconv.FormatUint(i, 10)
			steps = append(steps, ScriptStep{Name: op + "-stream-" + n, Op: op, Key: "stream-" + n, Value: Stream(i)})
		}
		return steps
	case ScriptPutLarge:
		v := Large(int(s.N))
		return []ScriptStep{
			{Name: "put-large", Op: "put", Key: "large", Value: v},
			{Name: "get-large", Op: "get", Key: "large", Value: v},
		}
	}
	return Script(lang)
}

// script runs every step of the --script on one connection.
func (r *run) script(ctx context.Context, kv kvproto.KVClient) {
	var transportErr error
	var transportStatus *status.Status
	connected := false
	for _, st := range r.o.Script.Steps("go") {
		step := report.Step{Step: st.Name, Op: st.Op, Key: st.Key}
		if transportErr != nil {
			step.Status = StatusName(transportStatus.Code())
			step.Message = "not run: " + transportStatus.Message()
			if st.Op == "put" {
				setValue(&step, st.Value)
			}
			r.addStep(step)
			continue
		}

		if st.PauseFirst {
			r.pause(ctx)
		}
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if st.Deadline > 0 {
			callCtx, cancel = context.WithTimeout(ctx, st.Deadline)
		}
		var p peer.Peer
		var got []byte
		var err error
		start := time.Now()
		if st.Op == "put" {
			_, err = kv.Put(callCtx, &kvproto.PutRequest{Key: st.Key, Value: st.Value}, grpc.Peer(&p))
		} else {
			var resp *kvproto.GetResponse
			resp, err = kv.Get(callCtx, &kvproto.GetRequest{Key: st.Key}, grpc.Peer(&p))
			if err == nil {
				got = resp.GetValue()
				if got == nil {
					got = []byte{}
				}
			}
		}
		elapsed := time.Since(start)
		cancel()
		step.LatencyUs = float64(elapsed.Nanoseconds()) / 1000
		r.recordPeer(&p)

		s := status.Convert(err)
		step.Status = StatusName(s.Code())
		step.Message = s.Message()

		// A step's own deadline passing (the run's still running) is that
		// step's failure, not the transport's.
		ownDeadline := st.Deadline > 0 && s.Code() == codes.DeadlineExceeded && ctx.Err() == nil
		if err != nil && isTransportFailure(err) && !ownDeadline {
			step.OK = false
			if st.Op == "put" {
				setValue(&step, st.Value)
			}
			r.setError(classifyTransport(err, connected, report.StageConnect), err.Error())
			r.addStep(step)
			if r.o.Script.StopsAtFirstFailure() {
				break
			}
			transportErr, transportStatus = err, s
			continue
		}
		if !connected && !ownDeadline {
			connected = true
			r.firstRPC(start.Add(elapsed))
		}

		switch {
		case st.Op == "put":
			setValue(&step, st.Value)
			step.OK = err == nil
		case st.Expect == ExpectError:
			if err == nil {
				setValue(&step, got)
				step.OK = false
				step.Message = "expected an error status for a missing key, got OK"
			} else {
				step.OK = true
			}
		case st.Expect == ExpectAnswer:
			if err == nil {
				setValue(&step, got)
			}
			step.OK = err == nil || s.Code() == codes.NotFound
		case err != nil:
			step.OK = false
		case st.Expect == ExpectProbe:
			setValue(&step, got)
			saw, msg, ok := parseServerSaw(got)
			step.OK = ok
			if msg != "" {
				step.Message = msg
			}
			if saw != nil {
				r.mu.Lock()
				r.rep.Observed.ServerSaw = saw
				r.mu.Unlock()
			}
		default:
			setValue(&step, got)
			step.OK = bytes.Equal(got, st.Value)
			if !step.OK {
				step.Message = fmt.Sprintf("value mismatch: got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
					len(got), certinfo.SHA256Hex(got), len(st.Value), certinfo.SHA256Hex(st.Value))
			}
		}
		if !step.OK {
			msg := step.Message
			if msg == "" {
				msg = step.Status
			}
			r.setError(report.StageRPC, fmt.Sprintf("%s: %s: %s", st.Name, step.Status, msg))
		}
		r.addStep(step)
		if !step.OK && r.o.Script.StopsAtFirstFailure() {
			break
		}
	}
	if transportErr != nil && codes.DeadlineExceeded == transportStatus.Code() {
		r.logger.Error("the script ran out of time", "error", transportErr)
	}
}

// pause prints PauseMarker on stderr, then returns once one line (or EOF, or
// a read error) came from stdin, or the run's deadline passed.
func (r *run) pause(ctx context.Context) {
	if r.stderr != nil {
		fmt.Fprintln(r.stderr, PauseMarker)
	}
	if r.stdin == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1)
		for {
			n, err := r.stdin.Read(b)
			if err != nil || (n == 1 && b[0] == '\n') {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// hold keeps the plugin running until the host's stdin reaches EOF (or
// fails), or the run's deadline passes (the watchdog then reports the timeout).
func (r *run) hold(ctx context.Context) {
	r.logger.Info("hold: keeping the plugin until stdin reaches EOF")
	if r.stdin == nil {
		return
	}
	eof := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r.stdin)
		eof <- err
	}()
	select {
	case err := <-eof:
		r.logger.Info("hold: stdin reached EOF; shutting the plugin down", "read_error", err)
	case <-ctx.Done():
		r.logger.Warn("hold: the run's deadline passed before stdin reached EOF")
	}
}

func setValue(step *report.Step, v []byte) {
	n := len(v)
	h := certinfo.SHA256Hex(v)
	step.ValueLen = &n
	step.ValueSHA256 = &h
}

func (r *run) addStep(s report.Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Steps = append(r.rep.Steps, s)
}

func (r *run) firstRPC(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstRPCDone || r.runner == nil {
		return
	}
	r.firstRPCDone = true
	if _, hsAt, ok := r.runner.stdout.First(); ok {
		ms := msSince(hsAt, at)
		r.handshakeToFirst = &ms
	}
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseServerSaw checks the stored probe: a JSON object whose
// server_handshake is an object. The object is returned for the report only
// when it has the shape the schema requires.
func parseServerSaw(v []byte) (*json.RawMessage, string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		return nil, "stored probe is not a JSON object: " + err.Error(), false
	}
	raw, ok := obj["server_handshake"]
	if !ok {
		return nil, "stored probe has no server_handshake member", false
	}
	var sh map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sh); err != nil || sh == nil {
		return nil, "server_handshake is not an object: " + string(raw), false
	}
	var typed struct {
		ServerLanguage  *string `json:"server_language"`
		TLSMode         *string `json:"tls_mode"`
		PeerCertificate *struct {
			KeyType *string `json:"key_type"`
			SHA256  *string `json:"sha256"`
		} `json:"peer_certificate"`
	}
	_, hasPC := sh["peer_certificate"]
	if err := json.Unmarshal(raw, &typed); err != nil || typed.ServerLanguage == nil || typed.TLSMode == nil || !hasPC ||
		(typed.PeerCertificate != nil && (typed.PeerCertificate.KeyType == nil || typed.PeerCertificate.SHA256 == nil ||
			!sha256Hex.MatchString(*typed.PeerCertificate.SHA256))) {
		return nil, "server_handshake lacks server_language, tls_mode or a well-formed peer_certificate: " + string(raw), false
	}
	out := json.RawMessage(raw)
	return &out, "", true
}
