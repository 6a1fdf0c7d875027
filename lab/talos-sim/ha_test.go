package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"google.golang.org/grpc/codes"
)

// The multi-node test runs each node as its own simulator process, as the lab does, on
// 127.0.21.10-21: the VIP, three control planes and a worker.
const (
	haVIP    = "127.0.21.10"
	haWorker = "127.0.21.21"
)

var haControlPlanes = []string{"127.0.21.11", "127.0.21.12", "127.0.21.13"}

// haTimeout bounds each step that waits on Talos's own timing: a join (an add as learner, then
// promotion retried every 15 s), a reboot, and a VIP failover after its holder dies (its etcd
// session's 60 s lease).
const haTimeout = 100 * time.Second

// TestHighAvailability: three control planes sharing a VIP and a worker, each a simulator
// process. The first is bootstrapped; the other two join its etcd as Talos's do; the VIP is held
// by exactly one and serves the Kubernetes API; the worker joins through the VIP; a second
// Bootstrap on a joined node is refused; upgrades one control plane at a time keep quorum and
// the members; a killed VIP holder hands the VIP to another within Talos's timing.
func TestHighAvailability(t *testing.T) {
	t.Parallel()

	binDir := kubeBinDir(t)
	bin := buildSimulator(t)
	cluster := newHACluster(t)
	started := time.Now()

	nodes := map[string]*simProcess{}
	for i, ip := range append(slices.Clone(haControlPlanes), haWorker) {
		nodes[ip] = startSimProcess(t, bin, ip, filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i)), binDir)
	}

	t.Cleanup(func() {
		if t.Failed() {
			for _, ip := range append(slices.Clone(haControlPlanes), haWorker) {
				t.Logf("--- %s ---\n%s", ip, nodes[ip].tail(60))
			}
		}
	})

	// Apply every config in maintenance mode, as the stack does (control planes first).
	for i, ip := range haControlPlanes {
		applyMaintenance(t, ip, cluster.controlPlane[i])
	}

	applyMaintenance(t, haWorker, cluster.worker)

	admin := map[string]*client.Client{}
	for _, ip := range append(slices.Clone(haControlPlanes), haWorker) {
		admin[ip] = mtlsClient(t, ip, cluster.talosconfig)
	}

	cp1, cp2 := haControlPlanes[0], haControlPlanes[1]

	// Bootstrap the first: etcd forms a cluster of one, the others join it.
	bootCtx, cancel := context.WithTimeout(context.Background(), haTimeout)
	defer cancel()

	if err := admin[cp1].Bootstrap(bootCtx, &machineapi.BootstrapRequest{}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}

	t.Logf("bootstrapped after %s", time.Since(started).Round(time.Millisecond))

	members := waitForMembers(t, admin[cp1], 3, 2*haTimeout)
	t.Logf("3 started voting members after %s: %v", time.Since(started).Round(time.Millisecond), memberNames(members))

	ids := map[string]uint64{}
	for _, m := range members {
		ids[m.GetHostname()] = m.GetId()
	}

	if !slices.Equal(slices.Sorted(maps.Keys(ids)), []string{"ha-cp1", "ha-cp2", "ha-cp3"}) {
		t.Fatalf("members %v, want ha-cp1..3 (each named after its node)", memberNames(members))
	}

	// Every control plane answers the member list over its own Talos API (talosctl etcd
	// members), and the status of its own member.
	assertHealthyMembers(t, admin, ids)

	t.Run("the worker has no etcd", func(t *testing.T) {
		_, err := admin[haWorker].EtcdMemberList(rpcCtx(t), &machineapi.EtcdMemberListRequest{})
		assertCode(t, err, codes.Unimplemented, "only available on control plane nodes")
	})

	t.Run("a second Bootstrap on a joined node is refused as on Talos", func(t *testing.T) {
		for _, ip := range []string{cp2, cp1} {
			err := admin[ip].Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
			assertCode(t, err, codes.AlreadyExists, "etcd data directory is not empty")
		}

		err := admin[haWorker].Bootstrap(rpcCtx(t), &machineapi.BootstrapRequest{})
		assertCode(t, err, codes.FailedPrecondition, "control plane node")
	})

	// The Kubernetes API through the VIP, with the admin kubeconfig (its server is the VIP).
	kubeconfig, err := admin[cp1].Kubeconfig(rpcCtx(t))
	if err != nil {
		t.Fatal(err)
	}

	api := newKubeClient(t, checkAdminKubeconfig(t, kubeconfig, cluster.testCluster))
	api.waitFor(t, "/readyz", haTimeout)

	holder := servingVIPHolder(t)
	t.Logf("VIP %s held by %s", haVIP, holder)

	t.Run("exactly one control plane holds the VIP", func(t *testing.T) {
		if !slices.Contains(haControlPlanes, holder) {
			t.Fatalf("VIP served by %s, not a control plane", holder)
		}

		for _, ip := range haControlPlanes {
			if got := strings.Count(nodes[ip].log(), "msg=\"enabled shared IP\""); (ip == holder) != (got == 1) {
				t.Errorf("%s enabled the shared IP %d times (holder %s)", ip, got, holder)
			}
		}
	})

	t.Run("the worker registers through the VIP as a worker", func(t *testing.T) {
		var worker kubeNode

		eventually(t, haTimeout, func() error {
			var nodes nodeList

			api.getJSON(t, "/api/v1/nodes", &nodes)

			if len(nodes.Items) != 4 {
				return fmt.Errorf("nodes %v, want 4", nodes.names())
			}

			for _, n := range nodes.Items {
				if n.condition("Ready").Status != "True" {
					return fmt.Errorf("node %s not Ready", n.Metadata.Name)
				}

				_, cp := n.Metadata.Labels[constants.LabelNodeRoleControlPlane]
				if n.Metadata.Name == "ha-w1" {
					worker = n
				} else if !cp || !slices.ContainsFunc(n.Spec.Taints, func(t kubeTaint) bool { return t.Key == constants.LabelNodeRoleControlPlane }) {
					return fmt.Errorf("control plane %s lacks its role label or taint yet", n.Metadata.Name)
				}
			}

			return nil
		})

		if _, cp := worker.Metadata.Labels[constants.LabelNodeRoleControlPlane]; cp || len(worker.Spec.Taints) != 0 {
			t.Errorf("worker labels %v taints %v: want no role label and no taint", worker.Metadata.Labels, worker.Spec.Taints)
		}

		if addr := worker.Status.Addresses[0].Address; addr != haWorker {
			t.Errorf("worker InternalIP %s, want %s", addr, haWorker)
		}

		// Its client certificate came from a CSR filed with the bootstrap token and approved.
		var csrs struct {
			Items []struct {
				Spec struct {
					Username   string `json:"username"`
					SignerName string `json:"signerName"`
				} `json:"spec"`
				Status struct {
					Certificate string `json:"certificate"`
				} `json:"status"`
			} `json:"items"`
		}

		api.getJSON(t, "/apis/certificates.k8s.io/v1/certificatesigningrequests", &csrs)

		if len(csrs.Items) != 1 || csrs.Items[0].Spec.Username != "system:bootstrap:"+cluster.secrets.Secrets.BootstrapToken[:6] ||
			csrs.Items[0].Spec.SignerName != kubeletClientSigner || csrs.Items[0].Status.Certificate == "" {
			t.Errorf("CSRs: %+v, want one from the bootstrap token, signed", csrs.Items)
		}

		if !strings.Contains(nodes[haWorker].log(), "server=https://"+haVIP+":6443") {
			t.Error("the worker's kubelet did not join through the VIP")
		}
	})

	// Upgrades, one control plane at a time: each reboots (its member stops and comes back on
	// its data), the others keep quorum, and afterwards the three members are healthy again
	// with the same IDs. The VIP stays served throughout.
	for i, ip := range haControlPlanes {
		version := fmt.Sprintf("v1.11.%d", 6+i)
		step := time.Now()

		if _, err := admin[ip].Upgrade(rpcCtx(t), "ghcr.io/siderolabs/installer:"+version, false, false); err != nil {
			t.Fatalf("upgrade %s: %v", ip, err)
		}

		_, err := admin[ip].Version(rpcCtx(t))
		assertCode(t, err, codes.Unavailable, "rebooting")

		api.waitFor(t, "/readyz", 15*time.Second) // through the VIP, held by another node if needed

		eventually(t, haTimeout, func() error {
			resp, err := admin[ip].Version(rpcCtx(t))
			if err != nil {
				return err
			}

			if got := resp.GetMessages()[0].GetVersion().GetTag(); got != version {
				return fmt.Errorf("version %s, want %s", got, version)
			}

			return nil
		})

		eventually(t, haTimeout, func() error { return healthyMembers(admin, ids) })
		api.waitFor(t, "/readyz", 15*time.Second)
		t.Logf("upgraded %s to %s, members healthy, in %s (VIP now at %s)", ip, version,
			time.Since(step).Round(time.Millisecond), servingVIPHolder(t))
	}

	t.Run("kill the VIP holder: another takes the VIP, the API answers through it", func(t *testing.T) {
		holder := servingVIPHolder(t)
		killed := time.Now()

		nodes[holder].kill(t)

		var next string

		eventually(t, haTimeout, func() error {
			h, err := servingVIP()
			if err != nil {
				return err
			}

			if h == holder {
				return errors.New("still the old holder")
			}

			next = h

			return nil
		})

		api.waitFor(t, "/readyz", 15*time.Second)
		api.get(t, "/api/v1/nodes")
		t.Logf("VIP moved from %s to %s %s after the kill", holder, next, time.Since(killed).Round(time.Millisecond))

		// Two of three members keep quorum: the remaining nodes still list all three, and an
		// upgrade that would take another member down is refused as Talos refuses it.
		other := haControlPlanes[slices.IndexFunc(haControlPlanes, func(ip string) bool { return ip != holder && ip != next })]

		list, err := admin[next].EtcdMemberList(rpcCtx(t), &machineapi.EtcdMemberListRequest{})
		if err != nil || len(list.GetMessages()[0].GetMembers()) != 3 {
			t.Fatalf("member list after the kill: %v %v", list, err)
		}

		_, err = admin[other].Upgrade(rpcCtx(t), "ghcr.io/siderolabs/installer:v1.11.9", false, false)
		if err == nil || !strings.Contains(err.Error(), "all members must be healthy to perform an upgrade") {
			t.Fatalf("upgrade with a member down: %v, want Talos's refusal", err)
		}
	})
}

