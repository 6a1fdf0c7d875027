// Package glue describes how the Terraform talos provider (siderolabs) appears as the Pulumi
// package "talos"; its Node.js SDK (@pulumiverse/talos) is generated locally from this plugin.
package glue

import (
	"github.com/siderolabs/terraform-provider-talos/pkg/talos"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
)

// Version is stamped at link time (-ldflags -X) with the plugin version.
var Version string

// Provider returns the bridge description; metadata is the bridge-metadata.json written by tfgen
// (an empty JSON object when tfgen itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(talos.New()),
		Name:         "talos",
		Version:      Version,
		Description:  "Manage Talos Linux machines and clusters (Terraform talos provider, bridged).",
		Keywords:     []string{"pulumi", "talos"},
		License:      "MPL-2.0",
		Homepage:     "https://talos.dev",
		GitHubOrg:    "siderolabs",
		Publisher:    "Pulumiverse",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		JavaScript: &tfbridge.JavaScriptInfo{
			PackageName:          "@pulumiverse/talos",
			RespectSchemaVersion: true,
		},
	}
	// talos_machine_secrets -> talos:machine/secrets:Secrets; names outside the known modules
	// go to index.
	info.MustComputeTokens(tokens.KnownModules("talos_", "index",
		[]string{"client", "cluster", "machine", "image_factory"}, tokens.MakeStandard("talos")))
	info.SetAutonaming(255, "-")
	info.MustApplyAutoAliases()
	return info
}
