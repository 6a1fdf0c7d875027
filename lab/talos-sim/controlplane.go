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
	"strconv"
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

// controlPlane runs what Talos runs on a control-plane node: the etcd service, then
// kube-apiserver and kube-controller-manager, here as child processes on the node's loopback
// address, plus the kubelet stand-in and, when the config names one, the VIP operator. The
// processes are supervised (restarted when they exit) and stopped with the simulator.
//
// The etcd service starts as soon as a control-plane config is applied, as on Talos: a node
// without etcd data waits to join an existing cluster (etcdcluster.go) until either it joins or
// Bootstrap restarts it in bootstrap mode; a node with data starts from it.
type controlPlane struct {
	ip     net.IP
	binDir string
	state  stateStore
	log    *slog.Logger
	// source is what the kubelet stand-in reports the node as (set by the Simulator).
	source nodeSource
	// apidPort is the node's machine API port, which the VIP forwards too.
	apidPort int

	mu     sync.Mutex
	cur    *controlPlaneRun // nil while stopped
	closed bool             // the simulator shut down: nothing starts any more
}

// controlPlaneRun is one start of the control plane (one boot of the node).
type controlPlaneRun struct {
	plan      *controlPlanePlan
	bootstrap bool // started by Bootstrap: etcd forms a new cluster if it has no data
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	ready     chan struct{} // closed once the API server answers /readyz
	// vipCancel and vipDone: the VIP operator stops (and resigns) before everything else, as
	// Talos's does when the kubelet lifecycle tears down, before etcd stops.
	vipCancel context.CancelFunc
	vipDone   chan struct{}
}

func newControlPlane(ip net.IP, binDir string, state stateStore, log *slog.Logger) *controlPlane {
	return &controlPlane{ip: ip, binDir: binDir, state: state, log: log}
}

// start launches the control plane in the background; while one runs it is a no-op. Only the
// key material is written synchronously, so a config that cannot run a control plane fails the
// call that asked for it.
func (c *controlPlane) start(cfg config.Provider, bootstrap bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.cur != nil {
		return nil
	}

	if c.closed {
		return errors.New("the node is shutting down")
	}

	plan, err := planControlPlane(cfg, c.ip, c.state)
	if err != nil {
		return err
	}

	plan.talosAPIAccess = cfg.Machine().Features().KubernetesTalosAPIAccess().Enabled()

	ctx, cancel := context.WithCancel(context.Background())
	vipCtx, vipCancel := context.WithCancel(ctx)
	run := &controlPlaneRun{
		plan: plan, bootstrap: bootstrap, cancel: cancel, ready: make(chan struct{}),
		vipCancel: vipCancel, vipDone: make(chan struct{}),
	}
	c.cur = run

	run.wg.Add(1)

	go func() {
		defer run.wg.Done()
		c.run(ctx, vipCtx, run, cfg)
	}()

	return nil
}

// running tells whether a control plane runs, and whether Bootstrap started it.
func (c *controlPlane) running() (running, bootstrap bool) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.cur == nil {
		return false, false
	}

	return true, c.cur.bootstrap
}

// shutdown stops the control plane for good.
func (c *controlPlane) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()

	c.stop()
}

// stop terminates the processes (SIGTERM, SIGKILL after 10 s) and waits for them; the VIP, if
// held, is resigned first. A later start begins afresh (a reboot).
func (c *controlPlane) stop() {
	c.mu.Lock()
	run := c.cur
	c.cur = nil
	c.mu.Unlock()

	if run == nil {
		return
	}

	run.vipCancel()

	select {
	case <-run.vipDone:
	case <-time.After(vipResignTimeout):
	}

	run.cancel()
	run.wg.Wait()
}

// etcdDataEmpty is Talos's test for a node whose etcd has never run here: the data directory
// is missing or empty (services/etcd.go IsDirEmpty, v1alpha1_server.go Bootstrap).
func (c *controlPlane) etcdDataEmpty() bool {
	entries, _ := os.ReadDir(c.state.path("etcd")) //nolint:errcheck

	return len(entries) == 0
}

