package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

// testCluster is what the provider's machine.Secrets + getConfiguration + client
// configuration produce, generated with the same machinery packages.
type testCluster struct {
	secrets     *secrets.Bundle
	config      config.Provider
	configBytes []byte
	talosconfig *clientconfig.Config // os:admin, as the provider's clientConfiguration
}

const installImage = "ghcr.io/siderolabs/installer:v1.11.5"

func newTestCluster(t *testing.T, endpoint string) *testCluster {
	t.Helper()

	contract, err := config.ParseContractFromVersion("v1.11.5")
	if err != nil {
		t.Fatal(err)
	}

	bundle, err := secrets.NewBundle(secrets.NewFixedClock(time.Now()), contract)
	if err != nil {
		t.Fatal(err)
	}

	// The provider's default generate options (terraform-provider-talos pkg/talos/util.go).
	input, err := generate.NewInput("lab", endpoint, "1.34.1",
		generate.WithVersionContract(contract),
		generate.WithSecretsBundle(bundle),
		generate.WithClusterDiscovery(true),
		generate.WithInstallDisk("/dev/sda"),
		generate.WithInstallImage(installImage),
		generate.WithPersist(true),
	)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := input.Config(machine.TypeControlPlane)
	if err != nil {
		t.Fatal(err)
	}

	data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		t.Fatal(err)
	}

	talosconfig, err := input.Talosconfig()
	if err != nil {
		t.Fatal(err)
	}

	return &testCluster{secrets: bundle, config: cfg, configBytes: data, talosconfig: talosconfig}
}

// talosconfigWithRoles is a talosconfig whose client certificate carries other roles.
func (c *testCluster) talosconfigWithRoles(t *testing.T, roles ...role.Role) *clientconfig.Config {
	t.Helper()

	crt, err := c.secrets.GenerateTalosAPIClientCertificate(role.MakeSet(roles...))
	if err != nil {
		t.Fatal(err)
	}

	return clientconfig.NewConfig("other-role", nil, c.secrets.Certs.OS.Crt, crt)
}

// runningSim is a simulator serving on a loopback address for one test.
type runningSim struct {
	*Simulator
	addr string
	logs *syncBuffer
	done chan error
	once sync.Once
}

// startSim serves a simulator on ip:50000. Tests use 127.0.21.233/234 and 127.0.21.24x/25x (the
// multi-node test 127.0.21.10-21) so they never meet a lab on 127.0.10.x or the lab-ha stack on
// 127.0.20.x (talos-ops's tests use 127.0.10.230/231/24x).
func startSim(t *testing.T, ip string, opts Options) *runningSim {
	t.Helper()

	opts.Listen = net.JoinHostPort(ip, "50000")
	if opts.BootstrapTimeout == 0 {
		opts.BootstrapTimeout = time.Minute
	}

	logs := &syncBuffer{}

	var out io.Writer = logs
	if testing.Verbose() {
		out = io.MultiWriter(logs, os.Stderr)
	}

	sim, err := New(opts, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		t.Fatal(err)
	}

	rs := &runningSim{Simulator: sim, addr: opts.Listen, logs: logs, done: make(chan error, 1)}

	go func() { rs.done <- sim.Serve(lis) }()

	t.Cleanup(rs.stop)

	return rs
}

// stop shuts the simulator down and waits for Serve to return; tests may call it before
// their cleanup does.
func (rs *runningSim) stop() {
	rs.once.Do(func() {
		rs.Shutdown()
		<-rs.done
	})
}

// rpcLines counts the simulator's per-RPC log lines for a method with a result code.
func (rs *runningSim) rpcLines(method, code string) int {
	n := 0

	for line := range strings.SplitSeq(rs.logs.String(), "\n") {
		if strings.Contains(line, "msg=rpc ") && strings.Contains(line, "method="+method+" ") &&
			strings.Contains(line, "code="+code+" ") {
			n++
		}
	}

	return n
}

// insecureClient is the provider's first dial: no client certificate, server unverified.
func insecureClient(t *testing.T, endpoint string) *client.Client {
	t.Helper()

	c, err := client.New(context.Background(),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // what the provider does
		client.WithEndpoints(endpoint))
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { c.Close() }) //nolint:errcheck

	return c
}

// mtlsClient is the provider's second dial, from its client configuration.
func mtlsClient(t *testing.T, endpoint string, tc *clientconfig.Config) *client.Client {
	t.Helper()

	c, err := client.New(context.Background(), client.WithConfig(tc), client.WithEndpoints(endpoint))
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { c.Close() }) //nolint:errcheck

	return c
}

// providerOp reproduces terraform-provider-talos's talosClientOp: probe with Disks on an
// insecure connection; on failure reconnect with mTLS. It reports which connection ran op.
func providerOp(t *testing.T, endpoint string, tc *clientconfig.Config, op func(context.Context, *client.Client) error) (string, error) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ctx = client.WithNode(ctx, endpoint)

	c := insecureClient(t, endpoint)
	if _, err := c.Disks(ctx); err == nil {
		return "insecure", op(ctx, c)
	}

	return "mtls", op(ctx, mtlsClient(t, endpoint, tc))
}

func rpcCtx(t *testing.T) context.Context {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)

	return ctx
}

// syncBuffer is a bytes.Buffer safe for the simulator's goroutines to log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}
