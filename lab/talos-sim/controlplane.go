package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

const (
	etcdClientPort = 2379
	etcdPeerPort   = 2380
	kcmSecurePort  = 10257
)

// kubeBinaries must all exist in --kube-bin-dir before the control plane starts.
var kubeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// controlPlane runs what Talos runs on a bootstrapped control-plane node: etcd,
// kube-apiserver and kube-controller-manager, here as child processes on the node's loopback
// address. They are supervised (restarted when they exit) and stopped with the simulator.
type controlPlane struct {
	ip     net.IP
	binDir string
	state  stateStore
	log    *slog.Logger
	// source is what the kubelet stand-in reports the node as (set by the Simulator).
	source nodeSource

	mu      sync.Mutex
	plan    *controlPlanePlan // nil until started
	cancel  context.CancelFunc
	stopped sync.WaitGroup
}

func newControlPlane(ip net.IP, binDir string, state stateStore, log *slog.Logger) *controlPlane {
	return &controlPlane{ip: ip, binDir: binDir, state: state, log: log}
}

// start launches the control plane in the background; a second call is a no-op. Only the key
// material is written synchronously, so a config that cannot run a control plane fails the
// call that asked for it.
func (c *controlPlane) start(cfg config.Provider) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.plan != nil {
		return nil
	}

	plan, err := planControlPlane(cfg, c.ip, c.state)
	if err != nil {
		return err
	}

	plan.talosAPIAccess = cfg.Machine().Features().KubernetesTalosAPIAccess().Enabled()

	ctx, cancel := context.WithCancel(context.Background())
	c.plan, c.cancel = plan, cancel

	c.stopped.Add(1)

	go func() {
		defer c.stopped.Done()
		c.run(ctx, plan)
	}()

	return nil
}

// stop terminates the processes (SIGTERM, SIGKILL after 10 s) and waits for them.
func (c *controlPlane) stop() {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()

	if cancel != nil {
		cancel()
	}

	c.stopped.Wait()
}

// run brings the processes up in dependency order: the API server refuses to start without
// etcd, and the controller manager exits when the RBAC roles the API server creates on its
// first start are not there yet.
func (c *controlPlane) run(ctx context.Context, plan *controlPlanePlan) {
	if err := c.waitForBinaries(ctx); err != nil {
		return
	}

	c.superviseInBackground(ctx, "etcd", c.etcdArgs(plan))

	if err := poll(ctx, time.Second, func() error { return etcdHealthy(ctx, plan) }); err != nil {
		return
	}

	c.superviseInBackground(ctx, "kube-apiserver", apiServerArgs(plan))

	if err := apiServerReady(ctx, plan); err != nil {
		return
	}

	c.superviseInBackground(ctx, "kube-controller-manager", controllerManagerArgs(plan))

	// The node's kubelet stand-in registers the Node and keeps it Ready (kubelet.go): without
	// a Node no DaemonSet gets a Pod.
	c.stopped.Add(1)

	go func() {
		defer c.stopped.Done()
		c.runKubelet(ctx, plan)
	}()

	if plan.talosAPIAccess {
		c.registerTalosCRDs(ctx, plan)
	}
}

// waitForBinaries waits for the kube binaries, which lab/build/kube.sh may still be building.
func (c *controlPlane) waitForBinaries(ctx context.Context) error {
	logged := false

	return poll(ctx, 5*time.Second, func() error {
		for _, name := range kubeBinaries {
			if _, err := os.Stat(filepath.Join(c.binDir, name)); err != nil {
				if !logged {
					c.log.Warn("waiting for the control-plane binaries", "dir", c.binDir, "missing", name)
					logged = true
				}

				return err
			}
		}

		return nil
	})
}

// etcdMemberName is the lab's single etcd member (a restore must name it the same).
const etcdMemberName = "talos-sim"

// currentPlan is the running control plane's plan, nil before it starts.
func (c *controlPlane) currentPlan() *controlPlanePlan {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.plan
}

func (c *controlPlane) etcdArgs(plan *controlPlanePlan) []string {
	const member = etcdMemberName

	return []string{
		"--name=" + member,
		"--data-dir=" + c.state.path("etcd"),
		"--listen-client-urls=" + plan.etcdURL(etcdClientPort),
		"--advertise-client-urls=" + plan.etcdURL(etcdClientPort),
		// Explicit peer URLs: etcd's default (localhost:2380) would clash between two nodes.
		"--listen-peer-urls=" + plan.etcdURL(etcdPeerPort),
		"--initial-advertise-peer-urls=" + plan.etcdURL(etcdPeerPort),
		"--initial-cluster=" + member + "=" + plan.etcdURL(etcdPeerPort),
		"--unsafe-no-fsync",
	}
}

