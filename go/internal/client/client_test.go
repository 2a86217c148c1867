package client

import (
	"errors"
	"io"
	"strings"
	"testing"
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
