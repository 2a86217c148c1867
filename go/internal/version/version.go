// Package version names the library stack the binary was built with.
package version

import (
	"fmt"
	"runtime/debug"
)

// Fallbacks when the binary carries no module information (go.mod pins these).
const (
	goPluginPinned = "v1.8.0"
	grpcPinned     = "v1.85.0"
)

// Implementation is e.g. "hashicorp/go-plugin v1.8.0, grpc-go v1.85.0".
func Implementation() string {
	gp, gr := goPluginPinned, grpcPinned
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			switch d.Path {
			case "github.com/hashicorp/go-plugin":
				gp = d.Version
			case "google.golang.org/grpc":
				gr = d.Version
			}
		}
	}
	return fmt.Sprintf("hashicorp/go-plugin %s, grpc-go %s", gp, gr)
}
