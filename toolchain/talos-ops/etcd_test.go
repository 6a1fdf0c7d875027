package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

// kubeBinDir finds the lab's control-plane binaries (etcd, etcdutl, kube-apiserver,
// kube-controller-manager), which the set-up builds with lab/build/kube.sh into
// $HOMELAB_CACHE/bin/kube-v1.34.1, as lab/talos-sim/controlplane_test.go finds them. Missing
// binaries fail the test: a skipped etcd test would pass without proving anything.
func kubeBinDir(t *testing.T) string {
	t.Helper()

	dir := os.Getenv("TALOS_SIM_KUBE_BIN_DIR")
	if dir == "" {
		cache := os.Getenv("HOMELAB_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir() //nolint:errcheck
			cache = filepath.Join(home, ".cache", "homelab-iac")
		}

		dir = filepath.Join(cache, "bin", "kube-v1.34.1")
	}

	for _, name := range []string{"etcd", "etcdutl", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("control-plane binary %s missing in %s: build them with `bash lab/build/kube.sh %s` "+
				"(npm run lab does it on a cold machine), or point TALOS_SIM_KUBE_BIN_DIR at them", name, dir, dir)
		}
	}

	return dir
}

// etcdKV writes (value != "") or reads a key in the simulated node's real etcd, through etcd's
// HTTP gateway on ip:2379; it returns the value read and whether the key exists.
func etcdKV(t *testing.T, ip, key, value string) (string, bool) {
	t.Helper()

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	op, body := "range", map[string]string{"key": b64(key)}

	if value != "" {
		op, body["value"] = "put", b64(value)
	}

	data, _ := json.Marshal(body) //nolint:errcheck

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post("http://"+ip+":2379/v3/kv/"+op, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck

	var out struct {
		Kvs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}

	if err = json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("etcd %s %s: %s, %v", op, key, resp.Status, err)
	}

	if len(out.Kvs) == 0 {
		return "", false
	}

	return string(out.Kvs[0].Value), true
}

