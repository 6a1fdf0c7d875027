package main

// talos-ops upgrade upgrades one Talos node to the version of an installer image, the one
// thing the Talos Pulumi provider cannot do. The stack runs it once per node, control planes
// first, one at a time:
//
//	talos-ops upgrade --node <ip> --endpoint <ip> --image <installer>:vX.Y.Z [--timeout 10m] [--stage] [--wait-kubernetes] <talosconfig
//
// The tool is idempotent: a node already running the image's version is left alone. Every
// phase prints one line on stdout.
//
// Without --stage the tool waits, up to --timeout for the whole run, until the node answers
// with the new version; a node that is away (rebooting) is waited for, one that refuses the
// client certificate fails at once. With --stage the node only stages the upgrade for its next
// reboot and the tool returns at once: until that reboot the node still runs, and reports, the
// old version, so another run would stage it again.
//
// A control plane's apid answers well before its API server is back (the kubelet starts the
// static pods after boot), and the stack applies to the cluster right after this tool: with
// --wait-kubernetes the tool also waits until the node's own kube-apiserver reports ready.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"
)

const upgradeUsage = "usage: talos-ops upgrade --node <ip> --endpoint <ip> --image <installer image>:vX.Y.Z [--timeout 10m] [--stage] [--wait-kubernetes] <talosconfig"

// upgradeCmd is talos-ops upgrade's own flags.
type upgradeCmd struct {
	image   string        // installer image reference
	version string        // its tag: the version the node must end up running
	timeout time.Duration // for the whole run, reboot included
	stage   bool          // stage the upgrade for the node's next reboot instead of rebooting now
	// waitKubernetes: a control plane, whose API server must be ready again before the run ends
	waitKubernetes bool
}

func (u *upgradeCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&u.image, "image", "", "installer image, tagged with the Talos version: <repository>:vX.Y.Z")
	fs.DurationVar(&u.timeout, "timeout", 10*time.Minute, "give up after this long, reboot included")
	fs.BoolVar(&u.stage, "stage", false, "stage the upgrade; the node installs it at its next reboot")
	fs.BoolVar(&u.waitKubernetes, "wait-kubernetes", false, "a control plane: also wait until its Kubernetes API server is ready again")
}

func (u *upgradeCmd) check(target, io.Writer) error {
	var err error
	if u.version, err = imageVersion(u.image); err != nil {
		return err
	}

	if u.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}

	return nil
}

func (u *upgradeCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()

	return upgrade(ctx, t, u, tc, stdout)
}

var versionTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// imageVersion returns the tag of an installer image reference, which must be a Talos version:
// it is what the node reports once upgraded, so without it the tool could neither skip a node
// that is done nor tell when the upgrade has finished. The rest of the reference is the node's
// business (it answers InvalidArgument for a reference it cannot use).
func imageVersion(image string) (string, error) {
	i := strings.LastIndex(image, ":")
	if i <= 0 || i < strings.LastIndex(image, "/") || strings.Contains(image, "@") ||
		!versionTag.MatchString(image[i+1:]) {
		return "", fmt.Errorf("--image %q must end in :vX.Y.Z, the Talos version it installs", image)
	}

	return image[i+1:], nil
}

const (
	// Polling Version: from firstPoll, doubling up to maxPoll, each call bounded by callTimeout.
	firstPoll   = 500 * time.Millisecond
	maxPoll     = 10 * time.Second
	callTimeout = 10 * time.Second
)

// node is the connection to the node a command acts on.
type node struct {
	c *client.Client
	// addr and tls are for probeRefusal: the endpoint's host:port and the client's identity.
	addr string
	tls  *tls.Config
}

