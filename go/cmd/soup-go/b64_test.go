package main

import (
	"encoding/base64"
	"strings"
)

// decodeField6 accepts padded and unpadded standard base64.
func decodeField6(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}
