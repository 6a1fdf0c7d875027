package main

// The node commands of a takeover, each one call of the node's API with the talosconfig on
// stdin (apply --insecure: none, the node is in maintenance mode):
//
//	talos-ops apply --node <ip> --endpoint <ip> --file <config> [--mode auto|no-reboot|reboot|staged] [--dry-run] [--insecure] <talosconfig
//	talos-ops bootstrap --node <ip> --endpoint <ip> <talosconfig
//	talos-ops kubeconfig --node <ip> --endpoint <ip> <talosconfig >kubeconfig
//	talos-ops machine-config --node <ip> --endpoint <ip> <talosconfig >config.yaml
//
// apply sends the file's bytes as they are (MachineService ApplyConfiguration, as talosctl
// apply-config) and prints the node's answer:
//
//	node <ip> applied the config: <the node's mode details>
//
// (a node in maintenance mode may answer with no details: "node <ip> accepted the config in
// maintenance mode: it installs Talos and reboots"), then a line "node <ip> warning: <w>" per
// warning. With --dry-run the node changes nothing, and the tool prints the node's mode
// details as they are, which on Talos are the dry-run summary and the config diff:
//
//	Dry run summary:
//	Applied configuration without a reboot (skipped in dry-run).
//	Config diff:
//
//	--- a
//	+++ b
//	@@ -45,7 +45,8 @@
//	...
//
// The diff's context lines are the node's config: they may hold secrets.
//
// bootstrap starts etcd on the node (Bootstrap); a node that already has etcd data is done,
// not a failure:
//
//	node <ip> bootstrapped
//	node <ip> was already bootstrapped (etcd data directory is not empty)
//
// kubeconfig writes the admin kubeconfig the node issues (Kubeconfig). machine-config writes
// the node's running machine config, the MachineConfig resource v1alpha1 of namespace config
// (`talosctl get machineconfig v1alpha1`), as the node holds it; Talos lets only os:admin read
// it (the type is Sensitive).

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	applyUsage = "usage: talos-ops apply --node <ip> --endpoint <ip> --file <config> [--mode auto|no-reboot|reboot|staged] " +
		"[--dry-run] [--insecure] <talosconfig"
	bootstrapUsage     = "usage: talos-ops bootstrap --node <ip> --endpoint <ip> <talosconfig"
	kubeconfigUsage    = "usage: talos-ops kubeconfig --node <ip> --endpoint <ip> <talosconfig >kubeconfig"
	machineConfigUsage = "usage: talos-ops machine-config --node <ip> --endpoint <ip> <talosconfig >config.yaml"

	// applyTimeout bounds an apply: the node validates, compares and saves before it answers.
	applyTimeout = time.Minute
)

// applyModes are the modes --mode takes, spelt as talosctl apply-config's --mode.
var applyModes = map[string]machine.ApplyConfigurationRequest_Mode{
	"auto":      machine.ApplyConfigurationRequest_AUTO,
	"no-reboot": machine.ApplyConfigurationRequest_NO_REBOOT,
	"reboot":    machine.ApplyConfigurationRequest_REBOOT,
	"staged":    machine.ApplyConfigurationRequest_STAGED,
}

// applyCmd is talos-ops apply's own flags.
type applyCmd struct {
	file                string
	modeName            string
	mode                machine.ApplyConfigurationRequest_Mode
	dryRun, maintenance bool
}

func (a *applyCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.file, "file", "", "the machine config to apply")
	fs.StringVar(&a.modeName, "mode", "auto", "auto, no-reboot, reboot or staged")
	fs.BoolVar(&a.dryRun, "dry-run", false, "ask the node what it would do, and its config diff; change nothing")
	fs.BoolVar(&a.maintenance, "insecure", false, "the node is in maintenance mode: no talosconfig, the node's certificate unchecked")
}

func (a *applyCmd) insecure() bool { return a.maintenance }

func (a *applyCmd) check(target, io.Writer) error {
	mode, ok := applyModes[a.modeName]
	if !ok {
		return fmt.Errorf("--mode %q is not one of auto, no-reboot, reboot, staged", a.modeName)
	}

	a.mode = mode

	if a.file == "" {
		return errors.New("--file is required")
	}

	return checkInputFile("--file", a.file)
}

