package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/soup-rpc/soup-rpc/go/internal/certinfo"
	"github.com/soup-rpc/soup-rpc/go/internal/client"
	"github.com/soup-rpc/soup-rpc/go/internal/testpki"
)

// schemaPath is proto/peer-report.schema.json, relative to this package.
const schemaPath = "../../../proto/peer-report.schema.json"

var (
	binDir string // holds the soup-go built for these tests
	bin    string
	schema *jsonschema.Schema
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	binDir, err = os.MkdirTemp("", "soup-go-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	bin = filepath.Join(binDir, "soup-go")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building soup-go:", err)
		return 1
	}
	schema, err = jsonschema.NewCompiler().Compile(schemaPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compiling the report schema:", err)
		return 1
	}
	return m.Run()
}

type result struct {
	exit   int
	stdout []byte
	stderr []byte
	report map[string]any
}

// runClient runs `soup-go client ARGS -- SERVER...`, waits for it, checks
// that it printed exactly one schema-valid report and that no process it
// started is still alive.
func runClient(t *testing.T, args []string, server ...string) result {
	t.Helper()
	cmd, tmp := clientCommand(t, args, server...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	err := cmd.Run()
	timer.Stop()
	return checkClient(t, err, out.Bytes(), errb.Bytes(), tmp)
}

// clientCommand is `soup-go client ARGS -- SERVER...` with a private TMPDIR:
// go-plugin's RunnerFunc socket dir (and the plugin's socket) land there, so
// the test can check nothing is left behind.
func clientCommand(t *testing.T, args []string, server ...string) (*exec.Cmd, string) {
	t.Helper()
	full := append([]string{"client"}, args...)
	full = append(full, "--")
	full = append(full, server...)
	cmd := exec.Command(bin, full...)
	tmp := t.TempDir()
	cmd.Env = append(scrubbedEnv(), "SOUP_GO_LOG=debug", "TMPDIR="+tmp)
	return cmd, tmp
}

// checkClient checks a finished client run (err from cmd.Wait): exactly one
// schema-valid report unless it was a usage error, no process left, nothing
// left in its TMPDIR.
func checkClient(t *testing.T, err error, stdout, stderr []byte, tmp string) result {
	t.Helper()
	res := result{stdout: stdout, stderr: stderr}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	default:
		t.Fatalf("running client: %v", err)
	}
	assertNoLeftovers(t)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
	if res.exit == 2 {
		return res
	}
	if n := bytes.Count(res.stdout, []byte("\n")); n != 1 {
		t.Fatalf("stdout has %d lines, want exactly one report:\n%s\nstderr:\n%s", n, res.stdout, res.stderr)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.stdout))
	if err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, res.stdout)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("report does not validate against %s: %v\n%s", schemaPath, err, res.stdout)
	}
	if err := json.Unmarshal(res.stdout, &res.report); err != nil {
		t.Fatal(err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("client stderr:\n%s", res.stderr)
	}
	return res
}

// scrubbedEnv drops PLUGIN_* variables the test process may have inherited.
func scrubbedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGIN_") && !strings.HasPrefix(kv, "BASIC_PLUGIN=") && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	return env
}

