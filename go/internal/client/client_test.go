package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
)

func TestStatusNames(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.OK: "OK", codes.NotFound: "NOT_FOUND", codes.Unavailable: "UNAVAILABLE",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.Unauthenticated: "UNAUTHENTICATED",
		codes.Canceled: "CANCELLED", codes.Code(42): "CODE_42",
	} {
		if got := StatusName(c); got != want {
			t.Errorf("StatusName(%v) = %q, want %q", c, got, want)
		}
	}
}

func TestScriptData(t *testing.T) {
	s := Script("go")
	if len(s) != 16 {
		t.Fatalf("%d steps", len(s))
	}
	bin := s[2].Value
	for i, b := range bin {
		if int(b) != i {
			t.Fatalf("binary[%d] = %d", i, b)
		}
	}
	if len(bin) != 256 {
		t.Fatalf("binary is %d bytes", len(bin))
	}
	big := s[6].Value
	if len(big) != 1048576 || big[250] != 250 || big[251] != 0 || big[1048575] != byte(1048575%251) {
		t.Error("1 MiB value is not i mod 251")
	}
	if s[4].Value == nil || len(s[4].Value) != 0 {
		t.Error("empty value must be zero bytes")
	}
	if s[8].Key != "ключ-🔑-键" || !utf8.ValidString(s[8].Key) {
		t.Errorf("unicode key %q", s[8].Key)
	}
	if got := string(s[13].Value); got != `{"client_language":"go","server_handshake":null}` {
		t.Errorf("probe value %s", got)
	}
}

