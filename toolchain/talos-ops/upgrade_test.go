package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

func upgradeArgs(ip, version string, extra ...string) []string {
	return append([]string{"upgrade", "--node", ip, "--endpoint", ip, "--image", "ghcr.io/siderolabs/installer:" + version, "--timeout", "30s"}, extra...)
}

// TestUpgrade runs the tool as the stack does against a simulated node: the upgrade and its
// reboot, the no-op second run, a restart, a staged upgrade, and every way to fail.
func TestUpgrade(t *testing.T) {
	const ip = "127.0.10.240"

	c := newCluster(t, ip)
	stateDir := t.TempDir()
	node := startSim(t, ip, stateDir) // --reboot-window 0: an upgrade reboots for the default 2s
	node.install(t, c)

	tc := c.yaml(t, nil)

	t.Run("upgrade v1.11.5 -> v1.11.6 waits through the reboot", func(t *testing.T) {
		r := tool(t, c, tc, upgradeArgs(ip, "v1.11.6")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}

		for _, want := range []string{
			"node 127.0.10.240 runs v1.11.5; upgrading to v1.11.6 with ghcr.io/siderolabs/installer:v1.11.6\n",
			"node 127.0.10.240 accepted the upgrade (Upgrade request received); waiting up to ",
			"node 127.0.10.240 is rebooting (unavailable)\n",
			"node 127.0.10.240 runs v1.11.6 (upgraded in ",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}

		if r.took < 2*time.Second {
			t.Errorf("finished in %s, inside the 2s reboot window", r.took)
		}

		if node.rpcs("Upgrade", "OK") != 1 || node.rpcs("Version", "Unavailable") == 0 {
			t.Errorf("want one Upgrade and Version calls refused during the reboot:\n%s", node.log())
		}

		if !strings.Contains(node.log(), "node="+ip+" ") {
			t.Error("the node metadata was not sent")
		}
	})

	t.Run("a second run is a no-op", func(t *testing.T) {
		r := tool(t, c, tc, upgradeArgs(ip, "v1.11.6")...)
		if r.code != 0 || r.stdout != "node 127.0.10.240 already runs v1.11.6\n" {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}

		if node.rpcs("Upgrade", "OK") != 1 {
			t.Error("a second Upgrade was sent")
		}

		// The same through the binary, with the talosconfig piped into its stdin.
		cmd := exec.Command(toolBinary, upgradeArgs(ip, "v1.11.6")...)
		cmd.Stdin = bytes.NewReader(tc)

		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "node 127.0.10.240 already runs v1.11.6\n" {
			t.Errorf("binary: %v, output %q", err, out)
		}
	})

	t.Run("a bad image ref fails in one line", func(t *testing.T) {
		// Without a version tag the tool cannot know what to wait for: refused before dialling.
		r := tool(t, c, tc, "upgrade", "--node", ip, "--image", "ghcr.io/siderolabs/installer:latest")
		if r.code != 2 || !strings.Contains(r.stderr, "must end in :vX.Y.Z") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}

		// A tag the tool accepts on a reference the node refuses: the node's InvalidArgument.
		r = tool(t, c, tc, "upgrade", "--node", ip, "--image", "ghcr.io/SideroLabs/installer:v1.11.7")
		if r.code != 1 || !strings.Contains(r.stderr, "code = InvalidArgument") ||
			!strings.Contains(r.stderr, "bad repository path component") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}

		if r = tool(t, c, tc, upgradeArgs(ip, "v1.11.6")...); r.stdout != "node 127.0.10.240 already runs v1.11.6\n" {
			t.Error("a refused upgrade changed the node")
		}
	})

	t.Run("a wrong or missing client certificate fails at once", func(t *testing.T) {
		other := newCluster(t, ip)

		foreignCert, err := other.bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Admin))
		if err != nil {
			t.Fatal(err)
		}

		reader, err := c.bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Reader))
		if err != nil {
			t.Fatal(err)
		}

		for _, tt := range []struct {
			name        string
			talosconfig []byte
			code        int
			want        string
		}{
			{"another cluster's talosconfig", other.yaml(t, nil), 1, "x509: certificate signed by unknown authority"},
			{"a client certificate from another CA", c.yaml(t, func(ctx *clientconfig.Context) {
				ctx.Crt = base64.StdEncoding.EncodeToString(foreignCert.Crt)
				ctx.Key = base64.StdEncoding.EncodeToString(foreignCert.Key)
			}), 1, "tls: "},
			{"no client certificate", c.yaml(t, func(ctx *clientconfig.Context) { ctx.Crt, ctx.Key = "", "" }), 2, "a client certificate is required"},
			{"a key that does not match the certificate", c.yaml(t, func(ctx *clientconfig.Context) {
				ctx.Key = base64.StdEncoding.EncodeToString(foreignCert.Key)
			}), 2, "private key does not match public key"},
			{"role os:reader", c.yaml(t, func(ctx *clientconfig.Context) {
				ctx.Crt = base64.StdEncoding.EncodeToString(reader.Crt)
				ctx.Key = base64.StdEncoding.EncodeToString(reader.Key)
			}), 1, "code = PermissionDenied"},
			{"no talosconfig", nil, 2, "no talosconfig on stdin"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := tool(t, c, tt.talosconfig, upgradeArgs(ip, "v1.11.7")...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
					t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.stderr, tt.want)
				}

				if r.took > 5*time.Second {
					t.Errorf("took %s: a refusal must not be retried until the timeout", r.took)
				}
			})
		}
	})

	t.Run("the TLS probe tells a node refusing the client from one accepting it or away", func(t *testing.T) {
		probe := func(talosconfig []byte, endpoint string) error {
			t.Helper()

			tc, err := readTalosconfig(bytes.NewReader(talosconfig), "upgrade")
			if err != nil {
				t.Fatal(err)
			}

			n, err := connect(target{node: ip, endpoint: endpoint}, tc)
			if err != nil {
				t.Fatal(err)
			}
			defer n.c.Close() //nolint:errcheck

			return n.probeRefusal(context.Background())
		}

		foreign, err := newCluster(t, ip).bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Admin))
		if err != nil {
			t.Fatal(err)
		}

		refused := probe(c.yaml(t, func(ctx *clientconfig.Context) {
			ctx.Crt = base64.StdEncoding.EncodeToString(foreign.Crt)
			ctx.Key = base64.StdEncoding.EncodeToString(foreign.Key)
		}), ip)
		if refused == nil || !strings.Contains(refused.Error(), "remote error: tls: unknown certificate authority") {
			t.Errorf("foreign client certificate: %v", refused)
		}

		if err = probe(tc, ip); err != nil {
			t.Errorf("the node's own talosconfig: %v", err)
		}

		if err = probe(tc, "127.0.10.247:50000"); err != nil {
			t.Errorf("nothing listening (a node away): %v", err)
		}
	})

	t.Run("a talosconfig that does not parse is not quoted back", func(t *testing.T) {
		key := c.talosconfig.Contexts[c.talosconfig.Context].Key
		broken := []byte("context: lab\ncontexts:\n  lab: " + key + "\n")

		r := tool(t, c, broken, upgradeArgs(ip, "v1.11.7")...)
		if r.code != 2 || !strings.Contains(r.stderr, "talosconfig on stdin is not valid") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("a staged upgrade waits for the node's next start, which keeps the version", func(t *testing.T) {
		r := tool(t, c, tc, upgradeArgs(ip, "v1.11.7", "--stage")...)
		if r.code != 0 || !strings.Contains(r.stdout, "staged the upgrade to v1.11.7") {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}

		if r = tool(t, c, tc, upgradeArgs(ip, "v1.11.6")...); r.stdout != "node 127.0.10.240 already runs v1.11.6\n" {
			t.Error("a staged upgrade took effect without a reboot")
		}

		node.stop()
		node = startSim(t, ip, stateDir)

		if r = tool(t, c, tc, upgradeArgs(ip, "v1.11.7")...); r.stdout != "node 127.0.10.240 already runs v1.11.7\n" {
			t.Errorf("after a restart: exit %d, stdout %q", r.code, r.stdout)
		}
	})
}

// TestUpgradeNodeAway: a node that is away when the tool starts is waited for; one still away
// at --timeout is a one-line failure naming the last answer.
func TestUpgradeNodeAway(t *testing.T) {
	const ip = "127.0.10.241"

	c := newCluster(t, ip)
	stateDir := t.TempDir()
	installed := startSim(t, ip, stateDir)
	installed.install(t, c)
	installed.stop()

	// Restarted with its first 3 RPCs refused, as a node still coming up.
	node := startSim(t, ip, stateDir, "--fail-first", "3", "--reboot-window", "1s")
	tc := c.yaml(t, nil)

	r := tool(t, c, tc, upgradeArgs(ip, "v1.11.6")...)
	if r.code != 0 || !strings.Contains(r.stdout, "runs v1.11.6 (upgraded in ") {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}

	if node.rpcs("Version", "Unavailable") < 3 {
		t.Errorf("the injected failures were not met:\n%s", node.log())
	}

	r = tool(t, c, tc, append(upgradeArgs(ip, "v1.11.7")[:7], "--timeout", "500ms")...)
	if r.code != 1 || !strings.Contains(r.stderr, "--timeout reached; last answer: ") ||
		!strings.Contains(r.stderr, "node is rebooting") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