// assertNoLeftovers fails when any process runs the test binary.
func assertNoLeftovers(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return // not Linux
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(cmdline, []byte(bin+"\x00")) || bytes.Contains(cmdline, []byte(binDir)) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if strings.Contains(string(stat), ") Z ") {
				t.Errorf("zombie left behind: pid %d", pid)
				continue
			}
			t.Errorf("process left behind: pid %d %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

var wantSteps = []string{
	"put-ascii", "get-ascii", "put-binary", "get-binary", "put-empty", "get-empty",
	"put-1mib", "get-1mib", "put-unicode-key", "get-unicode-key", "put-overwrite-1",
	"put-overwrite-2", "get-overwrite", "put-handshake-probe", "get-handshake-probe", "get-missing",
}

// assertSuccess checks a report of a run that must fully pass.
func assertSuccess(t *testing.T, res result, tlsMode string) {
	t.Helper()
	r := res.report
	if res.exit != 0 || r["ok"] != true || r["error"] != nil {
		t.Fatalf("exit %d, ok %v, error %v\n%s\nstderr:\n%s", res.exit, r["ok"], r["error"], res.stdout, res.stderr)
	}
	steps, _ := r["steps"].([]any)
	if len(steps) != len(wantSteps) {
		t.Fatalf("%d steps, want %d", len(steps), len(wantSteps))
	}
	for i, s := range steps {
		st := s.(map[string]any)
		if st["step"] != wantSteps[i] || st["ok"] != true {
			t.Errorf("step %d = %v", i, st)
		}
	}
	missing := steps[len(steps)-1].(map[string]any)
	if missing["status"] != "NOT_FOUND" || !strings.Contains(missing["message"].(string), "missing-key") {
		t.Errorf("get-missing = %v", missing)
	}
	big := steps[7].(map[string]any)
	if big["value_len"] != float64(1<<20) || big["value_sha256"] != certinfo.SHA256Hex(client.Large(1<<20)) {
		t.Errorf("get-1mib = %v", big)
	}
	if exit := get(r, "plugin_exit"); fmt.Sprint(exit) != "map[code:0 how:exited signal:<nil>]" {
		t.Errorf("plugin_exit = %v", exit)
	}
	line, _ := get(r, "observed", "handshake_line").(string)
	parts := strings.Split(line, "|")
	if len(parts) != 6 || parts[0] != "1" || parts[1] != "1" || parts[2] != "unix" || parts[4] != "grpc" {
		t.Errorf("handshake line %q", line)
	}
	if get(r, "observed", "network") != "unix" {
		t.Errorf("network = %v", get(r, "observed", "network"))
	}
	if v, s := get(r, "requested", "versions"), get(r, "requested", "script"); fmt.Sprint(v) != "[1]" || s != "kv" {
		t.Errorf("requested versions %v, script %v", v, s)
	}
	if get(r, "observed", "server_saw", "server_language") != "go" || get(r, "observed", "server_saw", "tls_mode") != tlsMode {
		t.Errorf("server_saw = %v", get(r, "observed", "server_saw"))
	}
	for _, k := range []string{"spawn_to_handshake_ms", "handshake_to_first_rpc_ms"} {
		if v, ok := get(r, "timings", k).(float64); !ok || v <= 0 {
			t.Errorf("timings.%s = %v", k, get(r, "timings", k))
		}
	}
	if tlsMode == "off" {
		return
	}
	// The certificate the server saw is the one this client presented.
	if got, want := get(r, "observed", "server_saw", "peer_certificate", "sha256"), get(r, "observed", "client_certificate", "sha256"); got == nil || got != want {
		t.Errorf("server saw certificate %v, client presented %v", got, want)
	}
	if get(r, "observed", "tls", "version") != "TLSv1.3" {
		t.Errorf("tls = %v", get(r, "observed", "tls"))
	}
	if cs, _ := get(r, "observed", "tls", "cipher_suite").(string); !strings.HasPrefix(cs, "TLS_") {
		t.Errorf("cipher suite %q", cs)
	}
}

func TestOff(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	assertSuccess(t, res, "off")
	r := res.report
	for _, k := range []string{"tls", "server_certificate", "client_certificate"} {
		if get(r, "observed", k) != nil {
			t.Errorf("observed.%s = %v, want null", k, get(r, "observed", k))
		}
	}
	if get(r, "observed", "server_saw", "peer_certificate") != nil {
		t.Error("plaintext server saw a certificate")
	}
	if line := get(r, "observed", "handshake_line").(string); !strings.HasSuffix(line, "|grpc|") {
		t.Errorf("plaintext handshake carries a certificate: %q", line)
	}
}

func TestAutoP521(t *testing.T) {
	res := runClient(t, []string{"--tls", "auto", "--key", "ec-p521", "--transport", "unix"},
		bin, "server", "--tls", "auto", "--key", "match", "--store", t.TempDir())
	assertSuccess(t, res, "auto")
	r := res.report
	for _, side := range []string{"server_certificate", "client_certificate"} {
		if get(r, "observed", side, "key_type") != "ec-p521" || get(r, "observed", side, "signature_algorithm") != "ecdsa-with-SHA512" {
			t.Errorf("%s = %v", side, get(r, "observed", side))
		}
	}
	// Field 6 of the handshake is the certificate the server presented in TLS.
	line := get(r, "observed", "handshake_line").(string)
	der, err := decodeField6(strings.Split(line, "|")[5])
	if err != nil {
		t.Fatal(err)
	}
	if certinfo.SHA256Hex(der) != get(r, "observed", "server_certificate", "sha256") {
		t.Error("handshake certificate differs from the TLS server certificate")
	}
	if strings.HasSuffix(strings.Split(line, "|")[5], "=") {
		t.Error("go-plugin writes field 6 unpadded")
	}
	if !bytes.Contains(res.stderr, []byte("PLUGIN_UNIX_SOCKET_DIR")) {
		t.Error("expected the RunnerFunc socket-dir log line on stderr")
	}
}

func TestManualAllKeyTypes(t *testing.T) {
	for _, key := range []string{"ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-4096"} {
		t.Run(key, func(t *testing.T) {
			dir := t.TempDir()
			ca, err := testpki.NewCA(key)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := ca.NewLeaf(key, "server")
			if err != nil {
				t.Fatal(err)
			}
			host, err := ca.NewLeaf(key, "host")
			if err != nil {
				t.Fatal(err)
			}
			sf, err := srv.WriteFiles(dir, "server", ca)
			if err != nil {
				t.Fatal(err)
			}
			hf, err := host.WriteFiles(dir, "host", ca)
			if err != nil {
				t.Fatal(err)
			}
			res := runClient(t, []string{"--tls", "manual", "--key", key, "--transport", "unix",
				"--tls-cert", hf.Cert, "--tls-key", hf.Key, "--tls-ca", hf.CA},
				bin, "server", "--tls", "manual", "--key", key, "--store", filepath.Join(dir, "store"),
				"--tls-cert", sf.Cert, "--tls-key", sf.Key, "--tls-ca", sf.CA)
			assertSuccess(t, res, "manual")
			r := res.report
			if got := get(r, "observed", "server_certificate", "sha256"); got != certinfo.SHA256Hex(srv.Cert.Raw) {
				t.Errorf("server certificate %v is not the server leaf", got)
			}
			if got := get(r, "observed", "client_certificate", "sha256"); got != certinfo.SHA256Hex(host.Cert.Raw) {
				t.Errorf("client certificate %v is not the host leaf", got)
			}
			for _, side := range []string{"server_certificate", "client_certificate"} {
				if get(r, "observed", side, "key_type") != key {
					t.Errorf("%s key type %v", side, get(r, "observed", side, "key_type"))
				}
			}
			if get(r, "observed", "server_saw", "peer_certificate", "key_type") != key {
				t.Errorf("server saw %v", get(r, "observed", "server_saw"))
			}
			// go-plugin does not advertise a TLSProvider's certificate.
			if line := get(r, "observed", "handshake_line").(string); !strings.HasSuffix(line, "|grpc|") {
				t.Errorf("handshake %q has a field 6", line)
			}
		})
	}
}

func TestAutoOtherKeyIsUnsupported(t *testing.T) {
	res := runClient(t, []string{"--tls", "auto", "--key", "ec-p256", "--transport", "unix"},
		bin, "server", "--store", t.TempDir())
	if res.exit != 1 || get(res.report, "error", "stage") != "unsupported" || res.report["ok"] != false {
		t.Errorf("exit %d, report %s", res.exit, res.stdout)
	}
	if get(res.report, "plugin_exit") != nil || get(res.report, "observed", "handshake_line") != nil {
		t.Error("an unsupported run must not start the plugin")
	}
}

func TestUsageErrorPrintsNoReport(t *testing.T) {
	for _, args := range [][]string{
		{"--tls", "sometimes"},
		{"--key", "dsa-1024"},
		{"--tls", "manual"},
		{"--tls", "off", "--key", "ec-p256"}, // no server command
		{"--tls", "off", "--versions", "", "--", bin, "server"},
		{"--tls", "off", "--versions", "1,x", "--", bin, "server"},
		{"--tls", "off", "--versions", "1,,2", "--", bin, "server"},
		{"--tls", "off", "--versions", "-1", "--", bin, "server"},
		{"--tls", "off", "--script", "nope", "--", bin, "server"},
		{"--tls", "off", "--script", "put-stream", "--", bin, "server"},
		{"--tls", "off", "--script", "put-large:5MiB", "--", bin, "server"},
		{"--tls", "off", "--script", "kv:1", "--", bin, "server"},
	} {
		res := runClient(t, args)
		if res.exit != 2 || len(res.stdout) != 0 || !bytes.Contains(res.stderr, []byte("soup-go client: ")) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, res.exit, res.stdout, res.stderr)
		}
	}
}