// connect builds the client for --endpoint from the talosconfig (no dialling happens yet).
func connect(t target, talosconfig *talosconfig) (*node, error) {
	c, err := client.New(context.Background(),
		client.WithConfigContext(talosconfig.context),
		client.WithEndpoints(t.endpoint),
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
		return nil, fmt.Errorf("client for endpoint %s: %w", t.endpoint, err)
	}

	n := &node{c: c, addr: t.endpoint}
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
func upgrade(ctx context.Context, t target, opts *upgradeCmd, talosconfig *talosconfig, out io.Writer) error {
	n, err := connect(t, talosconfig)
	if err != nil {
		return fmt.Errorf("node %s: %w", t.node, err)
	}
	defer n.c.Close() //nolint:errcheck

	// Every call goes to --node through --endpoint's apid (the same machine when they are equal).
	ctx = client.WithNode(ctx, t.node)

	// Phase 1. Retried while the node is away: it may still be rebooting from a config apply.
	running, err := waitForVersion(ctx, n, func(string) bool { return true }, nil)
	if err != nil {
		return fmt.Errorf("node %s: reading its Talos version: %w", t.node, err)
	}

	if running == opts.version {
		fmt.Fprintf(out, "node %s already runs %s\n", t.node, running)

		return nil
	}

	fmt.Fprintf(out, "node %s runs %s; upgrading to %s with %s\n", t.node, running, opts.version, opts.image)

	// Phase 2. Not retried: the node acts on it, and a failed run is simply run again.
	resp, err := n.c.UpgradeWithOptions(ctx,
		client.WithUpgradeImage(opts.image),
		client.WithUpgradePreserve(true), // keep the node's data (EPHEMERAL: etcd, images)
		client.WithUpgradeStage(opts.stage),
	)
	if err != nil {
		return fmt.Errorf("node %s: upgrade to %s: %w", t.node, opts.image, err)
	}

	var ack string
	if msgs := resp.GetMessages(); len(msgs) > 0 && msgs[0].GetAck() != "" {
		ack = " (" + msgs[0].GetAck() + ")"
	}

	if opts.stage {
		// A staged upgrade changes nothing until the node reboots, so there is nothing to wait for.
		fmt.Fprintf(out, "node %s staged the upgrade to %s%s; it installs it at its next reboot\n", t.node, opts.version, ack)

		return nil
	}

	deadline, _ := ctx.Deadline()
	fmt.Fprintf(out, "node %s accepted the upgrade%s; waiting up to %s for it to run %s\n",
		t.node, ack, time.Until(deadline).Round(time.Second), opts.version)

	// Phase 3. The node keeps answering with the old version for a while, then is away while
	// it reboots, then answers with the new one.
	start := time.Now()
	away := false

	_, err = waitForVersion(ctx, n, func(v string) bool { return v == opts.version }, func(error) {
		if !away {
			away = true

			fmt.Fprintf(out, "node %s is rebooting (unavailable)\n", t.node)
		}
	})
	if err != nil {
		return fmt.Errorf("node %s: waiting for %s: %w", t.node, opts.version, err)
	}

	fmt.Fprintf(out, "node %s runs %s (upgraded in %s)\n", t.node, opts.version, time.Since(start).Round(100*time.Millisecond))

	if opts.waitKubernetes {
		return waitForKubernetes(ctx, n, t.node, out)
	}

	return nil
}

// adminKubeconfig is the part of the node's admin kubeconfig the readiness probe uses.
type adminKubeconfig struct {
	Clusters []struct {
		Cluster struct {
			Server string `yaml:"server"`
			CA     string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		User struct {
			Cert string `yaml:"client-certificate-data"`
			Key  string `yaml:"client-key-data"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// waitForKubernetes polls the node's own kube-apiserver (its address, the cluster endpoint's
// port) for /readyz until it answers 200, trusting only the cluster CA and presenting the
// admin certificate, both from the kubeconfig the node hands out (as talosctl kubeconfig).
func waitForKubernetes(ctx context.Context, n *node, nodeAddr string, out io.Writer) error {
	start := time.Now()

	var raw []byte

	if err := retryWhileAway(ctx, n, func(call context.Context) (err error) {
		raw, err = n.c.Kubeconfig(call)

		return err
	}); err != nil {
		return fmt.Errorf("node %s: reading its kubeconfig: %w", nodeAddr, err)
	}

	client, readyz, err := readyzProbe(raw, nodeAddr)
	if err != nil {
		return fmt.Errorf("node %s: %w", nodeAddr, err)
	}

	fmt.Fprintf(out, "node %s: waiting for its Kubernetes API (%s)\n", nodeAddr, readyz)

	delay := firstPoll

	for {
		last := probeReadyz(ctx, client, readyz)
		if last == nil {
			fmt.Fprintf(out, "node %s: Kubernetes API ready (after %s)\n", nodeAddr, time.Since(start).Round(100*time.Millisecond))

			return nil
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: waiting for its Kubernetes API: --timeout reached; last answer: %w", nodeAddr, last)
		case <-time.After(delay):
		}

		delay = min(2*delay, maxPoll)
	}
}

// readyzProbe builds, from the node's admin kubeconfig, a client that trusts only the cluster CA
// and presents the admin certificate, and the /readyz URL of the node's own API server (its
// address, the cluster endpoint's port).
func readyzProbe(raw []byte, nodeAddr string) (*http.Client, string, error) {
	var kc adminKubeconfig
	if err := yaml.Unmarshal(raw, &kc); err != nil || len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		return nil, "", fmt.Errorf("its kubeconfig has no cluster or user (%v)", err)
	}

	endpoint, err := url.Parse(kc.Clusters[0].Cluster.Server)
	if err != nil {
		return nil, "", fmt.Errorf("its kubeconfig's server: %w", err)
	}

	port := endpoint.Port()
	if port == "" {
		port = "443"
	}

	decode := func(s string) []byte { b, _ := base64.StdEncoding.DecodeString(s); return b } //nolint:errcheck
	roots := x509.NewCertPool()

	if !roots.AppendCertsFromPEM(decode(kc.Clusters[0].Cluster.CA)) {
		return nil, "", fmt.Errorf("its kubeconfig holds no cluster CA")
	}

	cert, err := tls.X509KeyPair(decode(kc.Users[0].User.Cert), decode(kc.Users[0].User.Key))
	if err != nil {
		return nil, "", fmt.Errorf("its kubeconfig's client certificate: %w", err)
	}

	readyz := "https://" + net.JoinHostPort(nodeAddr, port) + "/readyz"
	client := &http.Client{
		Timeout:   callTimeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
	}

	return client, readyz, nil
}

func probeReadyz(ctx context.Context, client *http.Client, readyz string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
	if err != nil {
		return err
	}

	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck

	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) //nolint:errcheck

		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}

	return nil
}

// retryWhileAway runs call until it succeeds, retrying while the node is away (see transient).
func retryWhileAway(ctx context.Context, n *node, call func(context.Context) error) error {
	delay := firstPoll

	for {
		c, cancel := context.WithTimeout(ctx, callTimeout)
		err := call(c)
		cancel()

		if err == nil || !transient(err) {
			return err
		}

		if refused := n.probeRefusal(ctx); refused != nil {
			return fmt.Errorf("the node refuses this client: %w", refused)
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("--timeout reached; last answer: %w", err)
		case <-time.After(delay):
		}

		delay = min(2*delay, maxPoll)
	}
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