// TestEtcdSnapshotAndRecover takes a snapshot of a simulated node's real etcd, has the node
// lose etcd, and brings it back from the snapshot, as npm run etcd-backup and etcd-restore do:
// the binary, the talosconfig on stdin, the snapshot on stdout and from a file.
func TestEtcdSnapshotAndRecover(t *testing.T) {
	const ip = "127.0.10.242"

	binDir := kubeBinDir(t)
	c := newCluster(t, ip)
	stateDir := t.TempDir()
	simFlags := []string{"--kube-bin-dir", binDir, "--bootstrap-timeout", "150s"}
	node := startSim(t, ip, stateDir, simFlags...)
	node.install(t, c)

	tc := c.yaml(t, nil)

	admin, err := client.New(context.Background(), client.WithConfig(c.talosconfig), client.WithEndpoints(ip))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close() //nolint:errcheck

	ctx, cancel := context.WithTimeout(context.Background(), 160*time.Second)
	defer cancel()

	start := time.Now()
	if err = admin.Bootstrap(ctx, &machineapi.BootstrapRequest{}); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, node.log())
	}

	t.Logf("bootstrapped in %s", time.Since(start).Round(time.Millisecond))

	etcdKV(t, ip, "talos-ops-test/before-snapshot", "kept")

	snapshot := filepath.Join(t.TempDir(), "etcd.db")

	t.Run("etcd-snapshot streams a snapshot etcdutl reads", func(t *testing.T) {
		f, err := os.OpenFile(snapshot, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}

		r := binary(t, c, tc, f, "etcd-snapshot", "--node", ip, "--endpoint", ip)
		f.Close() //nolint:errcheck,gosec

		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}

		out, err := exec.Command(filepath.Join(binDir, "etcdutl"), "snapshot", "status", snapshot, "-w", "json").CombinedOutput()
		if err != nil {
			t.Fatalf("etcdutl snapshot status: %v\n%s", err, out)
		}

		var status struct {
			TotalKey int `json:"totalKey"`
		}

		if err = json.Unmarshal(out, &status); err != nil || status.TotalKey < 100 {
			t.Errorf("etcdutl snapshot status: %s (%v)", out, err)
		}

		if node.rpcs("EtcdSnapshot", "OK") != 1 || !strings.Contains(node.log(), "node="+ip+" ") {
			t.Errorf("want one EtcdSnapshot for node %s:\n%s", ip, node.log())
		}
	})

	etcdKV(t, ip, "talos-ops-test/after-snapshot", "lost")

	info, err := os.Stat(snapshot)
	if err != nil {
		t.Fatal(err)
	}

	recoverArgs := []string{"etcd-recover", "--node", ip, "--endpoint", ip, "--snapshot", snapshot}

	t.Run("etcd-recover refuses a node whose etcd runs, in one line", func(t *testing.T) {
		r := binary(t, c, tc, nil, recoverArgs...)

		want := "talos-ops etcd-recover: Talos EtcdRecover on 127.0.10.242: etcd data directory is not empty: recovery is for a node that lost its etcd\n"
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q (want %q)", r.code, r.stdout, r.stderr, want)
		}

		if v, ok := etcdKV(t, ip, "talos-ops-test/after-snapshot", ""); !ok || v != "lost" {
			t.Error("the refused recovery changed etcd")
		}
	})

	// The node loses etcd (its data directory), keeping its machine config, as the lab test
	// (tests/etcd.test.ts) and the runbook's reset do.
	node.stop()

	for _, p := range []string{"etcd", "bootstrapped"} {
		if err = os.RemoveAll(filepath.Join(stateDir, p)); err != nil {
			t.Fatal(err)
		}
	}

	node = startSim(t, ip, stateDir, simFlags...)

	t.Run("etcd-recover uploads the snapshot and bootstraps etcd from it", func(t *testing.T) {
		r := binary(t, c, tc, nil, recoverArgs...)

		want := fmt.Sprintf("node 127.0.10.242 received the snapshot (%d bytes); bootstrapping etcd from it\n"+
			"node 127.0.10.242 bootstrapped etcd from the snapshot\n", info.Size())
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Fatalf("exit %d, stdout %q (want %q), stderr %q\n%s", r.code, r.stdout, want, r.stderr, node.log())
		}

		if !strings.Contains(node.log(), fmt.Sprintf(`msg="etcd snapshot received for recovery" bytes=%d`, info.Size())) ||
			!strings.Contains(node.log(), "msg=\"etcd restored from snapshot\"") {
			t.Errorf("the node did not restore the uploaded snapshot:\n%s", node.log())
		}

		// The log goes on across the restart: the first Bootstrap is the test's own.
		if node.rpcs("EtcdRecover", "OK") != 1 || node.rpcs("Bootstrap", "OK") != 2 {
			t.Errorf("want one EtcdRecover and one more Bootstrap:\n%s", node.log())
		}

		// Bootstrap answered once the API server was ready; etcd holds what the snapshot held.
		if v, ok := etcdKV(t, ip, "talos-ops-test/before-snapshot", ""); !ok || v != "kept" {
			t.Errorf("a key written before the snapshot: %q, %v", v, ok)
		}

		if _, ok := etcdKV(t, ip, "talos-ops-test/after-snapshot", ""); ok {
			t.Error("a key written after the snapshot survived the recovery")
		}

		if got, err := os.ReadFile(snapshot); err != nil || int64(len(got)) != info.Size() {
			t.Errorf("the snapshot file changed: %v", err)
		}
	})

	// The node's apid answers once it has booted, before its API server is ready (as on Talos);
	// the stack applies to the cluster right after the upgrade, so the tool must wait for both.
	t.Run("upgrade --wait-kubernetes returns once the control plane's API server is ready", func(t *testing.T) {
		r := tool(t, c, tc, upgradeArgs(ip, "v1.11.6", "--timeout", "150s", "--wait-kubernetes")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, node.log())
		}

		for _, want := range []string{
			"node 127.0.10.242 runs v1.11.6 (upgraded in ",
			"node 127.0.10.242: waiting for its Kubernetes API (https://127.0.10.242:6443/readyz)\n",
			"node 127.0.10.242: Kubernetes API ready (after ",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}

		call, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		kubeconfig, err := admin.Kubeconfig(call)
		if err != nil {
			t.Fatal(err)
		}

		client, readyz, err := readyzProbe(kubeconfig, ip)
		if err != nil {
			t.Fatal(err)
		}

		if err = probeReadyz(context.Background(), client, readyz); err != nil {
			t.Errorf("right after the upgrade returned: %v", err)
		}
	})
}

