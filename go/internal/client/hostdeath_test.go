package client

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
)

// A go-plugin host (go-plugin pipes and reads the plugin's stderr) that holds
// soup-server, the Rust plugin, until it is killed: soup-server must exit by
// itself then, its stderr a closed pipe. The host is this test binary run again
// as TestHoldingHost, so that it can be SIGKILLed.
func TestRustPluginExitsWhenItsGoPluginHostIsKilled(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	plugin := filepath.Join(root, "target/release/soup-server")
	if _, err := os.Stat(plugin); err != nil {
		t.Skipf("%s is not built (cargo xtask peers builds it; cargo xtask test runs this after it)", plugin)
	}
	host := exec.Command(os.Args[0], "-test.run=^TestHoldingHost$")
	host.Env = append(os.Environ(), "SOUP_HOLD_PLUGIN="+plugin, "SOUP_HOLD_STORE="+t.TempDir())
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	host.Stderr = os.Stderr
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.Process.Kill(); _ = host.Wait() }()
	var pid int
	var said []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if p, ok := strings.CutPrefix(lines.Text(), "plugin pid "); ok {
			pid, _ = strconv.Atoi(p)
			break
		}
		said = append(said, lines.Text())
	}
	if pid == 0 {
		t.Fatalf("the holding host printed no plugin pid:\n%s", strings.Join(said, "\n"))
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL) }()
	if !alive(pid) {
		t.Fatalf("plugin %d is not running", pid)
	}
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	killed := time.Now()
	for alive(pid) {
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("soup-server (pid %d) still running 10 s after its go-plugin host was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("soup-server exited %v after its go-plugin host was killed", time.Since(killed))
}

// TestHoldingHost is the host of the test above; it does nothing unless run by it.
func TestHoldingHost(t *testing.T) {
	plugin := os.Getenv("SOUP_HOLD_PLUGIN")
	if plugin == "" {
		return
	}
	var runner *teeRunner
	c, _ := newHost(hostConfig{
		OnRunner:     func(tr *teeRunner, _ string) { runner = tr },
		Command:      []string{plugin, "server", "--store", os.Getenv("SOUP_HOLD_STORE")},
		AutoMTLS:     true,
		Logger:       hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
		Stderr:       io.Discard,
		StartTimeout: 20 * time.Second,
	})
	if err := safeStart(c); err != nil {
		t.Fatal(err)
	}
	kv, _, err := dispenseKV(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), &kvproto.PutRequest{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("plugin pid " + strconv.Itoa(runner.cmd.Process.Pid) + "\n")
	select {} // held until killed
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
