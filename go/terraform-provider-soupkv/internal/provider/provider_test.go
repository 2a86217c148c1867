package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/soup-rpc/soup-rpc/go/terraform-provider-soupkv/internal/provider"
)

func protocol6Server(t *testing.T) tfprotov6.ProviderServer {
	t.Helper()
	server, err := providerserver.NewProtocol6WithError(provider.New("test")())()
	if err != nil {
		t.Fatalf("NewProtocol6WithError: %v", err)
	}
	return server
}

func attributeNames(s *tfprotov6.Schema) []string {
	var names []string
	for _, a := range s.Block.Attributes {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

// TestGetProviderSchemaProtocol6 checks what `soup probe` summarises over tfplugin6.
func TestGetProviderSchemaProtocol6(t *testing.T) {
	ctx := context.Background()
	resp, err := protocol6Server(t).GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatalf("GetProviderSchema: %v", err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("diagnostic: %s: %s", d.Summary, d.Detail)
	}

	if got, want := attributeNames(resp.Provider), []string{"directory", "read_only"}; !slices.Equal(got, want) {
		t.Errorf("provider attributes = %v, want %v", got, want)
	}
	entry, ok := resp.ResourceSchemas["soupkv_entry"]
	if !ok {
		t.Fatalf("resource soupkv_entry missing; have %v", keys(resp.ResourceSchemas))
	}
	if got, want := attributeNames(entry), []string{"id", "key", "value"}; !slices.Equal(got, want) {
		t.Errorf("soupkv_entry attributes = %v, want %v", got, want)
	}
	if _, ok := resp.DataSourceSchemas["soupkv_entry"]; !ok {
		t.Errorf("data source soupkv_entry missing; have %v", keys(resp.DataSourceSchemas))
	}
	if _, ok := resp.Functions["checksum"]; !ok {
		t.Errorf("function checksum missing; have %v", keys(resp.Functions))
	}
	if _, ok := resp.EphemeralResourceSchemas["soupkv_token"]; !ok {
		t.Errorf("ephemeral resource soupkv_token missing; have %v", keys(resp.EphemeralResourceSchemas))
	}
}

// TestGetMetadataProtocol6 checks the names GetMetadata lists without schemas.
func TestGetMetadataProtocol6(t *testing.T) {
	resp, err := protocol6Server(t).GetMetadata(context.Background(), &tfprotov6.GetMetadataRequest{})
	if err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].TypeName != "soupkv_entry" {
		t.Errorf("resources = %+v, want soupkv_entry", resp.Resources)
	}
	if len(resp.DataSources) != 1 || resp.DataSources[0].TypeName != "soupkv_entry" {
		t.Errorf("data sources = %+v, want soupkv_entry", resp.DataSources)
	}
	if len(resp.Functions) != 1 || resp.Functions[0].Name != "checksum" {
		t.Errorf("functions = %+v, want checksum", resp.Functions)
	}
	if len(resp.EphemeralResources) != 1 || resp.EphemeralResources[0].TypeName != "soupkv_token" {
		t.Errorf("ephemeral resources = %+v, want soupkv_token", resp.EphemeralResources)
	}
}

// TestGetProviderSchemaProtocol5 checks the same provider served as tfplugin5 (-protocol5).
func TestGetProviderSchemaProtocol5(t *testing.T) {
	server, err := providerserver.NewProtocol5WithError(provider.New("test")())()
	if err != nil {
		t.Fatalf("NewProtocol5WithError: %v", err)
	}
	resp, err := server.GetProviderSchema(context.Background(), &tfprotov5.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatalf("GetProviderSchema: %v", err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("diagnostic: %s: %s", d.Summary, d.Detail)
	}
	for name, present := range map[string]bool{
		"resource soupkv_entry":           resp.ResourceSchemas["soupkv_entry"] != nil,
		"data source soupkv_entry":        resp.DataSourceSchemas["soupkv_entry"] != nil,
		"function checksum":               resp.Functions["checksum"] != nil,
		"ephemeral resource soupkv_token": resp.EphemeralResourceSchemas["soupkv_token"] != nil,
	} {
		if !present {
			t.Errorf("%s missing", name)
		}
	}
}

// TestCallFunctionChecksum runs provider::soupkv::checksum through the protocol.
func TestCallFunctionChecksum(t *testing.T) {
	arg, err := tfprotov6.NewDynamicValue(tftypes.String, tftypes.NewValue(tftypes.String, "soup"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := protocol6Server(t).CallFunction(context.Background(), &tfprotov6.CallFunctionRequest{
		Name:      "checksum",
		Arguments: []*tfprotov6.DynamicValue{&arg},
	})
	if err != nil {
		t.Fatalf("CallFunction: %v", err)
	}
	if resp.Error != nil {
		t.Fatalf("checksum failed: %s", resp.Error.Text)
	}
	result, err := resp.Result.Unmarshal(tftypes.String)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := result.As(&got); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("soup"))
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("checksum(\"soup\") = %s, want %s", got, want)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
