// Command tfgen writes schema.json and bridge-metadata.json for the talos plugin
// (run as: tfgen schema --out DIR).
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"homelab-iac.local/provider-talos/glue"
)

func main() { tfgen.Main("talos", glue.Provider([]byte("{}"))) }
