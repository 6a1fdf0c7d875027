package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"gopkg.in/yaml.v3"
)

// opsBin runs the built talos-ops as its callers do, stdin piped in, with ops's checks.
func opsBin(t *testing.T, stdin []byte, hidden []string, args ...string) result {
	t.Helper()

	var out, errOut bytes.Buffer

	cmd := exec.Command(toolBinary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errOut

	start := time.Now()
	err := cmd.Run()

	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}

	return checkOps(t, args, hidden, result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String(), took: time.Since(start)})
}

// must fails the test unless r succeeded with nothing on stderr, and returns its stdout.
func must(t *testing.T, r result) []byte {
	t.Helper()

	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	return []byte(r.stdout)
}

// kubeGet GETs path from the API server a kubeconfig points at, with its admin credentials,
// and returns the status code and body.
func kubeGet(t *testing.T, kubeconfig []byte, path string) (int, string) {
	t.Helper()

	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Crt string `yaml:"client-certificate-data"`
				Key string `yaml:"client-key-data"`
			} `yaml:"user"`
		} `yaml:"users"`
	}

	if err := yaml.Unmarshal(kubeconfig, &kc); err != nil || len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		t.Fatalf("kubeconfig: %v", err)
	}

	decode := func(b string) []byte {
		out, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			t.Fatal(err)
		}

		return out
	}

	cert, err := tls.X509KeyPair(decode(kc.Users[0].User.Crt), decode(kc.Users[0].User.Key))
	if err != nil {
		t.Fatal(err)
	}

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(decode(kc.Clusters[0].Cluster.CA)) {
		t.Fatal("kubeconfig: no CA")
	}

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}

	resp, err := c.Get(kc.Clusters[0].Cluster.Server + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck

	body, _ := io.ReadAll(resp.Body) //nolint:errcheck

	return resp.StatusCode, string(body)
}