func TestParseServerSaw(t *testing.T) {
	good := `{"client_language":"go","server_handshake":{"server_language":"rust","tls_mode":"auto","peer_certificate":{"key_type":"ec-p256","sha256":"` + strings.Repeat("ab", 32) + `"}}}`
	if saw, msg, ok := parseServerSaw([]byte(good)); !ok || saw == nil || msg != "" {
		t.Errorf("good probe rejected: %s", msg)
	}
	plain := `{"server_handshake":{"server_language":"go","tls_mode":"off","peer_certificate":null}}`
	if _, _, ok := parseServerSaw([]byte(plain)); !ok {
		t.Error("null peer_certificate rejected")
	}
	for _, bad := range []string{
		`{"client_language":"go","server_handshake":null}`, // not enriched
		`{"client_language":"go"}`,
		`hello`,
		`{"server_handshake":{"server_language":"go","tls_mode":"off"}}`,
		`{"server_handshake":{"server_language":"go","tls_mode":"off","peer_certificate":{"key_type":"x","sha256":"XYZ"}}}`,
	} {
		if saw, _, ok := parseServerSaw([]byte(bad)); ok || saw != nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestLineTeeRecordsFirstLineAndPassesAllThrough(t *testing.T) {
	src := "1|1|unix|/tmp/s|grpc|\r\nlater output\n"
	l := &lineTee{r: io.NopCloser(&slowReader{s: src}), seen: make(chan struct{})}
	all, err := io.ReadAll(l)
	if err != nil || string(all) != src {
		t.Fatalf("passed %q, %v", all, err)
	}
	line, _, ok := l.First()
	if !ok || line != "1|1|unix|/tmp/s|grpc|" {
		t.Errorf("first line %q, %v", line, ok)
	}
	// No newline before EOF: the partial line is the handshake line.
	l = &lineTee{r: io.NopCloser(strings.NewReader("garbage")), seen: make(chan struct{})}
	_, _ = io.ReadAll(l)
	if line, _, ok := l.First(); !ok || line != "garbage" {
		t.Errorf("partial line %q, %v", line, ok)
	}
}

func TestTailReaderKeepsLastLines(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 50; i++ {
		b.WriteString("line ")
		b.WriteByte(byte('A' + i%26))
		b.WriteByte('\n')
	}
	b.WriteString("unterminated")
	tr := &tailReader{r: io.NopCloser(&slowReader{s: b.String()}), max: 5}
	_, _ = io.ReadAll(tr)
	tail := tr.Tail()
	if len(tail) != 5 || tail[4] != "unterminated" || tail[3] != "line X" {
		t.Errorf("tail = %q", tail)
	}
}

// slowReader returns 3 bytes at a time, splitting lines across reads.
type slowReader struct{ s string }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 3)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs([]string{"--tls", "manual", "--key", "secp384r1", "--tls-cert", "a", "--tls-key", "b", "--tls-ca", "c",
		"--timeout", "2.5", "--", "srv", "--tls", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Key != "ec-p384" || o.Timeout.Seconds() != 2.5 || strings.Join(o.Command, " ") != "srv --tls x" {
		t.Errorf("got %+v", o)
	}
	if _, err := ParseArgs([]string{"--timeout", "0", "--", "x"}, io.Discard); err == nil {
		t.Error("zero timeout accepted")
	}
}

func TestSummarize(t *testing.T) {
	v := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- {
		v = append(v, float64(i))
	}
	s := Summarize(v)
	// index round((n-1)*p): 0, 50 (49.5 rounds away from zero), 89, 98, 99.
	if s != (Summary{N: 100, Min: 1, P50: 51, P90: 90, P99: 99, Max: 100}) {
		t.Errorf("Summarize = %+v", s)
	}
	if v[0] != 100 {
		t.Error("Summarize sorted its argument in place")
	}
	if one := Summarize([]float64{7}); one != (Summary{N: 1, Min: 7, P50: 7, P90: 7, P99: 7, Max: 7}) {
		t.Errorf("Summarize([7]) = %+v", one)
	}
}

func TestParseBenchArgs(t *testing.T) {
	o, err := ParseBenchArgs([]string{"--", "srv", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS != "auto" || o.Key != "ec-p521" || o.Transport != "unix" || o.Launches != 20 || o.Gets != 5000 ||
		o.Concurrency != 64 || o.Duration.Seconds() != 3 || o.Timeout.Seconds() != 30 || len(o.Command) != 2 {
		t.Errorf("defaults %+v", o)
	}
	if o, err := ParseBenchArgs([]string{"--tls", "off", "--key", "rsa-4096", "--duration", "0.2", "--", "srv"}, io.Discard); err != nil ||
		o.Key != "rsa-4096" || o.Duration.Milliseconds() != 200 {
		t.Errorf("--tls off with another key: %+v %v", o, err)
	}
	for _, bad := range [][]string{
		{"--key", "secp256r1", "--", "srv"}, {"--key", "nope", "--tls", "off", "--", "srv"},
		{"--tls", "manual", "--", "srv"}, {"--transport", "tcp", "--", "srv"}, {"--gets", "0", "--", "srv"},
		{"--concurrency", "0", "--", "srv"}, {"--timeout", "-1", "--", "srv"}, {},
	} {
		if _, err := ParseBenchArgs(bad, io.Discard); err == nil || !errors.Is(err, errUsage) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestParseScript(t *testing.T) {
	for _, s := range []string{"kv", "get", "hold", "put-stream:5", "get-stream:0", "put-large:5242880", "put-stream:4294967295"} {
		spec, err := ParseScript(s)
		if err != nil || spec.String() != s {
			t.Errorf("%q: %+v, %v", s, spec, err)
		}
	}
	for _, bad := range []string{"", "KV", "kv:1", "hold:", "put-stream", "put-stream:", "put-stream:x", "put-stream:-1",
		"put-stream:+1", "put-stream: 1", "put-stream:4294967296", "large:5", "put-large:1e6", "put-large:99999999999999999999"} {
		if spec, err := ParseScript(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, spec)
		}
	}
}

func TestScriptSteps(t *testing.T) {
	kv, _ := ParseScript("kv")
	if got, want := len(kv.Steps("go")), len(Script("go")); got != want {
		t.Errorf("kv: %d steps, want %d", got, want)
	}
	get, _ := ParseScript("get")
	if s := get.Steps("go"); len(s) != 2 || s[0].Name != "put-ascii" || s[0].PauseFirst ||
		s[1].Name != "get-deadline" || s[1].Key != "ascii" || s[1].Op != "get" ||
		s[1].Deadline != 2*time.Second || s[1].Expect != ExpectAnswer || !s[1].PauseFirst {
		t.Errorf("get: %+v", s)
	}
	hold, _ := ParseScript("hold")
	if s := hold.Steps("go"); len(s) != 1 || s[0].Name != "put-ascii" || s[0].Key != "ascii" || string(s[0].Value) != "hello, soup" {
		t.Errorf("hold: %+v", s)
	}
	for _, op := range []string{"put", "get"} {
		spec, _ := ParseScript(op + "-stream:12")
		s := spec.Steps("go")
		if len(s) != 12 {
			t.Fatalf("%s-stream:12: %d steps", op, len(s))
		}
		for i, st := range s {
			if st.Name != fmt.Sprintf("%s-stream-%d", op, i) || st.Key != fmt.Sprintf("stream-%d", i) || st.Op != op ||
				!bytes.Equal(st.Value, Stream(uint64(i))) || st.Expect != ExpectValue {
				t.Errorf("%s-stream step %d: %s %s %s", op, i, st.Name, st.Key, st.Op)
			}
		}
	}
	large, _ := ParseScript("put-large:1000")
	s := large.Steps("go")
	if len(s) != 2 || s[0].Name != "put-large" || s[1].Name != "get-large" || s[0].Key != "large" || s[1].Key != "large" ||
		!bytes.Equal(s[0].Value, Large(1000)) || !bytes.Equal(s[1].Value, Large(1000)) {
		t.Errorf("put-large: %+v", s)
	}
	if large.MessageLimit() != 1000+1<<20 || kv.MessageLimit() != 0 {
		t.Errorf("message limits %d, %d", large.MessageLimit(), kv.MessageLimit())
	}
	if !(ScriptSpec{Kind: ScriptPutStream}).StopsAtFirstFailure() || (ScriptSpec{Kind: ScriptGetStream}).StopsAtFirstFailure() {
		t.Error("only put-stream stops at the first failure")
	}
}

func TestStreamAndLargeValues(t *testing.T) {
	v := Stream(300)
	if len(v) != 1024 || v[0] != 300%251 || v[1023] != (300+1023)%251 {
		t.Errorf("stream(300) = %d bytes, [0]=%d, [1023]=%d", len(v), v[0], v[1023])
	}
	if v := Stream(0); v[250] != 250 || v[251] != 0 {
		t.Error("stream(0) is not j mod 251")
	}
	if !bytes.Equal(Large(1<<20), Script("go")[6].Value) {
		t.Error("large(1048576) is not the KV script's put-1mib value")
	}
	if len(Large(0)) != 0 {
		t.Error("large(0) is not empty")
	}
}

func TestParseArgsVersionsAndScript(t *testing.T) {
	o, err := ParseArgs([]string{"--", "srv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.Versions) != "[1]" || o.Script.String() != "kv" {
		t.Errorf("defaults: versions %v, script %v", o.Versions, o.Script)
	}
	o, err = ParseArgs([]string{"--versions", "3,1,0", "--script", "put-large:42", "--", "srv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.Versions) != "[3 1 0]" || o.Script != (ScriptSpec{Kind: ScriptPutLarge, N: 42}) {
		t.Errorf("versions %v, script %+v", o.Versions, o.Script)
	}
	for _, bad := range [][]string{
		{"--versions", ""}, {"--versions", "x"}, {"--versions", "1,"}, {"--versions", ",1"}, {"--versions", "1,,2"},
		{"--versions", "-1"}, {"--versions", "1.5"}, {"--versions", " 1"}, {"--versions", "99999999999"},
		{"--script", ""}, {"--script", "nope"}, {"--script", "put-stream"}, {"--script", "get-stream:x"},
	} {
		if o, err := ParseArgs(append(bad, "--", "srv"), io.Discard); err == nil || !errors.Is(err, errUsage) {
			t.Errorf("%q: %+v, %v", bad, o, err)
		}
	}
}
