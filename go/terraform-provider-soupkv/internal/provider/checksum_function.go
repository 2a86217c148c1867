package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/hashicorp/terraform-plugin-framework/function"
)

// Ensure ChecksumFunction satisfies the function interface.
var _ function.Function = &ChecksumFunction{}

// NewChecksumFunction is the constructor of provider::soupkv::checksum.
func NewChecksumFunction() function.Function {
	return &ChecksumFunction{}
}

// ChecksumFunction is provider::soupkv::checksum: the SHA-256 of a string, in hex.
type ChecksumFunction struct{}

// Metadata names the function checksum.
func (f *ChecksumFunction) Metadata(ctx context.Context, req function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "checksum"
}

// Definition declares checksum(input string) string.
func (f *ChecksumFunction) Definition(ctx context.Context, req function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary:     "SHA-256 checksum of a string",
		Description: "Returns the SHA-256 digest of the UTF-8 bytes of input, as lowercase hex.",
		Parameters: []function.Parameter{
			function.StringParameter{
				Name:        "input",
				Description: "String to hash",
			},
		},
		Return: function.StringReturn{},
	}
}

// Run hashes the argument.
func (f *ChecksumFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var input string
	resp.Error = function.ConcatFuncErrors(req.Arguments.Get(ctx, &input))
	if resp.Error != nil {
		return
	}
	sum := sha256.Sum256([]byte(input))
	resp.Error = function.ConcatFuncErrors(resp.Result.Set(ctx, hex.EncodeToString(sum[:])))
}
