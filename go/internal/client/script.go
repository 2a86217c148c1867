package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/report"
)

// ScriptStep is one row of the contract's KV script.
type ScriptStep struct {
	Name  string
	Op    string // "put" or "get"
	Key   string
	Value []byte // Put: sent; Get: expected (nil = special check)
	Check func(got []byte) (msg string, ok bool)
}

// Binary256 is the bytes 0x00..=0xFF in order.
func Binary256() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// OneMiB is 1,048,576 bytes, byte i = i mod 251.
func OneMiB() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// UnicodeKey is the script's non-ASCII key.
const UnicodeKey = "ключ-🔑-键"

// Script returns the contract's KV script for a client of language lang.
func Script(lang string) []ScriptStep {
	bin, big := Binary256(), OneMiB()
	probeValue := []byte(fmt.Sprintf(`{"client_language":%q,"server_handshake":null}`, lang))
	return []ScriptStep{
		{Name: "put-ascii", Op: "put", Key: "ascii", Value: []byte("hello, soup")},
		{Name: "get-ascii", Op: "get", Key: "ascii", Value: []byte("hello, soup")},
		{Name: "put-binary", Op: "put", Key: "binary", Value: bin},
		{Name: "get-binary", Op: "get", Key: "binary", Value: bin},
		{Name: "put-empty", Op: "put", Key: "empty", Value: []byte{}},
		{Name: "get-empty", Op: "get", Key: "empty", Value: []byte{}},
		{Name: "put-1mib", Op: "put", Key: "large", Value: big},
		{Name: "get-1mib", Op: "get", Key: "large", Value: big},
		{Name: "put-unicode-key", Op: "put", Key: UnicodeKey, Value: []byte("unicode key")},
		{Name: "get-unicode-key", Op: "get", Key: UnicodeKey, Value: []byte("unicode key")},
		{Name: "put-overwrite-1", Op: "put", Key: "overwrite", Value: []byte("first")},
		{Name: "put-overwrite-2", Op: "put", Key: "overwrite", Value: []byte("second")},
		{Name: "get-overwrite", Op: "get", Key: "overwrite", Value: []byte("second")},
		{Name: "put-handshake-probe", Op: "put", Key: "handshake-probe", Value: probeValue},
		{Name: "get-handshake-probe", Op: "get", Key: "handshake-probe"},
		{Name: "get-missing", Op: "get", Key: "missing-key"},
	}
}

// script runs every step on one connection.
func (r *run) script(ctx context.Context, kv kvproto.KVClient) {
	var transportErr error
	var transportStatus *status.Status
	connected := false
	for _, st := range Script("go") {
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

		var p peer.Peer
		var got []byte
		var err error
		start := time.Now()
		if st.Op == "put" {
			_, err = kv.Put(ctx, &kvproto.PutRequest{Key: st.Key, Value: st.Value}, grpc.Peer(&p))
		} else {
			var resp *kvproto.GetResponse
			resp, err = kv.Get(ctx, &kvproto.GetRequest{Key: st.Key}, grpc.Peer(&p))
			if err == nil {
				got = resp.GetValue()
				if got == nil {
					got = []byte{}
				}
			}
		}
		elapsed := time.Since(start)
		step.LatencyUs = float64(elapsed.Nanoseconds()) / 1000
		r.recordPeer(&p)

		s := status.Convert(err)
		step.Status = StatusName(s.Code())
		step.Message = s.Message()

		if err != nil && isTransportFailure(err) {
			transportErr, transportStatus = err, s
			step.OK = false
			if st.Op == "put" {
				setValue(&step, st.Value)
			}
			r.setError(classifyTransport(err, connected, report.StageConnect), err.Error())
			r.addStep(step)
			continue
		}
		if !connected {
			connected = true
			r.firstRPC(start.Add(elapsed))
		}

		switch {
		case st.Op == "put":
			setValue(&step, st.Value)
			step.OK = err == nil
		case st.Name == "get-missing":
			if err == nil {
				setValue(&step, got)
				step.OK = false
				step.Message = "expected an error status for a missing key, got OK"
			} else {
				step.OK = true
			}
		case err != nil:
			step.OK = false
		case st.Name == "get-handshake-probe":
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
	}
	if transportErr != nil && codes.DeadlineExceeded == transportStatus.Code() {
		r.logger.Error("the KV script ran out of time", "error", transportErr)
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
