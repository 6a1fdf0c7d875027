package main

import (
	"bytes"
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc/codes"
)

// kubeBinDir finds the lab's control-plane binaries, which the set-up builds with
// lab/build/kube.sh into $HOMELAB_CACHE/bin/kube-<version> (lab/start.sh, lab/talos/start.sh).
// Missing binaries fail the test: a skipped control-plane test would pass without proving
// anything.
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

	for _, name := range append([]string{"etcdutl"}, kubeBinaries...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("control-plane binary %s missing in %s: build them with `bash lab/build/kube.sh %s` "+
				"(npm run lab does it on a cold machine), or point TALOS_SIM_KUBE_BIN_DIR at them", name, dir, dir)
		}
	}

	return dir
}

// bootstrappedNode is a simulator whose control plane has been bootstrapped, with clients for
// its machine API and, through the admin kubeconfig it hands out, its API server.
type bootstrappedNode struct {
	sim      *runningSim
	opts     Options
	stateDir string
	cluster  *testCluster
	node     *client.Client
	api      *kubeClient
	ready    time.Time // when Bootstrap answered
}

// bootstrapNode applies a generated control-plane config to a simulator on ip and bootstraps it.
func bootstrapNode(t *testing.T, ip string) *bootstrappedNode {
	t.Helper()

	binDir := kubeBinDir(t)

	cluster := newTestCluster(t, "https://"+ip+":6443")
	stateDir := t.TempDir()
	opts := Options{StateDir: stateDir, KubeBinDir: binDir, BootstrapTimeout: 100 * time.Second}
	sim := startSim(t, ip, opts)

	if _, err := insecureClient(t, ip).ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
		Data: cluster.configBytes, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatal(err)
	}

	node := mtlsClient(t, ip, cluster.talosconfig)

	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()

	start := time.Now()
	if err := node.Bootstrap(ctx, &machineapi.BootstrapRequest{}); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, tailLogs(stateDir))
	}

	t.Logf("Bootstrap answered after %s", time.Since(start).Round(time.Millisecond))

	kubeconfig, err := node.Kubeconfig(rpcCtx(t))
	if err != nil {
		t.Fatal(err)
	}

	return &bootstrappedNode{
		sim: sim, opts: opts, stateDir: stateDir, cluster: cluster, node: node,
		api: newKubeClient(t, checkAdminKubeconfig(t, kubeconfig, cluster)), ready: time.Now(),
	}
}