// TestEtcdCommands: what the etcd commands refuse, and how, against a node without a control
// plane (cheap): every failure one line naming the call and the node's message.
func TestEtcdCommands(t *testing.T) {
	const ip = "127.0.10.243"

	c := newCluster(t, ip)
	node := startSim(t, ip, t.TempDir())
	node.install(t, c)

	tc := c.yaml(t, nil)
	snapshotArgs := []string{"etcd-snapshot", "--node", ip, "--endpoint", ip}

	withRoles := func(roles ...role.Role) []byte {
		crt, err := c.bundle.GenerateTalosAPIClientCertificate(role.MakeSet(roles...))
		if err != nil {
			t.Fatal(err)
		}

		return c.yaml(t, func(ctx *clientconfig.Context) {
			ctx.Crt = base64.StdEncoding.EncodeToString(crt.Crt)
			ctx.Key = base64.StdEncoding.EncodeToString(crt.Key)
		})
	}

	foreign, err := newCluster(t, ip).bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Admin))
	if err != nil {
		t.Fatal(err)
	}

	emptyFile := filepath.Join(t.TempDir(), "empty.db")
	if err = os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name        string
		talosconfig []byte
		args        []string
		code        int
		want        string
	}{
		{"a snapshot of a node without etcd", tc, snapshotArgs, 1,
			"talos-ops etcd-snapshot: Talos EtcdSnapshot on 127.0.10.243: etcd is not running on this node\n"},
		// The in-cluster backup job's role is let through (and then meets the same node).
		{"role os:etcd:backup may take a snapshot", withRoles(role.EtcdBackup), snapshotArgs, 1,
			"talos-ops etcd-snapshot: Talos EtcdSnapshot on 127.0.10.243: etcd is not running on this node\n"},
		{"role os:reader may not", withRoles(role.Reader), snapshotArgs, 1,
			"talos-ops etcd-snapshot: Talos EtcdSnapshot on 127.0.10.243: not authorized: /machine.MachineService/EtcdSnapshot needs role os:etcd:backup or os:admin\n"},
		{"role os:etcd:backup may not recover", withRoles(role.EtcdBackup), []string{"etcd-recover", "--node", ip, "--snapshot", "main.go"}, 1,
			"talos-ops etcd-recover: Talos EtcdRecover on 127.0.10.243: not authorized: /machine.MachineService/EtcdRecover needs role os:admin\n"},
		{"a client certificate from another CA", c.yaml(t, func(ctx *clientconfig.Context) {
			ctx.Crt = base64.StdEncoding.EncodeToString(foreign.Crt)
			ctx.Key = base64.StdEncoding.EncodeToString(foreign.Key)
		}), snapshotArgs, 1,
			"talos-ops etcd-snapshot: Talos EtcdSnapshot on 127.0.10.243: the node refuses this client: remote error: tls: unknown certificate authority\n"},
		{"a node that is not there", tc, []string{"etcd-snapshot", "--node", "127.0.10.247"}, 1,
			"talos-ops etcd-snapshot: Talos EtcdSnapshot on 127.0.10.247: connection error: "},
		{"no talosconfig", nil, snapshotArgs, 2, "talos-ops etcd-snapshot: no talosconfig on stdin\n"},
		{"no snapshot file named", tc, []string{"etcd-recover", "--node", ip}, 2, "talos-ops etcd-recover: --snapshot is required (usage: "},
		{"a snapshot file that does not exist", tc, []string{"etcd-recover", "--node", ip, "--snapshot", "missing.db"}, 2,
			"talos-ops etcd-recover: --snapshot: stat missing.db: no such file or directory (usage: "},
		{"an empty snapshot file", tc, []string{"etcd-recover", "--node", ip, "--snapshot", emptyFile}, 2,
			"talos-ops etcd-recover: --snapshot " + emptyFile + " is empty (usage: "},
		{"a directory", tc, []string{"etcd-recover", "--node", ip, "--snapshot", "."}, 2,
			"talos-ops etcd-recover: --snapshot . is not a regular file (usage: "},
		{"an argument", tc, append(snapshotArgs, "talosconfig"), 2,
			`talos-ops etcd-snapshot: unexpected argument "talosconfig" (the talosconfig is read from stdin) (usage: `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tool(t, c, tt.talosconfig, tt.args...)
			if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q (want %q...)", r.code, tt.code, r.stdout, r.stderr, tt.want)
			}

			if r.took > 5*time.Second {
				t.Errorf("took %s: a refusal must fail at once", r.took)
			}
		})
	}

	// Without a control plane the node takes the upload and answers Bootstrap at once: the
	// protocol, cheaply. The second recovery meets a node that has etcd.
	t.Run("etcd-recover: upload, bootstrap, then a node with etcd", func(t *testing.T) {
		args := []string{"etcd-recover", "--node", ip, "--endpoint", ip, "--snapshot", "main.go"}

		r := tool(t, c, tc, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "node 127.0.10.243 received the snapshot (") ||
			!strings.HasSuffix(r.stdout, "); bootstrapping etcd from it\nnode 127.0.10.243 bootstrapped etcd from the snapshot\n") {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}

		main, _ := os.ReadFile("main.go") //nolint:errcheck
		if !strings.Contains(node.log(), fmt.Sprintf(`msg="etcd snapshot received for recovery" bytes=%d`, len(main))) {
			t.Errorf("the node did not receive the whole file:\n%s", node.log())
		}

		r = tool(t, c, tc, args...)
		if r.code != 1 || r.stdout != "" ||
			r.stderr != "talos-ops etcd-recover: Talos EtcdRecover on 127.0.10.243: etcd data directory is not empty: recovery is for a node that lost its etcd\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

// TestCommandLine: the commands, help and bad invocations, before any node is dialled.
func TestCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args         []string
		code         int
		stdout, want string
	}{
		{nil, 2, "", "talos-ops: no command (usage: talos-ops <command> [flags] (secrets and talosconfigs on stdin, never as arguments) talos-ops upgrade "},
		{[]string{"talos-upgrade"}, 2, "", `talos-ops: unknown command "talos-upgrade" (usage: `},
		{[]string{"--help"}, 0, "usage: talos-ops <command> [flags] (secrets and talosconfigs on stdin, never as arguments)\n  talos-ops upgrade ", ""},
		{[]string{"upgrade", "-h"}, 0, upgradeUsage + "\n", ""},
		{[]string{"etcd-snapshot", "--help"}, 0, etcdSnapshotUsage + "\n", ""},
		{[]string{"etcd-recover", "-h"}, 0, etcdRecoverUsage + "\n", ""},
		{[]string{"etcd-snapshot", "--node", "node1"}, 2, "", `talos-ops etcd-snapshot: --node "node1" is not an IP address (usage: `},
		{[]string{"etcd-snapshot", "--node", "10.0.0.1", "--endpoint", "10.0.0.2:x"}, 2, "", `talos-ops etcd-snapshot: --endpoint "10.0.0.2:x" is not an IP address or IP:port (usage: `},
		{[]string{"etcd-snapshot", "--node", "10.0.0.1", "--image", "x"}, 2, "", "talos-ops etcd-snapshot: flag provided but not defined: -image (usage: "},
		{[]string{"upgrade", "--node", "10.0.0.1", "--image", "installer:v1.11.6", "--timeout", "0s"}, 2, "", "talos-ops upgrade: --timeout must be positive (usage: "},
	} {
		var stdout, stderr bytes.Buffer

		code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
		if code != tt.code || !strings.HasPrefix(stdout.String(), tt.stdout) || !strings.HasPrefix(stderr.String(), tt.want) ||
			(tt.want == "") != (stderr.Len() == 0) || strings.Count(stderr.String(), "\n") > 1 {
			t.Errorf("talos-ops %q: exit %d (want %d), stdout %q, stderr %q (want %q...)", tt.args, code, tt.code, stdout.String(), stderr.String(), tt.want)
		}
	}
}