// haCluster is one cluster's configs: per control plane (its hostname and the VIP on its
// interface) and the worker's, all from one secrets bundle, as the stack renders them.
type haCluster struct {
	*testCluster

	controlPlane [][]byte
	worker       []byte
}

func newHACluster(t *testing.T) *haCluster {
	t.Helper()

	contract, err := config.ParseContractFromVersion("v1.11.5")
	if err != nil {
		t.Fatal(err)
	}

	bundle, err := secrets.NewBundle(secrets.NewFixedClock(time.Now()), contract)
	if err != nil {
		t.Fatal(err)
	}

	input, err := generate.NewInput("lab-ha", "https://"+haVIP+":6443", "1.34.1",
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

	render := func(kind machine.Type, hostname, vip string) (config.Provider, []byte) {
		cfg, err := input.Config(kind)
		if err != nil {
			t.Fatal(err)
		}

		network := &v1alpha1.NetworkConfig{NetworkHostname: hostname}
		if vip != "" {
			// The stack's patch (components/talos/patches.ts): the VIP on the physical link.
			yes := true
			network.NetworkInterfaces = v1alpha1.NetworkDeviceList{{
				DeviceSelector:  &v1alpha1.NetworkDeviceSelector{NetworkDevicePhysical: &yes},
				DeviceDHCP:      &yes,
				DeviceVIPConfig: &v1alpha1.DeviceVIPConfig{SharedIP: vip},
			}}
		}

		cfg.RawV1Alpha1().MachineConfig.MachineNetwork = network

		data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
		if err != nil {
			t.Fatal(err)
		}

		return cfg, data
	}

	talosconfig, err := input.Talosconfig()
	if err != nil {
		t.Fatal(err)
	}

	c := &haCluster{}

	for i := range haControlPlanes {
		cfg, data := render(machine.TypeControlPlane, fmt.Sprintf("ha-cp%d", i+1), haVIP)
		if i == 0 {
			c.testCluster = &testCluster{secrets: bundle, config: cfg, configBytes: data, talosconfig: talosconfig}
		}

		c.controlPlane = append(c.controlPlane, data)
	}

	_, c.worker = render(machine.TypeWorker, "ha-w1", "")

	return c
}

func applyMaintenance(t *testing.T, ip string, data []byte) {
	t.Helper()

	if _, err := insecureClient(t, ip).ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
		Data: data, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatalf("apply on %s: %v", ip, err)
	}
}