// TestControlPlane bootstraps a real etcd + kube-apiserver + kube-controller-manager from the
// applied config's cluster PKI and talks to the API server with the admin kubeconfig the
// simulator hands out, before and after a restart of the simulator.
func TestControlPlane(t *testing.T) {
	t.Parallel() // with TestNodeAndWorkloads, on its own address

	const ip = "127.0.21.251"

	b := bootstrapNode(t, ip)
	api, node := b.api, b.node

	// Answered right after Bootstrap, without waiting: Bootstrap waited for /readyz.
	if body := api.get(t, "/readyz"); body != "ok" {
		t.Errorf("/readyz = %q", body)
	}

	var version struct {
		GitVersion string `json:"gitVersion"`
	}

	api.getJSON(t, "/version", &version)

	if version.GitVersion != "v1.34.1" {
		t.Errorf("gitVersion = %q, want v1.34.1", version.GitVersion)
	}

	// The admin certificate authenticates as system:masters: a write goes through.
	api.post(t, "/api/v1/namespaces/default/configmaps",
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"talos-sim-test"},"data":{"k":"v"}}`)

	// kube-controller-manager runs with its own identity: its root-CA publisher writes
	// kube-root-ca.crt into every namespace.
	api.waitFor(t, "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", 60*time.Second)

	// The node registered itself (see TestNodeAndWorkloads for what it looks like).
	nodeName := api.waitForNode(t, 30*time.Second).Metadata.Name

	err := node.Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
	assertCode(t, err, codes.AlreadyExists)

	// An upgrade reboots the node: its etcd (one member: quorum holds, so Talos allows it) and
	// API server stop and come back on their data; the node answers again once they are started,
	// and its API server is ready some time after.
	if _, err = node.Upgrade(rpcCtx(t), "ghcr.io/siderolabs/installer:v1.11.6", false, false); err != nil {
		t.Fatal(err)
	}

	_, err = node.Version(rpcCtx(t))
	assertCode(t, err, codes.Unavailable, "rebooting")

	eventually(t, 100*time.Second, func() error {
		_, err := node.Version(rpcCtx(t))

		return err
	})
	api.waitFor(t, "/readyz", 100*time.Second)
	api.get(t, "/api/v1/namespaces/default/configmaps/talos-sim-test")

	// A restart of the simulator stops the processes and brings them back on its own, on
	// etcd's kept data.
	b.sim.stop()

	if conn, dialErr := net.DialTimeout("tcp", ip+":2379", time.Second); dialErr == nil {
		conn.Close() //nolint:errcheck
		t.Fatal("etcd still listening after the simulator stopped")
	}

	restarted := time.Now().Truncate(time.Second)

	startSim(t, ip, b.opts)
	api.waitFor(t, "/readyz", 100*time.Second)
	api.get(t, "/api/v1/namespaces/default/configmaps/talos-sim-test")

	// The same Node comes back under the same (stable) name and reports again, with the
	// version the upgrade installed.
	eventually(t, 30*time.Second, func() error {
		var nodes nodeList

		api.getJSON(t, "/api/v1/nodes", &nodes)

		if len(nodes.Items) != 1 || nodes.Items[0].Metadata.Name != nodeName {
			return fmt.Errorf("nodes after the restart: %v, want only %s", nodes.names(), nodeName)
		}

		n := nodes.Items[0]
		if ready := n.condition("Ready"); ready.Status != "True" || ready.LastHeartbeatTime.Before(restarted) {
			return fmt.Errorf("Ready condition %+v not renewed since the restart at %s", ready, restarted)
		}

		if n.Status.NodeInfo.OSImage != "Talos (v1.11.6)" {
			return fmt.Errorf("osImage %q, want Talos (v1.11.6)", n.Status.NodeInfo.OSImage)
		}

		return nil
	})

	node = mtlsClient(t, ip, b.cluster.talosconfig)
	err = node.Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
	assertCode(t, err, codes.AlreadyExists)
}

// kubeClient is a minimal HTTP client built from the admin kubeconfig alone.
type kubeClient struct {
	server string
	http   *http.Client
}

func newKubeClient(t *testing.T, kc parsedKubeconfig) *kubeClient {
	t.Helper()

	cert, err := tls.X509KeyPair(kc.certPEM, kc.keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	roots := stdx509.NewCertPool()
	roots.AppendCertsFromPEM(kc.caPEM)

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}
	t.Cleanup(transport.CloseIdleConnections)

	return &kubeClient{server: kc.server, http: &http.Client{Timeout: 10 * time.Second, Transport: transport}}
}

func (k *kubeClient) do(method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, k.server+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, "", err
	}

	req.Header.Set("Content-Type", "application/json")

	resp, err := k.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close() //nolint:errcheck

	data, err := io.ReadAll(resp.Body)

	return resp.StatusCode, strings.TrimSpace(string(data)), err
}

func (k *kubeClient) get(t *testing.T, path string) string {
	t.Helper()

	code, body, err := k.do(http.MethodGet, path, "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", path, code, err, body)
	}

	return body
}

func (k *kubeClient) getJSON(t *testing.T, path string, into any) {
	t.Helper()

	if err := json.Unmarshal([]byte(k.get(t, path)), into); err != nil {
		t.Fatal(err)
	}
}

func (k *kubeClient) post(t *testing.T, path, body string) {
	t.Helper()

	code, resp, err := k.do(http.MethodPost, path, body)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v\n%s", path, code, err, resp)
	}
}

// waitFor polls path until it answers 200.
func (k *kubeClient) waitFor(t *testing.T, path string, timeout time.Duration) {
	t.Helper()

	deadline := time.Now().Add(timeout)

	for {
		code, body, err := k.do(http.MethodGet, path, "")
		if err == nil && code == http.StatusOK {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered 200 within %s: %d %v %s", path, timeout, code, err, body)
		}

		time.Sleep(500 * time.Millisecond)
	}
}

// tailLogs returns the end of each control-plane log, for failure messages.
func tailLogs(stateDir string) string {
	var b strings.Builder

	for _, name := range kubeBinaries {
		data, _ := os.ReadFile(filepath.Join(stateDir, name+".log")) //nolint:errcheck
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}

		fmt.Fprintf(&b, "--- %s.log ---\n%s\n", name, data)
	}

	return b.String()
}

// request sends one request and returns the status, the response headers and the body.
func (k *kubeClient) request(method, path, body string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, k.server+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, nil, "", err
	}

	req.Header.Set("Content-Type", "application/json")

	resp, err := k.http.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close() //nolint:errcheck

	data, err := io.ReadAll(resp.Body)

	return resp.StatusCode, resp.Header, strings.TrimSpace(string(data)), err
}

// kubeNode is the part of a Node the tests look at.
type kubeNode struct {
	Metadata struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR string      `json:"podCIDR"`
		Taints  []kubeTaint `json:"taints"`
	} `json:"spec"`
	Status struct {
		Conditions []nodeCondition `json:"conditions"`
		Addresses  []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
		Capacity    map[string]string `json:"capacity"`
		Allocatable map[string]string `json:"allocatable"`
		NodeInfo    struct {
			KubeletVersion          string `json:"kubeletVersion"`
			OSImage                 string `json:"osImage"`
			KernelVersion           string `json:"kernelVersion"`
			ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

type kubeTaint struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Effect string `json:"effect"`
}

type nodeCondition struct {
	Type              string    `json:"type"`
	Status            string    `json:"status"`
	Reason            string    `json:"reason"`
	LastHeartbeatTime time.Time `json:"lastHeartbeatTime"`
}

func (n kubeNode) condition(kind string) nodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == kind {
			return c
		}
	}

	return nodeCondition{}
}

type nodeList struct {
	Items []kubeNode `json:"items"`
}

func (l nodeList) names() []string {
	var names []string
	for _, n := range l.Items {
		names = append(names, n.Metadata.Name)
	}

	return names
}

// waitForNode waits until exactly one Node is registered and returns it.
func (k *kubeClient) waitForNode(t *testing.T, timeout time.Duration) kubeNode {
	t.Helper()

	var nodes nodeList

	eventually(t, timeout, func() error {
		k.getJSON(t, "/api/v1/nodes", &nodes)

		if len(nodes.Items) != 1 {
			return fmt.Errorf("nodes: %v, want exactly one", nodes.names())
		}

		return nil
	})

	return nodes.Items[0]
}

// eventually calls check every 500 ms until it succeeds, failing the test with its last error
// after timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()

	deadline := time.Now().Add(timeout)

	for {
		err := check()
		if err == nil {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}

		time.Sleep(500 * time.Millisecond)
	}
}
