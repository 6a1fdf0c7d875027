// Command pulumi-language-nodejs is the project's own Node.js language host for the Pulumi engine.
//
// The engine starts a language host to run a program: it asks which provider packages the program
// needs (GetRequiredPackages), then asks it to Run the program against the engine's resource
// monitor. For Node.js, running means starting `node` on the `cmd/run` entry point that ships in
// the program's own @pulumi/pulumi package, which does the real work (ts-node, config, the
// resource monitor connection).
//
// Upstream's host cannot be built here (its Go module is not served by the module proxy), so this
// one implements the same gRPC service on the same proto stubs, for what this project uses:
// Handshake, GetPluginInfo, GetRequiredPackages, Run, InstallDependencies, About,
// GetProgramDependencies, GeneratePackage (used by `pulumi package gen-sdk`) and Cancel.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

func main() {
	// The engine also passes glog's -logtostderr and -v to every plugin; glog, linked in through
	// the SDK, registers those flags itself.
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, passed on to the program")
	runtime := flag.String("runtime", "nodejs", "JavaScript runtime; only nodejs is supported")
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	if *runtime != "nodejs" {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: unsupported runtime %q (only nodejs)\n", *runtime)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	host := newHost(ctx, *tracing)
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
		// Exit when the engine goes away, so that no host outlives a killed `pulumi`.
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: health check of the engine: %v\n", err)
			os.Exit(1)
		}
	}

	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start the RPC server: %v\n", err)
		os.Exit(1)
	}

	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}