func (a *applyCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	data, err := os.ReadFile(a.file)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()

	req := &machine.ApplyConfigurationRequest{Data: data, Mode: a.mode, DryRun: a.dryRun}

	var resp *machine.ApplyConfigurationResponse

	if a.maintenance {
		resp, err = applyInsecure(ctx, t, req)
	} else {
		resp, err = withNode(ctx, t, tc, "ApplyConfiguration", func(ctx context.Context, c *client.Client) (*machine.ApplyConfigurationResponse, error) {
			resp, err := c.ApplyConfiguration(ctx, req)

			return resp, redactedRefusal(err)
		})
	}

	if err != nil {
		return err
	}

	msgs := resp.GetMessages()
	if len(msgs) == 0 {
		return fmt.Errorf("Talos ApplyConfiguration on %s: the node answered with no message", t.node) //nolint:staticcheck
	}

	details := strings.TrimRight(msgs[0].GetModeDetails(), "\n")

	switch {
	case a.dryRun:
		fmt.Fprintln(stdout, details)
	case details == "":
		fmt.Fprintf(stdout, "node %s accepted the config in maintenance mode: it installs Talos and reboots\n", t.node)
	default:
		fmt.Fprintf(stdout, "node %s applied the config: %s\n", t.node, details)
	}

	for _, w := range msgs[0].GetWarnings() {
		fmt.Fprintf(stdout, "node %s warning: %s\n", t.node, w)
	}

	return nil
}

// applyInsecure is talosctl apply-config --insecure: a node in maintenance mode has no
// identity to check yet, and asks for no client certificate. No node metadata is sent: there
// is no apid to route it.
func applyInsecure(ctx context.Context, t target, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	c, err := client.New(ctx,
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // maintenance mode: nothing to verify against
		client.WithEndpoints(t.endpoint),
		client.WithGRPCDialOptions(grpc.WithNoProxy()))
	if err != nil {
		return nil, fmt.Errorf("node %s: client for endpoint %s: %w", t.node, t.endpoint, err)
	}
	defer c.Close() //nolint:errcheck

	resp, err := c.ApplyConfiguration(ctx, req)
	if err == nil {
		return resp, nil
	}

	err = redactedRefusal(err)

	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}

	// A configured node demands a client certificate in its TLS handshake, which gRPC often
	// sees only as a broken connection (see probeRefusal): ask the node.
	if code := status.Code(err); (code == codes.Unavailable || code == codes.Unknown) && ctx.Err() == nil &&
		demandsClientCertificate(ctx, t.endpoint) {
		msg = "the node is not in maintenance mode: it requires a client certificate " +
			"(apply without --insecure, the node's talosconfig on stdin)"
	}

	return nil, fmt.Errorf("Talos ApplyConfiguration on %s (maintenance mode): %s", t.node, msg) //nolint:staticcheck
}

// redactedRefusal keeps a node's refusal of a config (InvalidArgument) from quoting the config
// on stderr: Talos's messages may carry the YAML of unknown keys, values included, and the
// diff of a change that needs a reboot, whose context lines may be secrets. The diff is on
// stdout with --dry-run.
func redactedRefusal(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}

	msg := st.Message()
	if i := strings.Index(msg, "\ndiff:\n"); i >= 0 {
		msg = msg[:i] + " (--dry-run --mode auto shows the diff; --mode reboot or staged applies it)"
	}

	return status.Error(codes.InvalidArgument, redactedConfigError(errors.New(msg)))
}

// demandsClientCertificate tells whether the node at endpoint refuses a TLS client without a
// certificate, as a configured Talos node does (and one in maintenance mode does not).
func demandsClientCertificate(ctx context.Context, endpoint string) bool {
	addr := endpoint
	if net.ParseIP(addr) != nil {
		addr = net.JoinHostPort(addr, "50000")
	}

	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config:    &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}, //nolint:gosec // a probe
	}

	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err == nil {
		defer conn.Close() //nolint:errcheck

		// A gRPC server that accepted us speaks first (its SETTINGS); one refusing us sends an alert.
		conn.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		_, err = conn.Read(make([]byte, 1))
	}

	return err != nil && strings.Contains(err.Error(), "tls: certificate required")
}