// run brings the processes up in dependency order: etcd (joining the cluster first when it has
// no data and was not bootstrapped), the API server once etcd has quorum (Talos's etcd health
// check), the controller manager once the API server's RBAC roles exist.
func (c *controlPlane) run(ctx, vipCtx context.Context, run *controlPlaneRun, cfg config.Provider) {
	plan := run.plan
	vipStarted := false

	defer func() {
		if !vipStarted {
			close(run.vipDone)
		}
	}()

	if err := c.waitForBinaries(ctx); err != nil {
		return
	}

	args := c.etcdArgs(plan)

	var learner uint64

	if c.etcdDataEmpty() {
		peer := plan.etcdURL(etcdPeerPort)
		initial := plan.etcdName + "=" + peer
		clusterState := "new"

		if !run.bootstrap {
			var err error

			if initial, learner, err = buildInitialCluster(ctx, c.log, cfg, plan.etcdName, peer); err != nil {
				return
			}

			clusterState = "existing"
		}

		args = append(args,
			"--initial-cluster="+initial,
			"--initial-cluster-state="+clusterState,
			"--initial-advertise-peer-urls="+peer,
		)
	}

	c.superviseInBackground(ctx, &run.wg, "etcd", args)

	if learner != 0 {
		run.wg.Add(1)

		go func() {
			defer run.wg.Done()

			promoteMember(ctx, c.log, cfg, learner) //nolint:errcheck // logged inside
		}()
	}

	if err := poll(ctx, time.Second, func() error {
		checkCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()

		return localEtcdHealthy(checkCtx, plan.etcdEndpoint())
	}); err != nil {
		return
	}

	c.log.Info("etcd is healthy", "member", plan.etcdName)

	// The VIP operator campaigns once etcd is healthy; it does not wait for the API server
	// (operator/vip.go: "VIP should be still assigned" during a bootstrap).
	if plan.vip != "" {
		vipStarted = true

		run.wg.Add(1)

		go func() {
			defer run.wg.Done()
			defer close(run.vipDone)
			c.runVIP(vipCtx, plan)
		}()
	}

	c.superviseInBackground(ctx, &run.wg, "kube-apiserver", apiServerArgs(plan))

	if err := apiServerReady(ctx, plan); err != nil {
		return
	}

	close(run.ready)

	c.superviseInBackground(ctx, &run.wg, "kube-controller-manager", controllerManagerArgs(plan))

	// The node's kubelet stand-in registers the Node and keeps it Ready (kubelet.go): without
	// a Node no DaemonSet gets a Pod.
	run.wg.Add(1)

	go func() {
		defer run.wg.Done()
		c.runKubelet(ctx, plan)
	}()

	// Talos's bootstrap manifests that the lab needs: the kubelet bootstrap token and its RBAC
	// (workers join with it), and the talos.dev ServiceAccount type.
	c.applyBootstrapManifests(ctx, plan)

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

// currentPlan is the running control plane's plan, nil before it starts.
func (c *controlPlane) currentPlan() *controlPlanePlan {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.cur == nil {
		return nil
	}

	return c.cur.plan
}

// etcdArgs are the arguments every start of etcd has (services/etcd.go argsForControlPlane, less
// TLS): the member is named after the node's hostname; the initial-cluster arguments are added
// only when the data directory is empty (run).
func (c *controlPlane) etcdArgs(plan *controlPlanePlan) []string {
	return []string{
		"--name=" + plan.etcdName,
		"--data-dir=" + c.state.path("etcd"),
		"--listen-client-urls=" + plan.etcdURL(etcdClientPort),
		"--advertise-client-urls=" + plan.etcdURL(etcdClientPort),
		// Talos listens on every address; the lab's nodes share the loopback interface, so each
		// listens on its own address (the VIP's holder forwards the client port, vip.go).
		"--listen-peer-urls=" + plan.etcdURL(etcdPeerPort),
		"--experimental-initial-corrupt-check=true",
		"--experimental-watch-progress-notify-interval=5s",
		"--experimental-compact-hash-check-enabled=true",
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
		// Every API server issues and accepts tokens of the cluster endpoint (Talos:
		// service-account-issuer is the control-plane endpoint), so a token from one is good on all.
		"--service-account-issuer=" + plan.issuer,
		"--service-cluster-ip-range=" + plan.serviceCIDRs,
		"--authorization-mode=Node,RBAC",
		// Kubelets join with the bootstrap token of cluster.token (manifests.go).
		"--enable-bootstrap-token-auth=true",
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
		// Talos elects a leader among the control planes' controller managers. A single control
		// plane (no VIP) skips it, so a restart need not wait out its own previous lease.
		"--leader-elect=" + strconv.FormatBool(plan.vip != ""),
		"--profiling=false",
	}
}

// waitReady waits until the started control plane's API server is ready or ctx ends.
func (c *controlPlane) waitReady(ctx context.Context) error {
	c.mu.Lock()
	run := c.cur
	c.mu.Unlock()

	if run == nil {
		return errors.New("control plane not started")
	}

	select {
	case <-run.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
