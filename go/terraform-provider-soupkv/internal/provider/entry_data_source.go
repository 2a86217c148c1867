package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Ensure EntryDataSource satisfies the data source interfaces it implements.
var (
	_ datasource.DataSource              = &EntryDataSource{}
	_ datasource.DataSourceWithConfigure = &EntryDataSource{}
)

// NewEntryDataSource is the constructor of the soupkv_entry data source.
func NewEntryDataSource() datasource.DataSource {
	return &EntryDataSource{}
}

// EntryDataSource is the soupkv_entry data source: reads the value of an existing key.
type EntryDataSource struct {
	store *store
}

// EntryDataSourceModel is the soupkv_entry data source's state.
type EntryDataSourceModel struct {
	Key   types.String `tfsdk:"key"`
	Value types.String `tfsdk:"value"`
}

// Metadata names the data source soupkv_entry.
func (d *EntryDataSource) Metadata(ctx context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_entry"
}

// Schema describes the soupkv_entry data source.
func (d *EntryDataSource) Schema(ctx context.Context, req datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Reads one entry of the store.",
		Attributes: map[string]schema.Attribute{
			"key": schema.StringAttribute{
				Description: "Key of the entry",
				Required:    true,
			},
			"value": schema.StringAttribute{
				Description: "Value stored under the key",
				Computed:    true,
			},
		},
	}
}

// Configure receives the store opened by the provider.
func (d *EntryDataSource) Configure(ctx context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	s, err := storeFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Unexpected data source configure type", err.Error())
		return
	}
	d.store = s
}

// Read looks the key up; a missing key is an error, as a data source reads what must exist.
func (d *EntryDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var data EntryDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	value, ok, err := d.store.get(data.Key.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Unable to read entry", err.Error())
		return
	}
	if !ok {
		resp.Diagnostics.AddError("Entry not found", fmt.Sprintf("The store has no key %q.", data.Key.ValueString()))
		return
	}
	data.Value = types.StringValue(value)
	resp.Diagnostics.Append(resp.State.Set(ctx, &data)...)
}
