package brokerbench

import (
	"io"
	"os"
	"testing"
	"time"
)

// asPlugin makes the test binary the plugin when the host re-executes it.
const asPlugin = "SOUP_BROKERBENCH_TEST_AS_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(asPlugin) == "1" {
		os.Exit(PluginMain())
	}
	os.Exit(m.Run())
}

// Both patterns run against go-plugin's GRPCBroker in every configuration
// the bench measures, every Sum really runs (Run checks the plugin's count),
// and the report says what was measured.
func TestBothPatternsInEveryConfiguration(t *testing.T) {
	t.Setenv(asPlugin, "1")
	for _, tc := range []struct {
		name      string
		tls       string
		multiplex bool
	}{
		{"auto", "auto", false}, {"off", "off", false},
		{"auto+mux", "auto", true}, {"off+mux", "off", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Options{
				TLS: tc.tls, Multiplex: tc.multiplex,
				SteadyCalls: 20, SteadyWarmup: 2, PerCallCalls: 5, PerCallWarmup: 1,
				Timeout: 30 * time.Second, Command: []string{os.Args[0]},
			}
			rep, err := Run(o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Host != "go" || rep.TLS != tc.tls || rep.Multiplex != tc.multiplex || rep.Transport != "unix" {
				t.Fatalf("report header: %+v", rep)
			}
			if (rep.HostKey != nil) != (tc.tls == "auto") {
				t.Fatalf("host_key %v with --tls %s", rep.HostKey, tc.tls)
			}
			for name, p := range map[string]*Phase{"steady": rep.Steady, "per_call": rep.PerCall} {
				want := o.SteadyCalls
				if name == "per_call" {
					want = o.PerCallCalls
				}
				if p.Calls != want || p.LatencyUs.N != want || !(p.LatencyUs.P50 > 0) {
					t.Fatalf("%s: %d calls, latency %+v", name, p.Calls, p.LatencyUs)
				}
				if p.PluginExit == nil || p.PluginExit.How != "exited" || p.PluginExit.Code == nil || *p.PluginExit.Code != 0 {
					t.Fatalf("%s: plugin exit %+v", name, p.PluginExit)
				}
			}
			if rep.Steady.GetLatencyUs == nil || rep.PerCall.GetLatencyUs != nil {
				t.Fatalf("the plain Get reference belongs to the steady phase only")
			}
		})
	}
}

func TestHostFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--tls", "manual", "--", "x"},
		{"--key", "ec-p256", "--", "x"},
		{"--steady-calls", "0", "--", "x"},
		{},
	} {
		if _, err := ParseHostArgs(args, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	o, err := ParseHostArgs([]string{"--tls", "off", "--multiplex", "--", "plugin", "arg"}, io.Discard)
	if err != nil || o.TLS != "off" || !o.Multiplex || len(o.Command) != 2 {
		t.Fatalf("%+v, %v", o, err)
	}
}