// waitForMembers waits until the member list (through node's Talos API) has n started voting
// members.
func waitForMembers(t *testing.T, node *client.Client, n int, timeout time.Duration) []*machineapi.EtcdMember {
	t.Helper()

	var members []*machineapi.EtcdMember

	eventually(t, timeout, func() error {
		resp, err := node.EtcdMemberList(rpcCtx(t), &machineapi.EtcdMemberListRequest{})
		if err != nil {
			return err
		}

		members = resp.GetMessages()[0].GetMembers()

		if len(members) != n {
			return fmt.Errorf("members %v, want %d", memberNames(members), n)
		}

		for _, m := range members {
			if m.GetHostname() == "" || m.GetIsLearner() {
				return fmt.Errorf("member %x not started or still a learner: %v", m.GetId(), memberNames(members))
			}
		}

		return nil
	})

	return members
}

func memberNames(members []*machineapi.EtcdMember) []string {
	var names []string

	for _, m := range members {
		name := m.GetHostname()
		if name == "" {
			name = "(not started)"
		}

		if m.GetIsLearner() {
			name += " (learner)"
		}

		names = append(names, name)
	}

	return names
}

// healthyMembers: every control plane lists the same three members (the IDs of ids, none a
// learner) and reports its own member's status without errors, all agreeing on the leader.
func healthyMembers(admin map[string]*client.Client, ids map[string]uint64) error {
	leaders := map[uint64]bool{}

	for _, ip := range haControlPlanes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		resp, err := admin[ip].EtcdMemberList(ctx, &machineapi.EtcdMemberListRequest{})
		if err != nil {
			return fmt.Errorf("%s: member list: %w", ip, err)
		}

		got := map[string]uint64{}
		for _, m := range resp.GetMessages()[0].GetMembers() {
			if m.GetIsLearner() {
				return fmt.Errorf("%s: %s is a learner", ip, m.GetHostname())
			}

			got[m.GetHostname()] = m.GetId()
		}

		if fmt.Sprint(got) != fmt.Sprint(ids) {
			return fmt.Errorf("%s: members %v, want %v", ip, got, ids)
		}

		st, err := admin[ip].EtcdStatus(ctx)
		if err != nil {
			return fmt.Errorf("%s: etcd status: %w", ip, err)
		}

		ms := st.GetMessages()[0].GetMemberStatus()
		if len(ms.GetErrors()) > 0 || ms.GetLeader() == 0 || ms.GetIsLearner() {
			return fmt.Errorf("%s: etcd status %v", ip, ms)
		}

		leaders[ms.GetLeader()] = true
	}

	if len(leaders) != 1 {
		return fmt.Errorf("members disagree on the leader: %v", leaders)
	}

	return nil
}

