// Command pulumi-resource-command is the project's own implementation of the `command` provider
// plugin, for the resources this project uses: `command:remote:Command` (a script run over SSH on
// create, update and delete) and `command:local:Command`, so the @pulumi/command Node SDK works
// unchanged.
//
// Upstream's plugin cannot be built here: the module proxy refuses
// github.com/pulumi/pulumi-command/provider at every release (see toolchain/versions.env). This
// implementation follows upstream v1.2.1 (tag v1.2.1, commit 7f3eb6f3b77c) point by point, as
// README "The command provider against upstream" lists with the upstream file each behaviour comes
// from. Where it differs, it is stricter, never more forgiving:
//   - it refuses a remote command without `connection.hostKey` (upstream trusts any host key);
//   - it refuses `connection.proxy` (upstream tunnels through a jump host) and an unknown
//     `logging` value (upstream treats one as `none`), instead of running differently;
//   - it closes its SSH connections (upstream leaks them).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	sdkprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is stamped at build time with the @pulumi/command SDK version it serves.
var version = "0.0.0-dev"

// engineLog is what the provider says to the engine: persistent diagnostics (Log) and the
// ephemeral lines of the progress display (LogStatus). *sdkprovider.HostClient is one.
type engineLog interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// silentLog stands in when no engine is attached (the plugin started by hand, or a unit test).
type silentLog struct{}

func (silentLog) Log(context.Context, diag.Severity, resource.URN, string) error       { return nil }
func (silentLog) LogStatus(context.Context, diag.Severity, resource.URN, string) error { return nil }

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version)
		return
	}
	// The engine starts the plugin with its own address as the argument; Main connects back to
	// it (for diagnostics and status lines), serves the provider and prints the port.
	err := sdkprovider.Main("command", func(host *sdkprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		if host == nil {
			return &provider{log: silentLog{}}, nil
		}
		return &provider{log: host}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}
