//go:build !goplugin_v1_4

package main

import (
	"os"

	"github.com/soup-rpc/soup-rpc/go/internal/client"
)

func clientMain(args []string) int { return client.Main(args, os.Stdin, os.Stdout, os.Stderr) }

func benchMain(args []string) int { return client.BenchMain(args, os.Stdout, os.Stderr) }