// TestTakeoverRoundTrip takes a node over from nothing but the tool: new secrets, a config from
// them (with a patch), applied in maintenance mode, a talosconfig from the secrets, bootstrap
// with a real etcd and API server, the admin kubeconfig used against that API server, and the
// node's running config read back, whose secrets are the ones it was made from.
func TestTakeoverRoundTrip(t *testing.T) {
	const ip = "127.0.10.230"

	binDir := kubeBinDir(t)
	dir := t.TempDir()
	node := startSim(t, ip, t.TempDir(), "--kube-bin-dir", binDir, "--bootstrap-timeout", "150s")
	target := []string{"--node", ip, "--endpoint", ip}

	bundle := must(t, opsBin(t, nil, nil, "gen-secrets"))
	hidden := bundleSecrets(t, bundle)

	patch := writeFile(t, dir, "node.yaml", "machine:\n  network:\n    hostname: takeover-1\n  nodeLabels:\n    homelab/taken-over: \"yes\"\n")
	config := must(t, opsBin(t, bundle, hidden, genConfigArgs(ip, "--patch", patch)...))
	configFile := writeFile(t, dir, "controlplane.yaml", string(config))

	if r := opsBin(t, nil, hidden, append([]string{"apply", "--file", configFile, "--insecure"}, target...)...); r.code != 0 ||
		r.stdout != "node 127.0.10.230 applied the config: Applied configuration with a reboot\n" {
		t.Fatalf("apply --insecure: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	talosconfig := must(t, opsBin(t, bundle, hidden, "talosconfig", "--endpoint", ip, "--node", ip, "--context", "lab"))

	start := time.Now()
	if r := opsBin(t, talosconfig, hidden, append([]string{"bootstrap"}, target...)...); r.code != 0 || r.stdout != "node 127.0.10.230 bootstrapped\n" {
		t.Fatalf("bootstrap: exit %d, stdout %q, stderr %q\n%s", r.code, r.stdout, r.stderr, node.log())
	}

	t.Logf("bootstrapped in %s", time.Since(start).Round(time.Millisecond))

	kubeconfig := must(t, opsBin(t, talosconfig, hidden, append([]string{"kubeconfig"}, target...)...))

	if code, body := kubeGet(t, kubeconfig, "/version"); code != http.StatusOK || !strings.Contains(body, `"gitVersion": "v1.34.1"`) {
		t.Errorf("GET /version with the kubeconfig: %d %s", code, body)
	}

	if code, body := kubeGet(t, kubeconfig, "/api/v1/namespaces/kube-system"); code != http.StatusOK {
		t.Errorf("GET kube-system with the kubeconfig: %d %s", code, body)
	}

	running := must(t, opsBin(t, talosconfig, hidden, append([]string{"machine-config"}, target...)...))
	if !bytes.Equal(running, config) {
		t.Error("machine-config is not the config applied")
	}

	if back := must(t, opsBin(t, running, hidden, "secrets-from-config")); !bytes.Equal(back, bundle) {
		t.Error("the running config's secrets are not the bundle it was made from")
	}

	for method, want := range map[string]int{"ApplyConfiguration": 1, "Bootstrap": 1, "Kubeconfig": 1} {
		if got := node.rpcs(method, "OK"); got != want {
			t.Errorf("%s OK calls = %d, want %d", method, got, want)
		}
	}
}

// TestTakeoverNodeCommands: apply (maintenance and normal mode, dry runs), machine-config,
// bootstrap and kubeconfig against a node without a control plane (cheap), and what they
// refuse; the talosconfig made from the bundle is the node's os:admin.
func TestTakeoverNodeCommands(t *testing.T) {
	const ip = "127.0.10.231"

	dir, stateDir := t.TempDir(), t.TempDir()
	node := startSim(t, ip, stateDir)
	target := []string{"--node", ip, "--endpoint", ip}

	bundle := must(t, opsBin(t, nil, nil, "gen-secrets"))
	hidden := append(bundleSecrets(t, bundle), "hunter2-not-shown")
	config := must(t, ops(t, bundle, hidden, genConfigArgs(ip)...))
	configFile := writeFile(t, dir, "controlplane.yaml", string(config))
	talosconfig := must(t, ops(t, bundle, hidden, "talosconfig", "--endpoint", ip, "--context", "lab"))

	apply := func(stdin []byte, extra ...string) result {
		t.Helper()

		return ops(t, stdin, hidden, append(append([]string{"apply"}, target...), extra...)...)
	}

	t.Run("maintenance mode: a dry run says there is no config yet, and changes nothing", func(t *testing.T) {
		r := apply(nil, "--file", configFile, "--insecure", "--dry-run")
		if r.code != 0 || r.stdout != "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.\n" {
			t.Errorf("exit %d, stdout %q", r.code, r.stdout)
		}

		if _, err := os.Stat(filepath.Join(stateDir, "config.yaml")); !os.IsNotExist(err) {
			t.Errorf("the dry run configured the node (%v)", err)
		}
	})

	t.Run("maintenance mode: apply --insecure installs the config", func(t *testing.T) {
		r := apply(nil, "--file", configFile, "--insecure")
		if r.code != 0 || r.stdout != "node 127.0.10.231 applied the config: Applied configuration with a reboot\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("machine-config returns what was applied, to the bundle's talosconfig (os:admin)", func(t *testing.T) {
		r := ops(t, talosconfig, hidden, append([]string{"machine-config"}, target...)...)
		if r.code != 0 || r.stdout != string(config) {
			t.Errorf("exit %d: not the applied config", r.code)
		}
	})

	savedBefore, _ := os.ReadFile(filepath.Join(stateDir, "config.yaml"))     //nolint:errcheck
	versionBefore, _ := os.ReadFile(filepath.Join(stateDir, "talos-version")) //nolint:errcheck

	hostPatch := writeFile(t, dir, "hostname.yaml", "machine:\n  network:\n    hostname: takeover-1\n")
	changed := must(t, ops(t, bundle, hidden, genConfigArgs(ip, "--patch", hostPatch)...))
	changedFile := writeFile(t, dir, "changed.yaml", string(changed))

	envPatch := writeFile(t, dir, "env.yaml", "machine:\n  env:\n    GRPC_GO_LOG_SEVERITY_LEVEL: info\n")
	needsReboot := writeFile(t, dir, "reboot.yaml", string(must(t, ops(t, bundle, hidden, genConfigArgs(ip, "--patch", envPatch)...))))

	t.Run("apply --dry-run prints the node's summary and diff", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			extra []string
			want  string
		}{
			{"a change applied live", []string{"--file", changedFile, "--dry-run"},
				"Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ -12,7 +12,8 @@\n" +
					"         image: ghcr.io/siderolabs/kubelet:v1.34.1\n         defaultRuntimeSeccompProfileEnabled: true\n         disableManifestsDirectory: true\n" +
					"-    network: {}\n+    network:\n+        hostname: takeover-1\n     install:\n         disk: /dev/sda\n         image: ghcr.io/siderolabs/installer:v1.11.5\n"},
			{"a change that needs a reboot", []string{"--file", needsReboot, "--dry-run"},
				"Dry run summary:\nApplied configuration with a reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ -"},
			{"staged", []string{"--file", needsReboot, "--dry-run", "--mode", "staged"},
				"Dry run summary:\nStaged configuration to be applied after the next reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n"},
			{"the running config", []string{"--file", configFile, "--dry-run", "--mode", "no-reboot"},
				"Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\nConfig diff:\n\nNo changes.\n"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := apply(talosconfig, tt.extra...)
				if r.code != 0 || !strings.HasPrefix(r.stdout, tt.want) {
					t.Errorf("exit %d, stdout:\n%s\nwant a start of:\n%s", r.code, r.stdout, tt.want)
				}
			})
		}

		// The node's refusal carries the diff, which stays off stderr (its context may be secrets).
		r := apply(talosconfig, "--file", needsReboot, "--dry-run", "--mode", "no-reboot")
		if r.code != 1 || r.stderr != "talos-ops apply: Talos ApplyConfiguration on 127.0.10.231: this config change can't be applied in immediate mode "+
			"(--dry-run --mode auto shows the diff; --mode reboot or staged applies it)\n" {
			t.Errorf("no-reboot with a change that needs a reboot: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("the dry runs changed nothing on the node", func(t *testing.T) {
		saved, _ := os.ReadFile(filepath.Join(stateDir, "config.yaml"))     //nolint:errcheck
		version, _ := os.ReadFile(filepath.Join(stateDir, "talos-version")) //nolint:errcheck

		if !bytes.Equal(saved, savedBefore) || !bytes.Equal(version, versionBefore) {
			t.Error("the saved config or the version changed")
		}

		if _, err := os.Stat(filepath.Join(stateDir, "config.staged.yaml")); !os.IsNotExist(err) {
			t.Errorf("a staged dry run staged the config (%v)", err)
		}

		if r := ops(t, talosconfig, hidden, append([]string{"machine-config"}, target...)...); r.stdout != string(config) {
			t.Error("machine-config changed")
		}

		if n := strings.Count(node.log(), `msg="config applied"`); n != 1 {
			t.Errorf("%d applies logged, want the install only", n)
		}
	})

	t.Run("apply --mode no-reboot, then machine-config returns it", func(t *testing.T) {
		r := apply(talosconfig, "--file", changedFile, "--mode", "no-reboot")
		if r.code != 0 || r.stdout != "node 127.0.10.231 applied the config: Applied configuration without a reboot\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}

		if r = ops(t, talosconfig, hidden, append([]string{"machine-config"}, target...)...); r.stdout != string(changed) {
			t.Error("machine-config is not the config applied last")
		}
	})

	t.Run("bootstrap once, then already bootstrapped; kubeconfig", func(t *testing.T) {
		for _, want := range []string{"node 127.0.10.231 bootstrapped\n", "node 127.0.10.231 was already bootstrapped (etcd data directory is not empty)\n"} {
			if r := ops(t, talosconfig, hidden, append([]string{"bootstrap"}, target...)...); r.code != 0 || r.stdout != want {
				t.Errorf("exit %d, stdout %q (want %q), stderr %q", r.code, r.stdout, want, r.stderr)
			}
		}

		r := ops(t, talosconfig, hidden, append([]string{"kubeconfig"}, target...)...)

		var kc struct {
			Clusters []struct {
				Cluster struct {
					Server string `yaml:"server"`
				} `yaml:"cluster"`
			} `yaml:"clusters"`
		}

		if err := yaml.Unmarshal([]byte(r.stdout), &kc); err != nil || r.code != 0 || len(kc.Clusters) != 1 ||
			kc.Clusters[0].Cluster.Server != "https://127.0.10.231:6443" {
			t.Errorf("exit %d, kubeconfig %v (%v)", r.code, kc, err)
		}
	})

	t.Run("what the node and the tool refuse, in one line", func(t *testing.T) {
		other := must(t, ops(t, nil, nil, "gen-secrets"))
		otherTalosconfig := must(t, ops(t, other, nil, "talosconfig", "--endpoint", ip, "--context", "other"))
		mc := append([]string{"machine-config"}, target...)

		for _, tt := range []struct {
			name  string
			stdin []byte
			args  []string
			code  int
			want  string
		}{
			{"apply --insecure to a configured node", nil, append(append([]string{"apply"}, target...), "--file", configFile, "--insecure"), 1,
				"talos-ops apply: Talos ApplyConfiguration on 127.0.10.231 (maintenance mode): the node is not in maintenance mode: it requires a client certificate " +
					"(apply without --insecure, the node's talosconfig on stdin)\n"},
			{"os:reader may not read the config", readerTalosconfig(t, bundle, ip), mc, 1,
				"talos-ops machine-config: Talos resource Get MachineConfigs.config.talos.dev on 127.0.10.231: not authorized\n"},
			{"os:reader may not apply", readerTalosconfig(t, bundle, ip), append(append([]string{"apply"}, target...), "--file", configFile), 1,
				"talos-ops apply: Talos ApplyConfiguration on 127.0.10.231: not authorized: /machine.MachineService/ApplyConfiguration needs role os:admin\n"},
			{"another cluster's talosconfig", otherTalosconfig, mc, 1,
				"talos-ops machine-config: Talos resource Get MachineConfigs.config.talos.dev on 127.0.10.231: the node's certificate is not from this talosconfig's CA: " +
					"tls: failed to verify certificate: x509: certificate signed by unknown authority"},
			{"no talosconfig", nil, mc, 2, "talos-ops machine-config: no talosconfig on stdin\n"},
			{"a secrets bundle for a talosconfig", bundle, mc, 2, "talos-ops machine-config: the talosconfig on stdin has no context \"\" (its current context)\n"},
			{"no --file", talosconfig, append([]string{"apply"}, target...), 2, "talos-ops apply: --file is required (usage: "},
			{"--mode try", talosconfig, append(append([]string{"apply"}, target...), "--file", configFile, "--mode", "try"), 2,
				`talos-ops apply: --mode "try" is not one of auto, no-reboot, reboot, staged (usage: `},
			{"a config file that is not there", talosconfig, append(append([]string{"apply"}, target...), "--file", filepath.Join(dir, "none.yaml")), 2,
				"talos-ops apply: --file: stat " + filepath.Join(dir, "none.yaml") + ": no such file or directory (usage: "},
			{"a config that does not parse", talosconfig, append(append([]string{"apply"}, target...), "--file", writeFile(t, dir, "invalid.yaml", "machine: [\n")), 1,
				"talos-ops apply: Talos ApplyConfiguration on 127.0.10.231: decode error: yaml: line 1: did not find expected node content\n"},
			{"an unknown key, its value not quoted", talosconfig, append(append([]string{"apply"}, target...), "--file",
				writeFile(t, dir, "unknown.yaml", strings.Replace(string(config), "machine:\n", "machine:\n    registry:\n        password: hunter2-not-shown\n", 1))), 1,
				"talos-ops apply: Talos ApplyConfiguration on 127.0.10.231: unknown keys found during decoding: machine.registry.password\n"},
			{"an invalid config, Talos's validation message", talosconfig, append(append([]string{"apply"}, target...), "--file",
				writeFile(t, dir, "no-endpoint.yaml", strings.Replace(string(config), "https://127.0.10.231:6443", "https://", 1))), 1,
				"talos-ops apply: Talos ApplyConfiguration on 127.0.10.231: 1 error occurred: * invalid controlplane endpoint: hostname must not be blank\n"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := ops(t, tt.stdin, hidden, tt.args...)
				if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.want) || r.stdout != "" {
					t.Errorf("exit %d (want %d), stdout %q, stderr %q (want %q...)", r.code, tt.code, r.stdout, r.stderr, tt.want)
				}

				if r.took > 5*time.Second {
					t.Errorf("took %s: a refusal must fail at once", r.took)
				}
			})
		}
	})
}

// readerTalosconfig is a talosconfig from the bundle with role os:reader instead of os:admin.
func readerTalosconfig(t *testing.T, bundleYAML []byte, ip string) []byte {
	t.Helper()

	b := mustBundle(t, bundleYAML)

	crt, err := b.GenerateTalosAPIClientCertificate(role.MakeSet(role.Reader))
	if err != nil {
		t.Fatal(err)
	}

	cfg := clientconfig.NewConfig("reader", []string{ip}, b.Certs.OS.Crt, crt)

	data, err := cfg.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	return data
}
