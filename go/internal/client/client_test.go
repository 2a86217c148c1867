package client

import (
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
