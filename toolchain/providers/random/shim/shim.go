// Package shim exposes the Terraform random provider's constructor. The provider lives in an
// internal package, so only a package under the provider's own import path may call it; this
// tiny module (replaced in from a local folder by the build) is that package.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	tfrandom "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns a fresh instance of the Terraform random provider.
func NewProvider() provider.Provider { return tfrandom.New() }