// A host asking for AutoMTLS from a server told --tls off: the server drops
// PLUGIN_CLIENT_CERT and serves plaintext, the host dials TLS and fails.
func TestAutoHostPlaintextServerFails(t *testing.T) {
	res := runClient(t, []string{"--tls", "auto", "--key", "ec-p521", "--transport", "unix", "--timeout", "15"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	r := res.report
	if res.exit != 1 || r["ok"] != false {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	if line := get(r, "observed", "handshake_line").(string); !strings.HasSuffix(line, "|grpc|") {
		t.Errorf("--tls off server advertised a certificate: %q", line)
	}
	stage := get(r, "error", "stage")
	if stage != "tls" && stage != "connect" {
		t.Errorf("error = %v", r["error"])
	}
	steps := r["steps"].([]any)
	if len(steps) != len(wantSteps) {
		t.Errorf("%d steps reported, want all %d", len(steps), len(wantSteps))
	}
	for _, s := range steps {
		if s.(map[string]any)["ok"] != false {
			t.Errorf("step %v ok over a failed transport", s)
		}
	}
}

func TestMissingServerBinaryIsSpawnError(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix"},
		filepath.Join(t.TempDir(), "no-such-plugin"))
	if res.exit != 1 || get(res.report, "error", "stage") != "spawn" || get(res.report, "plugin_exit") != nil {
		t.Errorf("exit %d: %s", res.exit, res.stdout)
	}
}

func TestPluginWithoutHandshakeIsHandshakeError(t *testing.T) {
	// The server refuses a wrong cookie, as go-plugin does: exit 1, no line.
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix"},
		"/bin/sh", "-c", `echo "not a plugin" >&2; exit 3`)
	r := res.report
	if res.exit != 1 || get(r, "error", "stage") != "handshake" {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	if fmt.Sprint(get(r, "plugin_exit")) != "map[code:3 how:exited signal:<nil>]" {
		t.Errorf("plugin_exit = %v", get(r, "plugin_exit"))
	}
	if tail := fmt.Sprint(get(r, "error", "stderr_tail")); !strings.Contains(tail, "not a plugin") {
		t.Errorf("stderr_tail = %v", tail)
	}
}

func TestTimeoutKillsThePlugin(t *testing.T) {
	start := time.Now()
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--timeout", "1"},
		"/bin/sh", "-c", "exec sleep 30")
	r := res.report
	if res.exit != 1 || get(r, "error", "stage") != "timeout" {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	if how := get(r, "plugin_exit", "how"); how != "killed" {
		t.Errorf("plugin_exit = %v", get(r, "plugin_exit"))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s for a 1 s timeout", d)
	}
}

func TestCapabilities(t *testing.T) {
	out, err := exec.Command(bin, "capabilities").Output()
	if err != nil {
		t.Fatal(err)
	}
	var caps struct {
		Language string `json:"language"`
		Client   struct {
			Unsupported []struct {
				TLS        string   `json:"tls"`
				Keys       []string `json:"keys"`
				Transports []string `json:"transports"`
				Reason     string   `json:"reason"`
			} `json:"unsupported"`
		} `json:"client"`
		Server struct {
			Unsupported []struct {
				TLS        string   `json:"tls"`
				Keys       []string `json:"keys"`
				Transports []string `json:"transports"`
				Reason     string   `json:"reason"`
			} `json:"unsupported"`
		} `json:"server"`
	}
	if err := json.Unmarshal(out, &caps); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if caps.Language != "go" || len(caps.Client.Unsupported) != 1 || len(caps.Server.Unsupported) != 2 {
		t.Errorf("capabilities = %s", out)
	}
	for _, r := range append(caps.Client.Unsupported, caps.Server.Unsupported...) {
		if r.Reason == "" || len(r.Keys) == 0 || len(r.Transports) == 0 {
			t.Errorf("incomplete rule %+v", r)
		}
		for _, k := range r.Keys {
			if k == "ec-p521" {
				t.Errorf("ec-p521 is what go-plugin does support: %+v", r)
			}
		}
	}
}

// TestBench runs `soup-go bench` on a small workload against soup-go server
// and checks the JSON it prints (shape and positive figures, no timings).
func TestBench(t *testing.T) {
	for _, tlsMode := range []string{"auto", "off"} {
		t.Run(tlsMode, func(t *testing.T) {
			store := t.TempDir()
			cmd := exec.Command(bin, "bench", "--tls", tlsMode, "--launches", "2", "--gets", "50",
				"--duration", "0.2", "--", bin, "server", "--store", store)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			tmp := t.TempDir()
			cmd.Env = append(scrubbedEnv(), "TMPDIR="+tmp)
			timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
			err := cmd.Run()
			timer.Stop()
			assertNoLeftovers(t)
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
			if err != nil {
				t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.Bytes(), errb.Bytes())
			}
			if n := bytes.Count(out.Bytes(), []byte("\n")); n != 1 {
				t.Fatalf("stdout has %d lines, want one JSON object:\n%s", n, out.Bytes())
			}
			var r map[string]any
			dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
			dec.UseNumber()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out.Bytes())
			}
			wantKeys := []string{"host", "tls", "host_key", "transport", "server_command", "cold_start_ms",
				"get_latency_us", "ops_per_sec", "concurrency", "put_1mib_mb_per_s", "plugin_pid",
				"plugin_peak_rss_kib", "cpu_ms_per_10k_gets", "plugin_exit"}
			if len(r) != len(wantKeys) {
				t.Errorf("members %v, want exactly %v", r, wantKeys)
			}
			for _, k := range wantKeys {
				if _, ok := r[k]; !ok {
					t.Errorf("no %q member", k)
				}
			}
			if r["host"] != "go" || r["tls"] != tlsMode || r["host_key"] != "ec-p521" || r["transport"] != "unix" {
				t.Errorf("header = %v %v %v %v", r["host"], r["tls"], r["host_key"], r["transport"])
			}
			if got := fmt.Sprint(r["server_command"]); got != fmt.Sprint([]any{bin, "server", "--store", store}) {
				t.Errorf("server_command = %s", got)
			}
			positive := func(name string, v any) float64 {
				t.Helper()
				n, ok := v.(json.Number)
				f, err := n.Float64()
				if !ok || err != nil || !(f > 0) {
					t.Errorf("%s = %v, want a positive number", name, v)
				}
				return f
			}
			for field, n := range map[string]int64{"cold_start_ms": 2, "get_latency_us": 50} {
				s, ok := r[field].(map[string]any)
				if !ok || len(s) != 6 {
					t.Errorf("%s = %v, want {n,min,p50,p90,p99,max}", field, r[field])
					continue
				}
				if got, _ := s["n"].(json.Number).Int64(); got != n {
					t.Errorf("%s.n = %v, want %d", field, s["n"], n)
				}
				prev := 0.0
				for _, q := range []string{"min", "p50", "p90", "p99", "max"} {
					v := positive(field+"."+q, s[q])
					if v < prev {
						t.Errorf("%s.%s = %v is below the previous percentile %v", field, q, v, prev)
					}
					prev = v
				}
			}
			positive("ops_per_sec", r["ops_per_sec"])
			if c, _ := r["concurrency"].(json.Number).Int64(); c != 64 {
				t.Errorf("concurrency = %v", r["concurrency"])
			}
			if exit := fmt.Sprint(r["plugin_exit"]); exit != "map[code:0 how:exited signal:<nil>]" {
				t.Errorf("plugin_exit = %v", exit)
			}
			if testing.Verbose() {
				t.Logf("bench: %s", out.Bytes())
			}
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--key", "ec-p256", "--", bin, "server"}, // AutoMTLS is P-521 only
		{"--tls", "manual", "--", bin, "server"},
		{"--transport", "tcp", "--", bin, "server"},
		{"--launches", "0", "--", bin, "server"},
		{"--duration", "0"},
	} {
		cmd := exec.Command(bin, append([]string{"bench"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("%v: %v, stdout %q, stderr %q", args, err, out.Bytes(), errb.Bytes())
		}
	}
	assertNoLeftovers(t)
}

func TestBenchFailingPluginExits1(t *testing.T) {
	cmd := exec.Command(bin, "bench", "--launches", "1", "--", "/bin/sh", "-c", `echo "not a plugin" >&2; exit 3`)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(scrubbedEnv(), "TMPDIR="+t.TempDir())
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || out.Len() != 0 {
		t.Fatalf("%v, stdout %q", err, out.Bytes())
	}
	if !bytes.Contains(errb.Bytes(), []byte("soup-go bench: cold-start launch 1")) || !bytes.Contains(errb.Bytes(), []byte("not a plugin")) {
		t.Errorf("stderr:\n%s", errb.Bytes())
	}
	assertNoLeftovers(t)
}

// rustServer is the Rust plugin, when it is built.
func rustServer(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs("../../../target/release/soup-server")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it)", p)
	}
	return p
}

// steps returns the report's steps, checking their names.
func steps(t *testing.T, r map[string]any, names ...string) []map[string]any {
	t.Helper()
	raw, _ := r["steps"].([]any)
	var out []map[string]any
	var got []string
	for _, s := range raw {
		out = append(out, s.(map[string]any))
		got = append(got, s.(map[string]any)["step"].(string))
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("steps %v, want %v", got, names)
	}
	return out
}

// A plugin answering a version the host did not offer is refused by
// go-plugin's own check, before any connection.
func TestVersionMismatchIsHandshakeError(t *testing.T) {
	servers := map[string]func(t *testing.T) []string{
		"go": func(t *testing.T) []string { return []string{bin, "server", "--tls", "off", "--store", t.TempDir()} },
		"rust": func(t *testing.T) []string {
			return []string{rustServer(t), "server", "--peer-contract", "--tls", "off", "--store", t.TempDir()}
		},
	}
	for name, server := range servers {
		t.Run(name, func(t *testing.T) {
			res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--versions", "2"}, server(t)...)
			r := res.report
			if res.exit != 1 || r["ok"] != false || get(r, "error", "stage") != "handshake" {
				t.Fatalf("exit %d: %s", res.exit, res.stdout)
			}
			want := "incompatible API version with plugin. Plugin version: 1, Client versions: [2]"
			if msg := get(r, "error", "message"); msg != want {
				t.Errorf("message %q, want go-plugin's %q", msg, want)
			}
			if fmt.Sprint(get(r, "requested", "versions")) != "[2]" || get(r, "requested", "script") != "kv" {
				t.Errorf("requested = %v", r["requested"])
			}
			if line, _ := get(r, "observed", "handshake_line").(string); !strings.HasPrefix(line, "1|1|unix|") {
				t.Errorf("handshake line %q", line)
			}
			steps(t, r) // none: refused before any connection
			if get(r, "timings", "handshake_to_first_rpc_ms") != nil || get(r, "observed", "server_saw") != nil {
				t.Errorf("an RPC was made: %s", res.stdout)
			}
			// The plugin never got an address to Shutdown through: go-plugin kills it.
			if get(r, "plugin_exit", "how") != "killed" {
				t.Errorf("plugin_exit = %v", get(r, "plugin_exit"))
			}
		})
	}
}

// Several offered versions: the plugin's 1 is among them.
func TestVersionsListIncludingThePlugins(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--versions", "3,1,2", "--script", "get"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	r := res.report
	if res.exit != 0 || r["ok"] != true {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	if fmt.Sprint(get(r, "requested", "versions")) != "[3 1 2]" || get(r, "requested", "script") != "get" {
		t.Errorf("requested = %v", r["requested"])
	}
	st := steps(t, r, "put-ascii", "get-deadline")[1]
	if st["status"] != "OK" || st["key"] != "ascii" || st["op"] != "get" {
		t.Errorf("get-deadline after put-ascii = %v", st)
	}
	if !bytes.Contains(res.stderr, []byte("soup-peer: paused before get-deadline")) {
		t.Error("no pause marker on stderr")
	}
	if !bytes.Contains(res.stderr, []byte("using plugin: version=1")) {
		t.Error("go-plugin did not log the negotiated version 1")
	}
}

func TestPutStreamThenGetStream(t *testing.T) {
	for name, server := range map[string]func(t *testing.T) string{
		"go":   func(*testing.T) string { return bin },
		"rust": rustServer,
	} {
		t.Run(name, func(t *testing.T) {
			srv := server(t)
			store := t.TempDir()
			args := []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script"}
			var putNames, getNames []string
			for i := range 5 {
				putNames = append(putNames, fmt.Sprintf("put-stream-%d", i))
				getNames = append(getNames, fmt.Sprintf("get-stream-%d", i))
			}
			put := runClient(t, append(args, "put-stream:5"), srv, "server", "--tls", "off", "--store", store)
			if put.exit != 0 || put.report["ok"] != true || get(put.report, "requested", "script") != "put-stream:5" {
				t.Fatalf("put-stream:5: exit %d: %s", put.exit, put.stdout)
			}
			got := runClient(t, append(args, "get-stream:5"), srv, "server", "--tls", "off", "--store", store)
			if got.exit != 0 || got.report["ok"] != true || get(got.report, "requested", "script") != "get-stream:5" {
				t.Fatalf("get-stream:5: exit %d: %s", got.exit, got.stdout)
			}
			puts, gets := steps(t, put.report, putNames...), steps(t, got.report, getNames...)
			for i := range 5 {
				want := certinfo.SHA256Hex(client.Stream(uint64(i)))
				for _, st := range []map[string]any{puts[i], gets[i]} {
					if st["ok"] != true || st["status"] != "OK" || st["key"] != fmt.Sprintf("stream-%d", i) ||
						st["value_len"] != float64(1024) || st["value_sha256"] != want {
						t.Errorf("step %v, want stream(%d) (sha256 %s)", st, i, want)
					}
				}
			}
			if exit := fmt.Sprint(get(got.report, "plugin_exit")); exit != "map[code:0 how:exited signal:<nil>]" {
				t.Errorf("plugin_exit = %v", exit)
			}
		})
	}
}

// get-stream runs every step: on an empty store each one fails with NOT_FOUND.
func TestGetStreamRunsEveryStep(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script", "get-stream:3"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	r := res.report
	if res.exit != 1 || r["ok"] != false {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	for _, st := range steps(t, r, "get-stream-0", "get-stream-1", "get-stream-2") {
		if st["ok"] != false || st["status"] != "NOT_FOUND" || st["value_len"] != nil {
			t.Errorf("step %v", st)
		}
	}
	if get(r, "error", "stage") != "rpc" || !strings.HasPrefix(get(r, "error", "message").(string), "get-stream-0: NOT_FOUND: ") {
		t.Errorf("error = %v", r["error"])
	}
}

func TestPutLarge5MiB(t *testing.T) {
	const n = 5 << 20 // over grpc-go's 4 MiB default
	want := certinfo.SHA256Hex(client.Large(n))
	for name, server := range map[string]func(t *testing.T) string{
		"go":   func(*testing.T) string { return bin },
		"rust": rustServer,
	} {
		t.Run(name, func(t *testing.T) {
			res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script", "put-large:5242880"},
				server(t), "server", "--tls", "off", "--store", t.TempDir())
			r := res.report
			if res.exit != 0 || r["ok"] != true || get(r, "requested", "script") != "put-large:5242880" {
				t.Fatalf("exit %d: %s", res.exit, res.stdout)
			}
			for _, st := range steps(t, r, "put-large", "get-large") {
				if st["ok"] != true || st["key"] != "large" || st["value_len"] != float64(n) || st["value_sha256"] != want {
					t.Errorf("step %v", st)
				}
			}
		})
	}
}

// Over the plugin's own limit (soup-go server: 64 MiB) the error is the
// plugin's, and get-large still runs.
func TestPutLargeOverThePluginsLimit(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script", "put-large:67108864"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	r := res.report
	if res.exit != 1 || r["ok"] != false {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	s := steps(t, r, "put-large", "get-large")
	if s[0]["ok"] != false || s[0]["status"] != "RESOURCE_EXHAUSTED" || !strings.Contains(s[0]["message"].(string), "vs. 67108864") {
		t.Errorf("put-large = %v", s[0])
	}
	if s[1]["ok"] != false || s[1]["status"] != "NOT_FOUND" {
		t.Errorf("get-large = %v", s[1])
	}
	if get(r, "error", "stage") != "rpc" || !strings.HasPrefix(get(r, "error", "message").(string), "put-large: RESOURCE_EXHAUSTED: ") {
		t.Errorf("error = %v", r["error"])
	}
	if exit := fmt.Sprint(get(r, "plugin_exit")); exit != "map[code:0 how:exited signal:<nil>]" {
		t.Errorf("plugin_exit = %v", exit)
	}
}

func TestPutLargeBeyondProtobufIsUnsupported(t *testing.T) {
	res := runClient(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script", "put-large:4294967296"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	if res.exit != 1 || get(res.report, "error", "stage") != "unsupported" || get(res.report, "plugin_exit") != nil {
		t.Errorf("exit %d: %s", res.exit, res.stdout)
	}
}

// signalWriter collects what is written and closes seen once it holds want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want []byte
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *signalWriter) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf.Bytes()...)
}

