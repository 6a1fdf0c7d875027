// Command provider is the pulumi-resource-talos plugin. The two embedded files are written
// by the tfgen step of toolchain/providers/talos.sh before this package is compiled.
package main

import (
	"context"
	_ "embed"
	"encoding/json"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"homelab-iac.local/provider-talos/glue"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pf.Main(context.Background(), "talos", glue.Provider(metadata),
		pf.ProviderMetadata{PackageSchema: withVersion(schema, glue.Version), BridgeMetadata: metadata})
}

// withVersion sets the schema's top-level "version" (tfgen leaves it out), so that an SDK
// generated from this plugin asks for exactly this plugin version.
func withVersion(schema []byte, version string) []byte {
	var doc map[string]json.RawMessage
	if version == "" || json.Unmarshal(schema, &doc) != nil {
		return schema
	}
	doc["version"], _ = json.Marshal(version)
	out, err := json.Marshal(doc)
	if err != nil {
		return schema
	}
	return out
}
