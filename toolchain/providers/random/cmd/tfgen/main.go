// Command tfgen writes schema.json and bridge-metadata.json for the random plugin
// (run as: tfgen schema --out DIR).
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"homelab-iac.local/provider-random/glue"
)

func main() { tfgen.Main("random", glue.Provider([]byte("{}"))) }
