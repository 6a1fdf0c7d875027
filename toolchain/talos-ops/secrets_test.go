package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"gopkg.in/yaml.v3"
)

// ops runs talos-ops in-process with stdin; it checks that a failure is one line on stderr and
// that neither stderr nor (for a failure) stdout holds any of the secrets.
func ops(t *testing.T, stdin []byte, secrets []string, args ...string) result {
	t.Helper()

	var stdout, stderr bytes.Buffer

	start := time.Now()
	code := run(context.Background(), args, bytes.NewReader(stdin), &stdout, &stderr)

	return checkOps(t, args, secrets, result{code: code, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)})
}

// secretOutputs are the commands whose output is a secret.
var secretOutputs = []string{"gen-secrets", "secrets-from-config", "gen-config", "talosconfig", "kubeconfig", "machine-config"}

func checkOps(t *testing.T, args, secrets []string, r result) result {
	t.Helper()

	// What holds secrets is not logged, nor anything long.
	shown := r.stdout
	if len(shown) > 2000 || slices.Contains(secretOutputs, args[0]) && r.code == 0 {
		shown = fmt.Sprintf("(%d bytes on stdout)\n", len(shown))
	}

	t.Logf("talos-ops %s -> exit %d in %s\n%s%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), shown, r.stderr)

	for _, s := range secrets {
		if strings.Contains(r.stderr, s) || (r.code != 0 && strings.Contains(r.stdout, s)) {
			t.Fatalf("a secret in the output of a failure or on stderr: %q", s[:8]+"...")
		}
	}

	if r.code != 0 && (r.stderr == "" || strings.Count(r.stderr, "\n") != 1) {
		t.Errorf("want exactly one error line on stderr, got %q", r.stderr)
	}

	return r
}

// bundleSecrets are strings of a bundle that no message may quote.
func bundleSecrets(t *testing.T, bundleYAML []byte) []string {
	t.Helper()

	var b secrets.Bundle
	if err := yaml.Unmarshal(bundleYAML, &b); err != nil {
		t.Fatal(err)
	}

	out := []string{b.Cluster.Secret, b.Secrets.BootstrapToken, b.TrustdInfo.Token, b.Secrets.SecretboxEncryptionSecret}
	for _, key := range [][]byte{b.Certs.OS.Key, b.Certs.K8s.Key, b.Certs.Etcd.Key, b.Certs.K8sServiceAccount.Key} {
		out = append(out, base64.StdEncoding.EncodeToString(key)[40:100], string(key[40:80]))
	}

	return out
}

// genConfigArgs are gen-config's required flags for a node at ip, plus extra.
func genConfigArgs(ip string, extra ...string) []string {
	return append([]string{"gen-config", "--cluster-name", "lab", "--endpoint", "https://" + ip + ":6443",
		"--kubernetes-version", "v1.34.1", "--talos-version", "v1.11.5"}, extra...)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()

	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	return path
}

// TestSecretsAndConfigs: gen-secrets, gen-config and secrets-from-config agree with each other
// and with talosctl's shapes: the bundle of a generated control-plane config is the bundle it
// was generated from, byte for byte.
func TestSecretsAndConfigs(t *testing.T) {
	r := ops(t, nil, nil, "gen-secrets")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("gen-secrets: exit %d, %s", r.code, r.stderr)
	}

	bundleYAML := []byte(r.stdout)
	hidden := bundleSecrets(t, bundleYAML)

	t.Run("the bundle follows the v1.11 contract, as talosctl gen secrets writes it", func(t *testing.T) {
		var b secrets.Bundle

		dec := yaml.NewDecoder(bytes.NewReader(bundleYAML))
		dec.KnownFields(true)

		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}

		b.Clock = secrets.NewClock()
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}

		// Since 1.3 secretbox, not AES-CBC; since 1.7 an RSA service-account key, not ECDSA.
		if b.Secrets.SecretboxEncryptionSecret == "" || b.Secrets.AESCBCEncryptionSecret != "" {
			t.Error("want a secretbox encryption secret only")
		}

		if block, _ := pem.Decode(b.Certs.K8sServiceAccount.Key); block == nil || block.Type != "RSA PRIVATE KEY" {
			t.Error("the service account key is not an RSA key")
		}

		for _, top := range []string{"cluster:\n", "secrets:\n", "trustdinfo:\n", "certs:\n    etcd:\n        crt: "} {
			if !strings.Contains(r.stdout, top) {
				t.Errorf("bundle lacks %q", top)
			}
		}
	})

	r = ops(t, bundleYAML, hidden, genConfigArgs("127.0.10.236")...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("gen-config: exit %d, %s", r.code, r.stderr)
	}

	controlPlane := []byte(r.stdout)

	t.Run("gen-config writes a control-plane config from the bundle", func(t *testing.T) {
		cfg, err := configloader.NewFromBytes(controlPlane)
		if err != nil {
			t.Fatal(err)
		}

		if cfg.Machine().Type() != machine.TypeControlPlane || cfg.Cluster().Name() != "lab" ||
			cfg.Cluster().Endpoint().String() != "https://127.0.10.236:6443" ||
			cfg.Machine().Install().Disk() != "/dev/sda" || cfg.Machine().Install().Image() != "ghcr.io/siderolabs/installer:v1.11.5" ||
			cfg.Machine().Kubelet().Image() != "ghcr.io/siderolabs/kubelet:v1.34.1" || cfg.Cluster().ID() == "" {
			t.Errorf("unexpected config:\n%s", controlPlane)
		}

		if !bytes.Equal(cfg.Machine().Security().IssuingCA().Crt, mustBundle(t, bundleYAML).Certs.OS.Crt) {
			t.Error("machine.ca is not the bundle's OS CA")
		}

		if _, err = cfg.Validate(metalInstall{}); err != nil {
			t.Errorf("not valid for metal: %v", err)
		}

		if strings.Contains(r.stdout, "# ") {
			t.Error("the config is written without comments")
		}
	})

	t.Run("secrets-from-config of that config is the bundle", func(t *testing.T) {
		r := ops(t, controlPlane, hidden, "secrets-from-config")
		if r.code != 0 || r.stdout != string(bundleYAML) {
			t.Errorf("exit %d; bundle differs:\n%s\nwant:\n%s", r.code, r.stdout, bundleYAML)
		}
	})

	t.Run("--worker writes the worker config, whose secrets are not enough", func(t *testing.T) {
		r := ops(t, bundleYAML, hidden, genConfigArgs("127.0.10.236", "--worker")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}

		cfg, err := configloader.NewFromBytes([]byte(r.stdout))
		if err != nil || cfg.Machine().Type() != machine.TypeWorker || len(cfg.Machine().Security().IssuingCA().Key) != 0 {
			t.Fatalf("not a worker config (%v)", err)
		}

		r = ops(t, []byte(r.stdout), hidden, "secrets-from-config")
		if r.code != 1 || r.stdout != "" ||
			r.stderr != "talos-ops secrets-from-config: the machine config on stdin is a worker config: only a control plane's carries the cluster's CA keys\n" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("gen-secrets --talos-version picks the contract", func(t *testing.T) {
		r := ops(t, nil, nil, "gen-secrets", "--talos-version", "v1.2.0")
		if r.code != 0 || !strings.Contains(r.stdout, "aescbcencryptionsecret: ") || strings.Contains(r.stdout, "secretbox") {
			t.Errorf("a v1.2 bundle has an AES-CBC secret: exit %d", r.code)
		}

		if block, _ := pem.Decode(mustBundle(t, []byte(r.stdout)).Certs.K8sServiceAccount.Key); block == nil || block.Type != "EC PRIVATE KEY" {
			t.Error("a v1.2 bundle's service account key is not an ECDSA key")
		}
	})
}

func mustBundle(t *testing.T, data []byte) *secrets.Bundle {
	t.Helper()

	b, err := readBundle(bytes.NewReader(data), "test")
	if err != nil {
		t.Fatal(err)
	}

	return b
}

// TestGenConfigPatches: --patch files apply in order, strategic merge and JSON 6902 alike, and
// what they break fails with Talos's own validation message; nothing quotes them back.
func TestGenConfigPatches(t *testing.T) {
	const ip = "127.0.10.236"

	bundleYAML := []byte(ops(t, nil, nil, "gen-secrets").stdout)
	hidden := append(bundleSecrets(t, bundleYAML), "hunter2-not-shown")
	dir := t.TempDir()

	first := writeFile(t, dir, "first.yaml", "machine:\n  network:\n    hostname: first\n  nodeLabels:\n    homelab/role: storage\n")
	second := writeFile(t, dir, "second.yaml", "machine:\n  network:\n    hostname: second\n")
	jsonPatch := writeFile(t, dir, "json.yaml", "- op: add\n  path: /machine/nodeTaints\n  value:\n    dedicated: storage:NoSchedule\n")

	t.Run("in order: the last one wins, the others stay", func(t *testing.T) {
		r := ops(t, bundleYAML, hidden, genConfigArgs(ip, "--patch", first, "--patch", second, "--patch", jsonPatch)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}

		cfg, err := configloader.NewFromBytes([]byte(r.stdout))
		if err != nil {
			t.Fatal(err)
		}

		if cfg.Machine().Network().Hostname() != "second" || cfg.Machine().NodeLabels()["homelab/role"] != "storage" ||
			cfg.Machine().NodeTaints()["dedicated"] != "storage:NoSchedule" {
			t.Errorf("patches not applied in order:\n%s", r.stdout)
		}

		r = ops(t, bundleYAML, hidden, genConfigArgs(ip, "--patch", second, "--patch", first)...)
		if cfg, err = configloader.NewFromBytes([]byte(r.stdout)); err != nil || cfg.Machine().Network().Hostname() != "first" {
			t.Errorf("the other order: %v", err)
		}
	})

	for _, tt := range []struct {
		name, patch, want string
	}{
		{"a JSON patch removing the install disk", "- op: remove\n  path: /machine/install/disk\n",
			"talos-ops gen-config: the controlplane config is not valid for a metal install: 1 error occurred: * either install disk or diskSelector should be defined\n"},
		{"a bad subnet", "machine:\n  kubelet:\n    nodeIP:\n      validSubnets: [not-a-subnet]\n",
			`talos-ops gen-config: the controlplane config is not valid for a metal install: 1 error occurred: * kubelet nodeIP subnet is not valid: "not-a-subnet"`},
		{"an unknown key, its value not shown", "machine:\n  registry:\n    password: hunter2-not-shown\n",
			"talos-ops gen-config: --patch " + filepath.Join(dir, "bad.yaml") + ": unknown keys found during decoding: machine.registry.password\n"},
		{"a value of the wrong type, not shown", "machine:\n  install:\n    wipe: hunter2-not-shown\n",
			"talos-ops gen-config: --patch " + filepath.Join(dir, "bad.yaml") + ": error decoding to *v1alpha1.Config: yaml: unmarshal errors: line 3: cannot unmarshal !!str `...` into bool\n"},
		{"a JSON patch adding an unknown key, its value not shown", "- op: replace\n  path: /machine/nothing\n  value: hunter2-not-shown\n",
			"talos-ops gen-config: applying the patches: unknown keys found during decoding: machine.nothing\n"},
		{"a JSON patch for a path that is not there", "- op: add\n  path: /machine/nothing/deeper\n  value: hunter2-not-shown\n",
			`talos-ops gen-config: applying the patches: failure applying rfc6902 patches to talos machine config: add operation does not apply: doc is missing path: "/machine/nothing/deeper": missing value` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := writeFile(t, dir, "bad.yaml", tt.patch)

			r := ops(t, bundleYAML, hidden, genConfigArgs(ip, "--patch", first, "--patch", bad)...)
			if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q (want %q)", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestTalosconfigFromBundle: an admin talosconfig as gen config makes it, from the bundle's
// OS CA (that a node accepts it as os:admin: TestTakeoverNodeCommands).
func TestTalosconfigFromBundle(t *testing.T) {
	bundleYAML := []byte(ops(t, nil, nil, "gen-secrets").stdout)
	bundle := mustBundle(t, bundleYAML)

	r := ops(t, bundleYAML, bundleSecrets(t, bundleYAML), "talosconfig", "--endpoint", "127.0.10.236", "--endpoint", "127.0.10.237:50001",
		"--node", "127.0.10.236", "--node", "127.0.10.238", "--context", "homelab")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	cfg, err := clientconfig.FromString(r.stdout)
	if err != nil {
		t.Fatal(err)
	}

	ctx := cfg.Contexts["homelab"]
	if cfg.Context != "homelab" || ctx == nil || !slices.Equal(ctx.Endpoints, []string{"127.0.10.236", "127.0.10.237:50001"}) ||
		!slices.Equal(ctx.Nodes, []string{"127.0.10.236", "127.0.10.238"}) {
		t.Fatalf("talosconfig:\n%s", r.stdout)
	}

	if ctx.CA != base64.StdEncoding.EncodeToString(bundle.Certs.OS.Crt) {
		t.Error("ca is not the bundle's OS CA")
	}

	crtPEM, _ := base64.StdEncoding.DecodeString(ctx.Crt) //nolint:errcheck
	block, _ := pem.Decode(crtPEM)
	caBlock, _ := pem.Decode(bundle.Certs.OS.Crt)

	if block == nil || caBlock == nil {
		t.Fatal("no certificate")
	}

	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	if err = crt.CheckSignatureFrom(ca); err != nil {
		t.Errorf("client certificate not issued by the OS CA: %v", err)
	}

	if roles, _ := role.Parse(crt.Subject.Organization); !slices.Equal(roles.Strings(), []string{string(role.Admin)}) {
		t.Errorf("roles %v, want os:admin", crt.Subject.Organization)
	}

	// As generate: valid for a year, for client authentication.
	if life := crt.NotAfter.Sub(crt.NotBefore); life < 364*24*time.Hour || !slices.Contains(crt.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("lifetime %s, key usage %v", life, crt.ExtKeyUsage)
	}

	// And the tool's own reader takes it.
	if _, err = readTalosconfig(strings.NewReader(r.stdout), "test"); err != nil {
		t.Error(err)
	}
}

// TestLocalCommandLine: what the commands that talk to no node refuse, before and after
// reading stdin, each in one line that quotes nothing of the input.
func TestLocalCommandLine(t *testing.T) {
	bundleYAML := []byte(ops(t, nil, nil, "gen-secrets").stdout)
	hidden := bundleSecrets(t, bundleYAML)
	dir := t.TempDir()

	var b secrets.Bundle
	if err := yaml.Unmarshal(bundleYAML, &b); err != nil {
		t.Fatal(err)
	}

	// A bundle with a misspelt key, and one missing its OS CA.
	misspelt := bytes.Replace(bundleYAML, []byte("bootstraptoken:"), []byte("bootstraptokn:"), 1)
	b.Certs.OS = nil

	noOSCA, err := yaml.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}

	tc := []string{"talosconfig", "--endpoint", "127.0.10.236", "--context", "lab"}

	for _, tt := range []struct {
		stdin []byte
		args  []string
		code  int
		want  string
	}{
		{nil, []string{"gen-secrets", "--talos-version", "eleven"}, 2, `talos-ops gen-secrets: --talos-version "eleven": `},
		{nil, []string{"gen-secrets", "secrets.yaml"}, 2, `talos-ops gen-secrets: unexpected argument "secrets.yaml" (inputs come from stdin and the named flags) (usage: `},
		{nil, []string{"gen-config", "--help"}, 0, ""},
		{bundleYAML, genConfigArgs("127.0.10.236")[:5], 2, `talos-ops gen-config: --kubernetes-version "" must be vX.Y.Z (usage: `},
		{bundleYAML, []string{"gen-config", "--endpoint", "https://127.0.10.236:6443"}, 2, "talos-ops gen-config: --cluster-name is required (usage: "},
		{bundleYAML, append(genConfigArgs("127.0.10.236")[:3], "--endpoint", "127.0.10.236:6443", "--kubernetes-version", "v1.34.1", "--talos-version", "v1.11.5"), 2,
			`talos-ops gen-config: --endpoint "127.0.10.236:6443" must be an https URL, https://<ip>:6443 (usage: `},
		{bundleYAML, genConfigArgs("127.0.10.236", "--talos-version", "1.11"), 2, `talos-ops gen-config: --talos-version "1.11" must be vX.Y.Z (usage: `},
		{bundleYAML, genConfigArgs("127.0.10.236", "--patch", filepath.Join(dir, "missing.yaml")), 2, "talos-ops gen-config: --patch: stat " + filepath.Join(dir, "missing.yaml") + ": no such file or directory (usage: "},
		{nil, genConfigArgs("127.0.10.236"), 2, "talos-ops gen-config: no secrets bundle on stdin\n"},
		{[]byte("cluster: [\n"), genConfigArgs("127.0.10.236"), 2, "talos-ops gen-config: the secrets bundle on stdin is not valid (YAML error at line 1)\n"},
		{misspelt, tc, 2, "talos-ops talosconfig: the secrets bundle on stdin is not valid (YAML error at line 5)\n"},
		{noOSCA, tc, 2, "talos-ops talosconfig: the secrets bundle on stdin is not valid: 1 error occurred: * certs.os is required\n"},
		{bundleYAML, []string{"talosconfig", "--context", "lab"}, 2, "talos-ops talosconfig: --endpoint is required (usage: "},
		{bundleYAML, []string{"talosconfig", "--endpoint", "node-1", "--context", "lab"}, 2, `talos-ops talosconfig: --endpoint "node-1" is not an IP address or IP:port (usage: `},
		{bundleYAML, []string{"talosconfig", "--endpoint", "127.0.10.236"}, 2, "talos-ops talosconfig: --context is required (usage: "},
		{bundleYAML, []string{"secrets-from-config"}, 2, "talos-ops secrets-from-config: the machine config on stdin does not load: unknown keys found during decoding: certs.etcd.crt, "},
		{[]byte("apiVersion: v1alpha1\nkind: KmsgLogConfig\nname: remote\nurl: tcp://127.0.10.236:5000/\n"), []string{"secrets-from-config"}, 1,
			"talos-ops secrets-from-config: the machine config on stdin has no v1alpha1 document (machine and cluster)\n"},
		{[]byte("version: v1alpha1\nmachine:\n  type: controlplane\n  token: [\n"), []string{"secrets-from-config"}, 2,
			"talos-ops secrets-from-config: the machine config on stdin does not load: "},
		{nil, []string{"secrets-from-config"}, 2, "talos-ops secrets-from-config: no machine config on stdin\n"},
	} {
		r := ops(t, tt.stdin, hidden, tt.args...)
		if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.want) || (tt.code != 0 && r.stdout != "") {
			t.Errorf("talos-ops %q: exit %d (want %d), stderr %q (want %q...)", tt.args, r.code, tt.code, r.stderr, tt.want)
		}
	}

	// The version a config is generated for decides its contract, as talosctl's --talos-version.
	if _, err := config.ParseContractFromVersion("v1.11.5"); err != nil {
		t.Fatal(err)
	}
}