func assertHealthyMembers(t *testing.T, admin map[string]*client.Client, ids map[string]uint64) {
	t.Helper()

	eventually(t, 30*time.Second, func() error { return healthyMembers(admin, ids) })
}

// servingVIP tells which control plane serves the Kubernetes API on the VIP: the first IP of
// the API server's serving certificate is its node's address.
func servingVIP() (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort(haVIP, "6443"),
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the presented certificate is read
	if err != nil {
		return "", err
	}
	defer conn.Close() //nolint:errcheck

	leaf := conn.ConnectionState().PeerCertificates[0]
	if len(leaf.IPAddresses) == 0 {
		return "", errors.New("API server certificate without IPs")
	}

	return leaf.IPAddresses[0].String(), nil
}

func servingVIPHolder(t *testing.T) string {
	t.Helper()

	var holder string

	eventually(t, haTimeout, func() error {
		var err error

		holder, err = servingVIP()

		return err
	})

	return holder
}

// simProcess is one simulator process (a node of the multi-node test).
type simProcess struct {
	ip, stateDir, logPath string
	cmd                   *exec.Cmd
	done                  chan struct{}
}

var (
	simBuildOnce sync.Once
	simBuildPath string
	simBuildErr  error
)

// buildSimulator builds this package's binary once per test run.
func buildSimulator(t *testing.T) string {
	t.Helper()

	simBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "talos-sim-bin-")
		if err != nil {
			simBuildErr = err

			return
		}

		simBuildPath = filepath.Join(dir, "talos-sim")

		out, err := exec.Command("go", "build", "-o", simBuildPath, ".").CombinedOutput()
		if err != nil {
			simBuildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})

	if simBuildErr != nil {
		t.Fatal(simBuildErr)
	}

	t.Cleanup(func() { os.RemoveAll(filepath.Dir(simBuildPath)) }) //nolint:errcheck

	return simBuildPath
}