// hold: after put-ascii the host keeps the plugin until its stdin reaches
// EOF, then shuts it down and reports as usual.
func TestHoldReturnsAfterStdinIsClosed(t *testing.T) {
	cmd, tmp := clientCommand(t, []string{"--tls", "off", "--key", "ec-p256", "--transport", "unix", "--script", "hold"},
		bin, "server", "--tls", "off", "--store", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	errw := &signalWriter{want: []byte("hold: keeping the plugin until stdin reaches EOF"), seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &out, errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	select {
	case <-errw.seen:
	case err := <-exited:
		reaped = true
		t.Fatalf("the client ended before holding: %v\nstdout %s\nstderr:\n%s", err, out.Bytes(), errw.Bytes())
	case <-time.After(30 * time.Second):
		t.Fatalf("the client did not start holding within 30 s; stderr:\n%s", errw.Bytes())
	}
	// Holding: the put-ascii step is done, no report yet, the client still runs.
	select {
	case err := <-exited:
		reaped = true
		t.Fatalf("the client ended with its stdin open: %v", err)
	default:
	}
	if bytes.Contains(errw.Bytes(), []byte("stdin reached EOF")) {
		t.Fatal("the client saw EOF on an open stdin")
	}
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	select {
	case waitErr = <-exited:
		reaped = true
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not finish within 30 s of its stdin closing")
	}
	res := checkClient(t, waitErr, out.Bytes(), errw.Bytes(), tmp)
	r := res.report
	if res.exit != 0 || r["ok"] != true || get(r, "requested", "script") != "hold" {
		t.Fatalf("exit %d: %s", res.exit, res.stdout)
	}
	st := steps(t, r, "put-ascii")[0]
	if st["ok"] != true || st["key"] != "ascii" || st["value_sha256"] != certinfo.SHA256Hex([]byte("hello, soup")) {
		t.Errorf("put-ascii = %v", st)
	}
	if exit := fmt.Sprint(get(r, "plugin_exit")); exit != "map[code:0 how:exited signal:<nil>]" {
		t.Errorf("plugin_exit = %v", exit)
	}
	if !bytes.Contains(res.stderr, []byte("hold: stdin reached EOF")) {
		t.Error("no EOF log line")
	}
}
