package examplehost

import (
	"testing"

	"github.com/hashicorp/go-plugin"
)

func TestApplyReadsTLSAndMultiplexFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env           map[string]string
		auto, mux, ok bool
	}{
		{env: nil, ok: true},
		{env: map[string]string{TLSEnv: "auto"}, auto: true, ok: true},
		{env: map[string]string{TLSEnv: "off", MultiplexEnv: "1"}, mux: true, ok: true},
		{env: map[string]string{TLSEnv: "auto", MultiplexEnv: "true"}, auto: true, mux: true, ok: true},
		{env: map[string]string{MultiplexEnv: "0"}, ok: true},
		{env: map[string]string{MultiplexEnv: ""}, ok: true},
		{env: map[string]string{TLSEnv: "manual"}},
		{env: map[string]string{MultiplexEnv: "maybe"}},
	} {
		cfg := &plugin.ClientConfig{}
		err := apply(cfg, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if (err == nil) != tc.ok {
			t.Errorf("%v: error %v, want ok=%v", tc.env, err, tc.ok)
			continue
		}
		if err == nil && (cfg.AutoMTLS != tc.auto || cfg.GRPCBrokerMultiplex != tc.mux) {
			t.Errorf("%v: AutoMTLS=%v GRPCBrokerMultiplex=%v, want %v %v",
				tc.env, cfg.AutoMTLS, cfg.GRPCBrokerMultiplex, tc.auto, tc.mux)
		}
	}
}
