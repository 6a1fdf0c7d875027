// Command talos-sim simulates one Talos Linux node's machine API (apid) for the homelab lab:
// maintenance mode until a config is applied, then mTLS from the config's OS CA, Bootstrap
// starting a real etcd + kube-apiserver + kube-controller-manager from the config's cluster
// PKI, the admin kubeconfig, and Upgrade (a simulated reboot into the new version).
// ApplyConfiguration decides its mode and answers dry runs (the summary and a real config diff
// against the running config, changing nothing) as Talos v1.11.5 does, and the resource API
// serves the MachineConfig resources (`talosctl get mc`) to os:admin. It speaks the wire
// protocol of the Talos Terraform/Pulumi provider and of talosctl; see the package tests for
// the flows it reproduces.
//
// Several simulators make a multi-node cluster, one process per node: control planes form one
// etcd cluster (the bootstrapped node's, joined by the others as learners, etcdcluster.go),
// share the config's VIP by Talos's etcd election (vip.go) and serve workers' certificate
// requests (trustd.go); workers join through the VIP (worker.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var opts Options

	flag.StringVar(&opts.Listen, "listen", "127.0.10.2:50000", "apid address (IPv4 loopback only)")
	flag.StringVar(&opts.StateDir, "state-dir", "", "directory for the node's persistent state (required)")
	flag.StringVar(&opts.KubeBinDir, "kube-bin-dir", "", "directory holding etcd, kube-apiserver and kube-controller-manager")
	flag.BoolVar(&opts.SkipControlPlane, "skip-control-plane", false, "answer Bootstrap without starting any process")
	flag.DurationVar(&opts.BootstrapTimeout, "bootstrap-timeout", 3*time.Minute, "how long one Bootstrap call waits for the API server to be ready")
	flag.StringVar(&opts.TalosVersion, "talos-version", "", "version the first apply installs (default: the installer image tag of the config); afterwards only Upgrade changes it")
	flag.Int64Var(&opts.FailFirst, "fail-first", 0, "answer the first N RPCs with Unavailable")
	flag.DurationVar(&opts.RebootWindow, "reboot-window", 0, "stay Unavailable this long after an apply that reboots the node, and after an Upgrade (2s when 0)")
	flag.Parse()

	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "talos-sim:", err)
		os.Exit(1)
	}
}

func run(opts Options) error {
	if opts.StateDir == "" {
		return fmt.Errorf("--state-dir is required")
	}

	if opts.KubeBinDir == "" && !opts.SkipControlPlane {
		return fmt.Errorf("--kube-bin-dir is required unless --skip-control-plane is set")
	}

	log := slog.New(slog.NewTextHandler(os.Stdout, nil))

	sim, err := New(opts, log)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	go func() {
		<-ctx.Done()
		log.Info("shutting down")
		sim.Shutdown()
	}()

	err = sim.Serve(lis)
	sim.Shutdown() // also when Serve failed: the control plane must not outlive us

	return err
}
