package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Ensure EntryResource satisfies the resource interfaces it implements.
var (
	_ resource.Resource                = &EntryResource{}
	_ resource.ResourceWithConfigure   = &EntryResource{}
	_ resource.ResourceWithImportState = &EntryResource{}
)

// NewEntryResource is the constructor of soupkv_entry.
func NewEntryResource() resource.Resource {
	return &EntryResource{}
}

// EntryResource is soupkv_entry: one key and its value.
type EntryResource struct {
	store *store
}

// EntryResourceModel is soupkv_entry's state.
type EntryResourceModel struct {
	Key   types.String `tfsdk:"key"`
	Value types.String `tfsdk:"value"`
	ID    types.String `tfsdk:"id"`
}

// Metadata names the resource type soupkv_entry.
func (r *EntryResource) Metadata(ctx context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_entry"
}

// Schema describes soupkv_entry.
func (r *EntryResource) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "One entry of the store.",
		Attributes: map[string]schema.Attribute{
			"key": schema.StringAttribute{
				Description: "Key of the entry; changing it replaces the entry",
				Required:    true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.RequiresReplace(),
				},
			},
			"value": schema.StringAttribute{
				Description: "Value stored under the key",
				Required:    true,
			},
			"id": schema.StringAttribute{
				Description: "Identifier of the entry (its key)",
				Computed:    true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
				},
			},
		},
	}
}

// Configure receives the store opened by the provider.
func (r *EntryResource) Configure(ctx context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	s, err := storeFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Unexpected resource configure type", err.Error())
		return
	}
	r.store = s
}

// Create stores the planned value under the key.
func (r *EntryResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var data EntryResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.store.put(data.Key.ValueString(), data.Value.ValueString()); err != nil {
		resp.Diagnostics.AddError("Unable to create entry", err.Error())
		return
	}
	data.ID = data.Key
	resp.Diagnostics.Append(resp.State.Set(ctx, &data)...)
}

// Read refreshes the value; an entry deleted outside Terraform leaves the state.
func (r *EntryResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var data EntryResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	value, ok, err := r.store.get(data.Key.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Unable to read entry", err.Error())
		return
	}
	if !ok {
		resp.State.RemoveResource(ctx)
		return
	}
	data.Value = types.StringValue(value)
	data.ID = data.Key
	resp.Diagnostics.Append(resp.State.Set(ctx, &data)...)
}

// Update stores the new value; a new key is a replacement, never an update.
func (r *EntryResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var data EntryResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.store.put(data.Key.ValueString(), data.Value.ValueString()); err != nil {
		resp.Diagnostics.AddError("Unable to update entry", err.Error())
		return
	}
	data.ID = data.Key
	resp.Diagnostics.Append(resp.State.Set(ctx, &data)...)
}

// Delete removes the key from the store.
func (r *EntryResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var data EntryResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.store.remove(data.Key.ValueString()); err != nil {
		resp.Diagnostics.AddError("Unable to delete entry", err.Error())
	}
}

// ImportState imports an existing entry by its key (`terraform import soupkv_entry.x KEY`).
func (r *EntryResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("key"), req, resp)
}
