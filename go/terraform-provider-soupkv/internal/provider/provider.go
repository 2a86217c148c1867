// Package provider implements the soupkv Terraform provider: a key/value store kept in
// memory, or in files under a directory, with one resource, one data source, one
// provider-defined function and one ephemeral resource.
package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Ensure SoupkvProvider satisfies the provider interfaces it advertises.
var (
	_ provider.Provider                       = &SoupkvProvider{}
	_ provider.ProviderWithFunctions          = &SoupkvProvider{}
	_ provider.ProviderWithEphemeralResources = &SoupkvProvider{}
)

// SoupkvProvider is the soupkv provider.
type SoupkvProvider struct {
	// version is "dev" for local builds, the release version otherwise.
	version string
}

// SoupkvProviderModel is the provider block's configuration.
type SoupkvProviderModel struct {
	Directory types.String `tfsdk:"directory"`
	ReadOnly  types.Bool   `tfsdk:"read_only"`
}

// New returns the constructor providerserver.Serve calls for each provider instance.
func New(version string) func() provider.Provider {
	return func() provider.Provider {
		return &SoupkvProvider{version: version}
	}
}

// Metadata names the provider: resource type names start with "soupkv_".
func (p *SoupkvProvider) Metadata(ctx context.Context, req provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "soupkv"
	resp.Version = p.version
}

// Schema describes the provider block.
func (p *SoupkvProvider) Schema(ctx context.Context, req provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A key/value store, in memory or in files under a directory.",
		Attributes: map[string]schema.Attribute{
			"directory": schema.StringAttribute{
				Description: "Directory holding the store",
				Optional:    true,
			},
			"read_only": schema.BoolAttribute{
				Description: "Refuse to create, change or delete entries",
				Optional:    true,
			},
		},
	}
}

// Configure opens the store and hands it to resources, data sources and ephemeral resources.
func (p *SoupkvProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config SoupkvProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if config.Directory.IsUnknown() {
		resp.Diagnostics.AddError("Unknown store directory",
			"The provider cannot open its store until `directory` is known; set it to a literal or a value known at plan time.")
		return
	}

	store, err := openStore(config.Directory.ValueString(), config.ReadOnly.ValueBool())
	if err != nil {
		resp.Diagnostics.AddError("Unable to open the store", err.Error())
		return
	}
	resp.DataSourceData = store
	resp.ResourceData = store
	resp.EphemeralResourceData = store
}

// Resources lists the managed resource types.
func (p *SoupkvProvider) Resources(ctx context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewEntryResource,
	}
}

// DataSources lists the data source types.
func (p *SoupkvProvider) DataSources(ctx context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewEntryDataSource,
	}
}

// Functions lists the provider-defined functions.
func (p *SoupkvProvider) Functions(ctx context.Context) []func() function.Function {
	return []func() function.Function{
		NewChecksumFunction,
	}
}

// EphemeralResources lists the ephemeral resource types.
func (p *SoupkvProvider) EphemeralResources(ctx context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{
		NewTokenEphemeralResource,
	}
}
