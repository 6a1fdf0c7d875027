// Command pulumi-resource-command is the project's own implementation of the `command` provider
// plugin, for the resource this project uses: `command:remote:Command` (a script run over SSH on
// create, update and delete), so the @pulumi/command Node SDK works unchanged.
//
// Upstream's plugin cannot be built here: the module proxy refuses
// github.com/pulumi/pulumi-command/provider at every release (see toolchain/versions.env). This
// implementation follows the resource's documented behaviour, with one deliberate difference:
// it refuses to connect without `connection.hostKey`, where upstream would trust any host key.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is stamped at build time with the @pulumi/command SDK version it serves.
var version = "0.0.0-dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version)
		return
	}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, &provider{})
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}