// withNode runs one call on the node (through --endpoint, with the node metadata) with the
// talosconfig's identity; a failure is reported as talosError reports it.
func withNode[T any](ctx context.Context, t target, tc *talosconfig, method string, call func(context.Context, *client.Client) (T, error)) (T, error) {
	var zero T

	n, err := connect(t, tc)
	if err != nil {
		return zero, fmt.Errorf("node %s: %w", t.node, err)
	}
	defer n.c.Close() //nolint:errcheck

	ctx = client.WithNode(ctx, t.node)

	out, err := call(ctx, n.c)
	if err != nil {
		return zero, talosError(ctx, n, method, t.node, err)
	}

	return out, nil
}

// bootstrapCmd is talos-ops bootstrap: no flags of its own.
type bootstrapCmd struct{}

func (*bootstrapCmd) flags(*flag.FlagSet)           {}
func (*bootstrapCmd) check(target, io.Writer) error { return nil }

func (*bootstrapCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()

	var already string

	_, err := withNode(ctx, t, tc, "Bootstrap", func(ctx context.Context, c *client.Client) (struct{}, error) {
		err := c.Bootstrap(ctx, &machine.BootstrapRequest{})
		if status.Code(err) == codes.AlreadyExists {
			already, err = status.Convert(err).Message(), nil
		}

		return struct{}{}, err
	})
	if err != nil {
		return err
	}

	if already != "" {
		fmt.Fprintf(stdout, "node %s was already bootstrapped (%s)\n", t.node, already)
	} else {
		fmt.Fprintf(stdout, "node %s bootstrapped\n", t.node)
	}

	return nil
}

// kubeconfigCmd is talos-ops kubeconfig: no flags of its own.
type kubeconfigCmd struct{}

func (*kubeconfigCmd) flags(*flag.FlagSet) {}

func (*kubeconfigCmd) check(_ target, stdout io.Writer) error {
	return refuseTerminal(stdout, "kubeconfig", "talos-ops kubeconfig ... <talosconfig >kubeconfig")
}

func (*kubeconfigCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()

	// The library's Kubeconfig reads the stream and unpacks the one file of its archive.
	kubeconfig, err := withNode(ctx, t, tc, "Kubeconfig", func(ctx context.Context, c *client.Client) ([]byte, error) {
		return c.Kubeconfig(ctx)
	})
	if err != nil {
		return err
	}

	if len(kubeconfig) == 0 {
		return fmt.Errorf("Talos Kubeconfig on %s: the node sent an empty kubeconfig", t.node) //nolint:staticcheck
	}

	_, err = stdout.Write(kubeconfig)

	return err
}

// machineConfigCmd is talos-ops machine-config: no flags of its own.
type machineConfigCmd struct{}

func (*machineConfigCmd) flags(*flag.FlagSet) {}

func (*machineConfigCmd) check(_ target, stdout io.Writer) error {
	return refuseTerminal(stdout, "machine config", "talos-ops machine-config ... <talosconfig >config.yaml")
}

// run reads the MachineConfig resource through the resource API (cosi.resource.State Get) and
// writes its spec: the config's bytes as the node loaded them.
func (*machineConfigCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()

	ptr := resource.NewMetadata(configres.NamespaceName, configres.MachineConfigType, configres.ActiveID, resource.VersionUndefined)

	data, err := withNode(ctx, t, tc, "resource Get "+configres.MachineConfigType, func(ctx context.Context, c *client.Client) ([]byte, error) {
		r, err := c.COSI.Get(ctx, ptr)
		if state.IsNotFoundError(err) {
			// The client wraps the node's NotFound in an error gRPC no longer reads.
			return nil, status.Errorf(codes.NotFound, "the node has no %s %s in namespace %s (is it configured?)",
				configres.MachineConfigType, configres.ActiveID, configres.NamespaceName)
		}

		if err != nil {
			return nil, err
		}

		mc, ok := r.(*configres.MachineConfig)
		if !ok {
			return nil, fmt.Errorf("the node answered with a %T", r)
		}

		return mc.Container().Bytes()
	})
	if err != nil {
		return err
	}

	_, err = stdout.Write(data)

	return err
}
