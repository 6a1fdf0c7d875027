package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// Polling Version: from firstPoll, doubling up to maxPoll, each call bounded by callTimeout.
	firstPoll   = 500 * time.Millisecond
	maxPoll     = 10 * time.Second
	callTimeout = 10 * time.Second
)

// node is the connection to the node being upgraded.
type node struct {
	c *client.Client
	// addr and tls are for probeRefusal: the endpoint's host:port and the client's identity.
	addr string
	tls  *tls.Config
}

// connect builds the client for --endpoint from the talosconfig (no dialling happens yet).
func connect(opts options, talosconfig *talosconfig) (*node, error) {
	c, err := client.New(context.Background(),
		client.WithConfigContext(talosconfig.context),
		client.WithEndpoints(opts.endpoint),
		client.WithGRPCDialOptions(
			// A node is dialled directly, never through an HTTP(S)_PROXY of the environment.
			grpc.WithNoProxy(),
			// Reconnect soon after the node is back: gRPC's default back-off grows to 2 min,
			// which would leave a node that rebooted in 3 min unnoticed for another two.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
				MinConnectTimeout: callTimeout,
			}),
		))
	if err != nil {
		return nil, fmt.Errorf("client for endpoint %s: %w", opts.endpoint, err)
	}

	n := &node{c: c, addr: opts.endpoint}
	if net.ParseIP(n.addr) != nil {
		n.addr = net.JoinHostPort(n.addr, "50000") // apid's port, as the client library adds it
	}

	host, _, _ := net.SplitHostPort(n.addr) //nolint:errcheck // validated by parseArgs
	n.tls = &tls.Config{
		RootCAs:      talosconfig.roots,
		Certificates: []tls.Certificate{talosconfig.cert},
		ServerName:   host,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	}

	return n, nil
}

// upgrade runs the phases: read the running version (done if it is the target), ask for the
// upgrade, wait until the node answers with the target version. ctx bounds the whole run.
func upgrade(ctx context.Context, opts options, talosconfig *talosconfig, out io.Writer) error {
	n, err := connect(opts, talosconfig)
	if err != nil {
		return fmt.Errorf("node %s: %w", opts.node, err)
	}
	defer n.c.Close() //nolint:errcheck

	// Every call goes to --node through --endpoint's apid (the same machine when they are equal).
	ctx = client.WithNode(ctx, opts.node)

	// Phase 1. Retried while the node is away: it may still be rebooting from a config apply.
	running, err := waitForVersion(ctx, n, func(string) bool { return true }, nil)
	if err != nil {
		return fmt.Errorf("node %s: reading its Talos version: %w", opts.node, err)
	}

	if running == opts.version {
		fmt.Fprintf(out, "node %s already runs %s\n", opts.node, running)

		return nil
	}

	fmt.Fprintf(out, "node %s runs %s; upgrading to %s with %s\n", opts.node, running, opts.version, opts.image)

	// Phase 2. Not retried: the node acts on it, and a failed run is simply run again.
	resp, err := n.c.UpgradeWithOptions(ctx,
		client.WithUpgradeImage(opts.image),
		client.WithUpgradePreserve(true), // keep the node's data (EPHEMERAL: etcd, images)
		client.WithUpgradeStage(opts.stage),
	)
	if err != nil {
		return fmt.Errorf("node %s: upgrade to %s: %w", opts.node, opts.image, err)
	}

	var ack string
	if msgs := resp.GetMessages(); len(msgs) > 0 && msgs[0].GetAck() != "" {
		ack = " (" + msgs[0].GetAck() + ")"
	}

	if opts.stage {
		// A staged upgrade changes nothing until the node reboots, so there is nothing to wait for.
		fmt.Fprintf(out, "node %s staged the upgrade to %s%s; it installs it at its next reboot\n", opts.node, opts.version, ack)

		return nil
	}

	deadline, _ := ctx.Deadline()
	fmt.Fprintf(out, "node %s accepted the upgrade%s; waiting up to %s for it to run %s\n",
		opts.node, ack, time.Until(deadline).Round(time.Second), opts.version)

	// Phase 3. The node keeps answering with the old version for a while, then is away while
	// it reboots, then answers with the new one.
	start := time.Now()
	away := false

	_, err = waitForVersion(ctx, n, func(v string) bool { return v == opts.version }, func(error) {
		if !away {
			away = true

			fmt.Fprintf(out, "node %s is rebooting (unavailable)\n", opts.node)
		}
	})
	if err != nil {
		return fmt.Errorf("node %s: waiting for %s: %w", opts.node, opts.version, err)
	}

	fmt.Fprintf(out, "node %s runs %s (upgraded in %s)\n", opts.node, opts.version, time.Since(start).Round(100*time.Millisecond))

	return nil
}

// waitForVersion polls Version with back-off until done accepts the answer, and returns it.
// A node that is away (see transient) is waited for, and reported to away if that is not nil;
// any other error, or a node refusing this client, ends the wait at once. When ctx ends, the
// error names the last answer.
func waitForVersion(ctx context.Context, n *node, done func(string) bool, away func(error)) (string, error) {
	delay := firstPoll

	var last error

	for {
		call, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := n.c.Version(call)
		cancel()

		switch {
		case err == nil:
			var version string
			if msgs := resp.GetMessages(); len(msgs) > 0 {
				version = msgs[0].GetVersion().GetTag()
			}

			if done(version) {
				return version, nil
			}

			last = fmt.Errorf("still runs %s", version)
		case transient(err) || ctx.Err() != nil:
			if ctx.Err() == nil {
				if refused := n.probeRefusal(ctx); refused != nil {
					return "", fmt.Errorf("the node refuses this client: %w", refused)
				}
			}

			last = err

			if away != nil {
				away(err)
			}
		default:
			return "", err
		}

		select {
		case <-ctx.Done():
			return "", fmt.Errorf("--timeout reached; last answer: %w", last)
		case <-time.After(delay):
		}

		delay = min(2*delay, maxPoll)
	}
}

// probeRefusal asks the node itself whether it refuses this client's certificate. With
// TLS 1.3 a server checks the client certificate after the client considers the handshake
// done; gRPC writes at once and often sees only a broken pipe or a reset, which look like a
// node that is away. This probe reads instead, and so receives the node's TLS alert. It
// returns nil when the node is away or accepts the client.
func (n *node) probeRefusal(ctx context.Context) error {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: n.tls}

	conn, err := dialer.DialContext(ctx, "tcp", n.addr)
	if err == nil {
		defer conn.Close() //nolint:errcheck

		// An accepting gRPC server speaks first (its HTTP/2 SETTINGS); a refusing one sends an alert.
		conn.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		_, err = conn.Read(make([]byte, 1))
	}

	var verify *tls.CertificateVerificationError
	if err != nil && (errors.As(err, &verify) || strings.Contains(err.Error(), "remote error: tls: ")) {
		return err
	}

	return nil
}

// transient tells a node that is away (rebooting, not listening yet, its apid restarting)
// from one that refuses us. A TLS failure about certificates is a refusal: the node is there
// and does not accept this client (or is not the node the talosconfig's CA vouches for).
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Unknown:
		msg := err.Error()

		return !strings.Contains(msg, "x509:") && !strings.Contains(msg, "tls: ") && !errors.Is(err, context.Canceled)
	default:
		return false
	}
}