func apiServerArgs(plan *controlPlanePlan) []string {
	args := []string{
		"--etcd-servers=" + plan.etcdURL(etcdClientPort),
		"--bind-address=" + plan.ip,
		fmt.Sprintf("--secure-port=%d", plan.apiPort),
		"--advertise-address=" + plan.ip,
		// Endpoints may not hold loopback addresses, so the reconciler for the "kubernetes"
		// Service could never succeed here; nothing in the lab reaches the API server through it.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + plan.file("apiserver.crt"),
		"--tls-private-key-file=" + plan.file("apiserver.key"),
		"--client-ca-file=" + plan.file("ca.crt"),
		"--service-account-key-file=" + plan.file("sa.key"),
		"--service-account-signing-key-file=" + plan.file("sa.key"),
		"--service-account-issuer=" + plan.apiServerURL(),
		"--service-cluster-ip-range=" + plan.serviceCIDRs,
		"--authorization-mode=Node,RBAC",
		// Talos's admission: NodeRestriction on top of the API server's default plugins, and
		// the plugin configuration of cluster.apiServer.admissionControl (by default
		// PodSecurity enforcing baseline). Secrets are encrypted at rest with the config's
		// keys. Both files are rendered in apiserver_config.go
		// (internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go manageAPIServer).
		"--enable-admission-plugins=NodeRestriction",
		"--admission-control-config-file=" + plan.file(admissionConfigFile),
		"--encryption-provider-config=" + plan.file(encryptionConfigFile),
		// The audit log Talos keeps, with its rotation: cluster.apiServer.auditPolicy decides what
		// is logged (Metadata for every request by default).
		"--audit-policy-file=" + plan.file(auditPolicyFile),
		"--audit-log-path=" + plan.auditLog,
		"--audit-log-maxage=30",
		"--audit-log-maxbackup=10",
		"--audit-log-maxsize=100",
		"--allow-privileged=true",
		"--profiling=false",
	}

	if plan.hasAggregator {
		args = append(args,
			"--requestheader-client-ca-file="+plan.file("aggregator-ca.crt"),
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			"--proxy-client-cert-file="+plan.file("front-proxy-client.crt"),
			"--proxy-client-key-file="+plan.file("front-proxy-client.key"),
		)
	}

	return args
}

func controllerManagerArgs(plan *controlPlanePlan) []string {
	kubeconfig := plan.file("controller-manager.kubeconfig")

	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=" + plan.ip,
		fmt.Sprintf("--secure-port=%d", kcmSecurePort),
		"--cert-dir=" + plan.file("controller-manager"),
		"--cluster-name=" + plan.clusterName,
		"--use-service-account-credentials",
		"--service-account-private-key-file=" + plan.file("sa.key"),
		"--root-ca-file=" + plan.file("ca.crt"),
		"--cluster-signing-cert-file=" + plan.file("ca.crt"),
		"--cluster-signing-key-file=" + plan.file("ca.key"),
		// Talos's controller set: all default ones (deployment, replicaset, daemonset,
		// statefulset, job, cronjob, node lifecycle, ...) plus the token cleaner, and node IPAM
		// handing each Node a pod CIDR from cluster.network.podSubnets
		// (internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go
		// manageControllerManager).
		"--controllers=*,token-cleaner-controller",
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + plan.podCIDRs,
		"--service-cluster-ip-range=" + plan.serviceCIDRs,
		"--configure-cloud-routes=false",
		// A single instance: no need to wait out a previous run's lease after a restart.
		"--leader-elect=false",
		"--profiling=false",
	}
}

// waitReady waits until the started control plane's API server is ready or ctx ends.
func (c *controlPlane) waitReady(ctx context.Context) error {
	c.mu.Lock()
	plan := c.plan
	c.mu.Unlock()

	if plan == nil {
		return errors.New("control plane not started")
	}

	return apiServerReady(ctx, plan)
}

// apiServerReady polls the API server's /readyz with a system:masters identity until it
// answers 200 "ok" or ctx ends.
// probeClient talks to the API server as the simulator's own system:masters identity.
func probeClient(plan *controlPlanePlan) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      plan.caPool,
			Certificates: []tls.Certificate{plan.probeCert},
			MinVersion:   tls.VersionTLS12,
		}},
	}
}

func apiServerReady(ctx context.Context, plan *controlPlanePlan) error {
	client := probeClient(plan)
	defer client.CloseIdleConnections()

	return poll(ctx, 500*time.Millisecond, func() error {
		return getOK(ctx, client, plan.apiServerURL()+"/readyz")
	})
}

func etcdHealthy(ctx context.Context, plan *controlPlanePlan) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()

	return getOK(ctx, client, plan.etcdURL(etcdClientPort)+"/health")
}
