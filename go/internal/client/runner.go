package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// stderrTailLines is how many of the plugin's last stderr lines a report keeps.
const stderrTailLines = 20

// teeRunner is a runner.Runner around exec.Cmd, like go-plugin's internal
// cmdrunner, that additionally records what go-plugin's Client does not
// expose: the raw first stdout line (the handshake), when it arrived, the
// plugin's last stderr lines, and how the process ended.
type teeRunner struct {
	logger hclog.Logger
	cmd    *exec.Cmd
	name   string
	stdout *lineTee
	stderr *tailReader

	mu       sync.Mutex
	pid      int
	spawnAt  time.Time
	killed   bool
	state    *os.ProcessState
	waitErr  error
	exited   chan struct{}
	exitOnce sync.Once
}

var _ runner.Runner = (*teeRunner)(nil)

// newTeeRunner builds the runner for argv, taking the environment and stdin
// go-plugin prepared in spec (RunnerFunc gets an exec.Command("") carrying them).
func newTeeRunner(logger hclog.Logger, spec *exec.Cmd, argv []string) (*teeRunner, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty server command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	cmd.Env = spec.Env
	cmd.Stdin = spec.Stdin
	cmd.Dir = spec.Dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &teeRunner{
		logger: logger,
		cmd:    cmd,
		name:   cmd.Path,
		stdout: &lineTee{r: out, seen: make(chan struct{})},
		stderr: &tailReader{r: errPipe, max: stderrTailLines, eof: make(chan struct{})},
		exited: make(chan struct{}),
	}, nil
}

func (t *teeRunner) Start(_ context.Context) error {
	t.logger.Debug("starting plugin", "path", t.cmd.Path, "args", t.cmd.Args)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spawnAt = time.Now()
	if err := t.cmd.Start(); err != nil {
		return err
	}
	t.pid = t.cmd.Process.Pid
	t.logger.Debug("plugin started", "path", t.name, "pid", t.pid)
	return nil
}

func (t *teeRunner) Wait(_ context.Context) error {
	err := t.cmd.Wait()
	t.mu.Lock()
	t.state = t.cmd.ProcessState
	t.waitErr = err
	t.mu.Unlock()
	t.exitOnce.Do(func() { close(t.exited) })
	return err
}

func (t *teeRunner) Kill(_ context.Context) error {
	t.mu.Lock()
	p := t.cmd.Process
	if p != nil && t.state == nil {
		t.killed = true
	}
	t.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (t *teeRunner) Diagnose(_ context.Context) string {
	// go-plugin diagnoses as soon as the plugin's stdout closes; its stderr reader may
	// not have read the last lines yet. A plugin that exited closes stderr too, so
	// wait (bounded) for that.
	select {
	case <-t.stderr.eof:
	case <-time.After(2 * time.Second):
	}
	tail := t.stderr.Tail()
	if len(tail) == 0 {
		return "the plugin wrote nothing to stderr"
	}
	return "last plugin stderr lines:\n  " + strings.Join(tail, "\n  ")
}

func (t *teeRunner) Stdout() io.ReadCloser { return t.stdout }
func (t *teeRunner) Stderr() io.ReadCloser { return t.stderr }
func (t *teeRunner) Name() string          { return t.name }

func (t *teeRunner) ID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pid == 0 {
		return ""
	}
	return strconv.Itoa(t.pid)
}

func (t *teeRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (t *teeRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// started reports whether the process was started, and when.
func (t *teeRunner) started() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spawnAt, t.pid != 0
}

// exit describes how the process ended; ok is false while it runs.
func (t *teeRunner) exit() (how string, code, signal *int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		return "", nil, nil, false
	}
	ws, isWS := t.state.Sys().(syscall.WaitStatus)
	switch {
	case isWS && ws.Signaled():
		s := int(ws.Signal())
		if t.killed && ws.Signal() == syscall.SIGKILL {
			return "killed", nil, &s, true
		}
		return "signaled", nil, &s, true
	case t.state.Exited():
		c := t.state.ExitCode()
		return "exited", &c, nil, true
	}
	return "unknown", nil, nil, true
}

// forceKill kills the plugin (used by the --timeout watchdog).
func (t *teeRunner) forceKill() { _ = t.Kill(context.Background()) }

// lineTee passes stdout through to go-plugin and records its first line.
type lineTee struct {
	r    io.ReadCloser
	mu   sync.Mutex
	buf  []byte
	line *string
	at   time.Time
	seen chan struct{}
}

func (l *lineTee) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.mu.Lock()
	if l.line == nil {
		if n > 0 {
			l.buf = append(l.buf, p[:n]...)
			if i := bytes.IndexByte(l.buf, '\n'); i >= 0 {
				l.record(strings.TrimSuffix(string(l.buf[:i]), "\r"))
			}
		}
		if err != nil && l.line == nil && len(l.buf) > 0 {
			l.record(string(l.buf))
		}
	}
	l.mu.Unlock()
	return n, err
}

func (l *lineTee) record(s string) {
	l.line = &s
	l.at = time.Now()
	l.buf = nil
	close(l.seen)
}

func (l *lineTee) Close() error { return l.r.Close() }

// First returns the first line and when it was read, if any.
func (l *lineTee) First() (string, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line == nil {
		return "", time.Time{}, false
	}
	return *l.line, l.at, true
}

// tailReader passes stderr through and keeps its last lines.
type tailReader struct {
	r       io.ReadCloser
	max     int
	mu      sync.Mutex
	partial []byte
	lines   []string
	eof     chan struct{} // closed once a Read returned an error (the plugin closed stderr)
	eofOnce sync.Once
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.mu.Lock()
		t.partial = append(t.partial, p[:n]...)
		for {
			i := bytes.IndexByte(t.partial, '\n')
			if i < 0 {
				break
			}
			t.push(strings.TrimSuffix(string(t.partial[:i]), "\r"))
			t.partial = t.partial[i+1:]
		}
		if len(t.partial) > 64<<10 { // an endless line: keep it bounded
			t.push(string(t.partial))
			t.partial = nil
		}
		t.mu.Unlock()
	}
	if err != nil && t.eof != nil {
		t.eofOnce.Do(func() { close(t.eof) })
	}
	return n, err
}

func (t *tailReader) push(s string) {
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tailReader) Close() error { return t.r.Close() }

// Tail is the last lines read (plus an unterminated last line).
func (t *tailReader) Tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}

func (t *teeRunner) String() string { return fmt.Sprintf("teeRunner(%s)", t.name) }