// startSimProcess runs a simulator for ip with its state in stateDir and waits until it listens;
// cleanup stops it (SIGTERM, as lab/talos/stop.sh does).
func startSimProcess(t *testing.T, bin, ip, stateDir, kubeBinDir string) *simProcess {
	t.Helper()

	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}

	p := &simProcess{ip: ip, stateDir: stateDir, logPath: stateDir + ".log", done: make(chan struct{})}

	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() //nolint:errcheck

	p.cmd = exec.Command(bin, "--listen", ip+":50000", "--state-dir", stateDir, "--kube-bin-dir", kubeBinDir)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile

	if err = p.cmd.Start(); err != nil {
		t.Fatal(err)
	}

	go func() {
		p.cmd.Wait() //nolint:errcheck
		close(p.done)
	}()

	t.Cleanup(func() { p.stop() })

	eventually(t, 20*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("talos-sim on %s exited:\n%s", ip, p.tail(30))
		default:
		}

		conn, err := net.DialTimeout("tcp", ip+":50000", time.Second)
		if err == nil {
			conn.Close() //nolint:errcheck
		}

		return err
	})

	return p
}

func (p *simProcess) stop() {
	select {
	case <-p.done:
		return
	default:
	}

	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck

	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck
		<-p.done
	}
}

// kill is a node dying: SIGKILL, no clean shutdown (its children go with it).
func (p *simProcess) kill(t *testing.T) {
	t.Helper()

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	<-p.done
}

func (p *simProcess) log() string {
	data, _ := os.ReadFile(p.logPath) //nolint:errcheck

	return string(data)
}

func (p *simProcess) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(p.log()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}
