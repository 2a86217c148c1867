//go:build goplugin_v1_4

// soup-go built on go-plugin v1.4.x (go/versions/, `-tags goplugin_v1_4`) is a
// plugin only. Its host role is built on runner.Runner (ClientConfig.RunnerFunc,
// go-plugin v1.5.0+): that is how the client records the raw handshake line,
// when it arrived and the plugin's stderr, which the peer report requires.
// go-plugin v1.4's ClientConfig reads the handshake itself and exposes none of it.

package main

import (
	"fmt"
	"os"
)

const hostUnavailable = "this soup-go is built on go-plugin v1.4.x, whose ClientConfig has no RunnerFunc " +
	"(added in v1.5.0); soup-go's host needs it to record the handshake line and the plugin's stderr, " +
	"so this build offers only `soup-go server` and `soup-go capabilities`. " +
	"Use a soup-go built on go-plugin v1.6 or newer as the host."

func clientMain([]string) int {
	fmt.Fprintln(os.Stderr, "soup-go client:", hostUnavailable)
	return 2
}

func benchMain([]string) int {
	fmt.Fprintln(os.Stderr, "soup-go bench:", hostUnavailable)
	return 2
}
