//go:build tools

// Package tools pins the Pulumi CLI's main package into this module's dependency graph, so that
// `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi` from here resolves against go.sum.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
