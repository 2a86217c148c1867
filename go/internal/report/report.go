// Package report holds the JSON report a peer client prints
// (proto/peer-report.schema.json).
package report

import (
	"bytes"
	"encoding/json"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
)

// Schema is the value of the report's "schema" member.
const Schema = "soup-rpc/peer-report/v1"

// Error stages of the schema.
const (
	StageUnsupported = "unsupported"
	StageSpawn       = "spawn"
	StageHandshake   = "handshake"
	StageConnect     = "connect"
	StageTLS         = "tls"
	StageRPC         = "rpc"
	StageShutdown    = "shutdown"
	StageTimeout     = "timeout"
	StageInternal    = "internal"
)

type Report struct {
	Schema     string      `json:"schema"`
	Peer       Peer        `json:"peer"`
	Requested  Requested   `json:"requested"`
	Observed   Observed    `json:"observed"`
	Timings    Timings     `json:"timings"`
	Steps      []Step      `json:"steps"`
	PluginExit *PluginExit `json:"plugin_exit"`
	OK         bool        `json:"ok"`
	Error      *Error      `json:"error"`
}

type Peer struct {
	Language       string `json:"language"`
	Implementation string `json:"implementation"`
}

type Requested struct {
	TLS           string   `json:"tls"`
	Key           string   `json:"key"`
	Transport     string   `json:"transport"`
	ServerCommand []string `json:"server_command"`
	Versions      []int    `json:"versions"`
	Script        string   `json:"script"`
}

type Observed struct {
	HandshakeLine     *string          `json:"handshake_line"`
	Network           *string          `json:"network"`
	TLS               *TLS             `json:"tls"`
	ServerCertificate *certinfo.Info   `json:"server_certificate"`
	ClientCertificate *certinfo.Info   `json:"client_certificate"`
	ServerSaw         *json.RawMessage `json:"server_saw"`
}

type TLS struct {
	Version     *string `json:"version"`
	CipherSuite *string `json:"cipher_suite"`
}

type Timings struct {
	SpawnToHandshakeMs    *float64 `json:"spawn_to_handshake_ms"`
	HandshakeToFirstRPCMs *float64 `json:"handshake_to_first_rpc_ms"`
	TotalMs               float64  `json:"total_ms"`
}

type Step struct {
	Step        string  `json:"step"`
	Op          string  `json:"op"`
	Key         string  `json:"key"`
	OK          bool    `json:"ok"`
	Status      string  `json:"status"`
	Message     string  `json:"message"`
	ValueLen    *int    `json:"value_len"`
	ValueSHA256 *string `json:"value_sha256"`
	LatencyUs   float64 `json:"latency_us"`
}

type PluginExit struct {
	How    string `json:"how"`
	Code   *int   `json:"code"`
	Signal *int   `json:"signal"`
}

type Error struct {
	Stage      string   `json:"stage"`
	Message    string   `json:"message"`
	StderrTail []string `json:"stderr_tail,omitempty"`
}

// Marshal renders r as one line of JSON (no HTML escaping).
func Marshal(r *Report) ([]byte, error) {
	if r.Steps == nil {
		r.Steps = []Step{}
	}
	if r.Requested.ServerCommand == nil {
		r.Requested.ServerCommand = []string{}
	}
	if r.Requested.Versions == nil {
		r.Requested.Versions = []int{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
