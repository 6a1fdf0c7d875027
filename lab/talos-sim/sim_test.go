package main

import (
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/base64"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestProviderFlow drives the simulator as the Talos provider does across a homelab's life:
// ConfigurationApply on a fresh node, Bootstrap, Kubeconfig, then a restarted node.
func TestProviderFlow(t *testing.T) {
	const ip = "127.0.21.250"

	cluster := newTestCluster(t, "https://"+ip+":6443")
	stateDir := t.TempDir()
	sim := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})

	apply := func(c *client.Client, ctx context.Context, data []byte, mode machineapi.ApplyConfigurationRequest_Mode, dryRun bool) (*machineapi.ApplyConfigurationResponse, error) {
		return c.ApplyConfiguration(ctx, &machineapi.ApplyConfigurationRequest{Data: data, Mode: mode, DryRun: dryRun})
	}

	t.Run("maintenance mode serves Disks insecurely", func(t *testing.T) {
		resp, err := insecureClient(t, ip).Disks(rpcCtx(t))
		if err != nil {
			t.Fatal(err)
		}

		disks := resp.GetMessages()[0].GetDisks()
		if len(disks) != 1 || disks[0].GetDeviceName() != "/dev/sda" {
			t.Fatalf("disks = %v, want one /dev/sda", disks)
		}
	})

	t.Run("an invalid config is InvalidArgument with Talos's message", func(t *testing.T) {
		broken, err := cluster.config.PatchV1Alpha1(func(c *v1alpha1.Config) error {
			c.MachineConfig.MachineInstall.InstallDisk = ""

			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		data, err := broken.EncodeBytes()
		if err != nil {
			t.Fatal(err)
		}

		_, err = apply(insecureClient(t, ip), rpcCtx(t), data, machineapi.ApplyConfigurationRequest_AUTO, false)
		assertCode(t, err, codes.InvalidArgument, "configuration validation failed", "either install disk or diskSelector should be defined")

		_, err = apply(insecureClient(t, ip), rpcCtx(t), []byte("machine: [unterminated"), machineapi.ApplyConfigurationRequest_AUTO, false)
		assertCode(t, err, codes.InvalidArgument, "failed to parse config")
	})

	t.Run("maintenance mode refuses no-reboot, like Talos", func(t *testing.T) {
		_, err := apply(insecureClient(t, ip), rpcCtx(t), cluster.configBytes, machineapi.ApplyConfigurationRequest_NO_REBOOT, false)
		assertCode(t, err, codes.Unimplemented, "--mode='no-reboot' is not supported in maintenance mode")
	})

	t.Run("a dry run saves nothing", func(t *testing.T) {
		resp, err := apply(insecureClient(t, ip), rpcCtx(t), cluster.configBytes, machineapi.ApplyConfigurationRequest_AUTO, true)
		if err != nil {
			t.Fatal(err)
		}

		if got := resp.GetMessages()[0].GetModeDetails(); !strings.Contains(got, "Dry run summary") {
			t.Errorf("mode details = %q", got)
		}

		if _, err = os.Stat(sim.state.path(configFile)); !os.IsNotExist(err) {
			t.Fatalf("dry run wrote %s (stat err %v)", configFile, err)
		}

		if _, err = insecureClient(t, ip).Disks(rpcCtx(t)); err != nil {
			t.Fatalf("node left maintenance mode after a dry run: %v", err)
		}
	})

	t.Run("apply in maintenance mode, as the provider", func(t *testing.T) {
		var resp *machineapi.ApplyConfigurationResponse

		path, err := providerOp(t, ip, cluster.talosconfig, func(ctx context.Context, c *client.Client) (err error) {
			resp, err = apply(c, ctx, cluster.configBytes, machineapi.ApplyConfigurationRequest_AUTO, false)

			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		if path != "insecure" {
			t.Errorf("apply ran on the %s connection, want insecure (maintenance mode)", path)
		}

		msg := resp.GetMessages()[0]
		if msg.GetMode() != machineapi.ApplyConfigurationRequest_AUTO || msg.GetModeDetails() == "" {
			t.Errorf("reply = mode %v details %q", msg.GetMode(), msg.GetModeDetails())
		}

		saved, err := os.ReadFile(sim.state.path(configFile))
		if err != nil || string(saved) != string(cluster.configBytes) {
			t.Fatalf("saved config differs from the applied one (err %v)", err)
		}
	})

	t.Run("normal mode: the insecure probe fails in the TLS handshake", func(t *testing.T) {
		before := strings.Count(sim.logs.String(), "msg=rpc ")

		_, err := insecureClient(t, ip).Disks(rpcCtx(t))
		if err == nil {
			t.Fatal("Disks without a client certificate succeeded in normal mode")
		}

		t.Logf("insecure probe: %v", err)

		// Not an RPC the server answered: the handshake itself failed.
		if after := strings.Count(sim.logs.String(), "msg=rpc "); after != before {
			t.Errorf("the probe reached the RPC layer (%d new rpc log lines)", after-before)
		}

		// The server logs the refusal on its own goroutine; give it a moment.
		for deadline := time.Now().Add(2 * time.Second); !strings.Contains(sim.logs.String(), "msg=handshake"); {
			if time.Now().After(deadline) {
				t.Fatal("the refused handshake was not logged")
			}

			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("normal mode: a client without a certificate is refused even when it trusts the CA", func(t *testing.T) {
		roots := stdx509.NewCertPool()
		roots.AppendCertsFromPEM(cluster.secrets.Certs.OS.Crt)

		c, err := client.New(context.Background(), client.WithTLSConfig(&tls.Config{RootCAs: roots}), client.WithEndpoints(ip))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() //nolint:errcheck

		if _, err = c.Disks(rpcCtx(t)); err == nil {
			t.Fatal("Disks without a client certificate succeeded in normal mode")
		}
	})

	t.Run("normal mode: mTLS with the OS CA, server identity verified by IP", func(t *testing.T) {
		c := mtlsClient(t, ip, cluster.talosconfig)

		if _, err := c.Disks(rpcCtx(t)); err != nil {
			t.Fatal(err)
		}

		version, err := c.Version(rpcCtx(t))
		if err != nil {
			t.Fatal(err)
		}

		if tag := version.GetMessages()[0].GetVersion().GetTag(); tag != "v1.11.5" {
			t.Errorf("version tag = %q, want v1.11.5 (from %s)", tag, installImage)
		}
	})

	t.Run("normal mode: roles other than os:admin are PermissionDenied", func(t *testing.T) {
		reader := mtlsClient(t, ip, cluster.talosconfigWithRoles(t, role.Reader))

		if _, err := reader.Disks(rpcCtx(t)); err != nil {
			t.Fatalf("os:reader may list disks: %v", err)
		}

		err := reader.Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
		assertCode(t, err, codes.PermissionDenied, "os:admin")

		_, err = reader.Kubeconfig(rpcCtx(t))
		assertCode(t, err, codes.PermissionDenied)
	})

	t.Run("bootstrap once, then AlreadyExists", func(t *testing.T) {
		path, err := providerOp(t, ip, cluster.talosconfig, func(ctx context.Context, c *client.Client) error {
			return c.Bootstrap(ctx, &machineapi.BootstrapRequest{})
		})
		if err != nil {
			t.Fatal(err)
		}

		if path != "mtls" {
			t.Errorf("bootstrap ran on the %s connection, want mtls", path)
		}

		_, err = providerOp(t, ip, cluster.talosconfig, func(ctx context.Context, c *client.Client) error {
			return c.Bootstrap(ctx, &machineapi.BootstrapRequest{})
		})
		assertCode(t, err, codes.AlreadyExists)

		if got := sim.rpcLines(methodBootstrap, "AlreadyExists"); got != 1 {
			t.Errorf("AlreadyExists Bootstrap log lines = %d, want 1", got)
		}
	})

	t.Run("kubeconfig: one tar entry, admin cert from the cluster CA", func(t *testing.T) {
		var raw []byte

		_, err := providerOp(t, ip, cluster.talosconfig, func(ctx context.Context, c *client.Client) error {
			r, err := c.KubeconfigRaw(ctx)
			if err != nil {
				return err
			}
			defer r.Close() //nolint:errcheck

			raw, err = io.ReadAll(r)

			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		kubeconfig := untarSingle(t, raw, "kubeconfig")
		checkAdminKubeconfig(t, kubeconfig, cluster)

		// And the client's own extraction agrees.
		viaClient, err := mtlsClient(t, ip, cluster.talosconfig).Kubeconfig(rpcCtx(t))
		if err != nil || len(viaClient) == 0 {
			t.Fatalf("client.Kubeconfig: %d bytes, %v", len(viaClient), err)
		}
	})

	t.Run("re-apply in normal mode updates the saved config", func(t *testing.T) {
		patched, err := cluster.config.PatchV1Alpha1(func(c *v1alpha1.Config) error {
			c.MachineConfig.MachineNetwork.NetworkHostname = "lab-cp-1"

			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		data, err := patched.EncodeBytes()
		if err != nil {
			t.Fatal(err)
		}

		c := mtlsClient(t, ip, cluster.talosconfig)

		dry, err := apply(c, rpcCtx(t), data, machineapi.ApplyConfigurationRequest_AUTO, true)
		if err != nil {
			t.Fatal(err)
		}

		if got := dry.GetMessages()[0].GetModeDetails(); !strings.Contains(got, "lab-cp-1") {
			t.Errorf("dry-run diff does not show the new hostname:\n%s", got)
		}

		resp, err := apply(c, rpcCtx(t), data, machineapi.ApplyConfigurationRequest_NO_REBOOT, false)
		if err != nil {
			t.Fatal(err)
		}

		if got := resp.GetMessages()[0].GetModeDetails(); got != "Applied configuration without a reboot" {
			t.Errorf("mode details = %q", got)
		}

		saved, _ := os.ReadFile(sim.state.path(configFile)) //nolint:errcheck
		if !strings.Contains(string(saved), "lab-cp-1") {
			t.Error("re-applied config not saved")
		}

		// The new apid certificate carries the hostname as a DNS SAN.
		state := tlsStateOf(t, ip, cluster)
		if leaf := state.PeerCertificates[0]; !slices.Contains(leaf.DNSNames, "lab-cp-1") {
			t.Errorf("apid certificate DNS SANs = %v, want lab-cp-1", leaf.DNSNames)
		}
	})

	t.Run("a restarted simulator comes back in normal mode, bootstrapped", func(t *testing.T) {
		sim.stop()

		restarted := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})

		if _, err := insecureClient(t, ip).Disks(rpcCtx(t)); err == nil {
			t.Fatal("restarted node is in maintenance mode")
		}

		c := mtlsClient(t, ip, cluster.talosconfig)

		err := c.Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
		assertCode(t, err, codes.AlreadyExists)

		if _, err = c.Kubeconfig(rpcCtx(t)); err != nil {
			t.Fatal(err)
		}

		if restarted.rpcLines(methodKubeconfig, "OK") != 1 {
			t.Errorf("log:\n%s", restarted.logs.String())
		}
	})
}

func assertCode(t *testing.T, err error, want codes.Code, msgParts ...string) {
	t.Helper()

	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}

	for _, part := range msgParts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

// tlsStateOf completes an mTLS handshake with the node and returns what it presented.
func tlsStateOf(t *testing.T, ip string, cluster *testCluster) tls.ConnectionState {
	t.Helper()

	ctx := cluster.talosconfig.Contexts[cluster.talosconfig.Context]

	cert, err := tls.X509KeyPair(decodeB64(t, ctx.Crt), decodeB64(t, ctx.Key))
	if err != nil {
		t.Fatal(err)
	}

	roots := stdx509.NewCertPool()
	roots.AppendCertsFromPEM(cluster.secrets.Certs.OS.Crt)

	conn, err := tls.Dial("tcp", ip+":50000", &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, ServerName: ip,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck

	return conn.ConnectionState()
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()

	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}

	return b
}
