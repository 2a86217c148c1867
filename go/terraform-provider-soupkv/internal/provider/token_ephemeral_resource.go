package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Ensure TokenEphemeralResource satisfies the ephemeral resource interface.
var _ ephemeral.EphemeralResource = &TokenEphemeralResource{}

// NewTokenEphemeralResource is the constructor of soupkv_token.
func NewTokenEphemeralResource() ephemeral.EphemeralResource {
	return &TokenEphemeralResource{}
}

// TokenEphemeralResource is soupkv_token: a random token that never reaches state or plan.
type TokenEphemeralResource struct{}

// TokenEphemeralResourceModel is soupkv_token's result.
type TokenEphemeralResourceModel struct {
	Value types.String `tfsdk:"value"`
}

// Metadata names the ephemeral resource soupkv_token.
func (e *TokenEphemeralResource) Metadata(ctx context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

// Schema describes soupkv_token.
func (e *TokenEphemeralResource) Schema(ctx context.Context, req ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A random 256-bit token, new on every open.",
		Attributes: map[string]schema.Attribute{
			"value": schema.StringAttribute{
				Description: "The token, as hex",
				Computed:    true,
				Sensitive:   true,
			},
		},
	}
}

// Open draws a fresh token.
func (e *TokenEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		resp.Diagnostics.AddError("Unable to draw a token", err.Error())
		return
	}
	data := TokenEphemeralResourceModel{Value: types.StringValue(hex.EncodeToString(token))}
	resp.Diagnostics.Append(resp.Result.Set(ctx, &data)...)
}
