package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// The kubelet stand-in: no kubelet runs in the lab, yet kube-controller-manager only creates a
// DaemonSet's Pods for Nodes that exist, and PodSecurity admission only judges Pods that get
// created. So the node registers itself as its kubelet would (as system:node:<name>, checked by
// the Node authorizer and NodeRestriction like a real kubelet) and keeps itself Ready by
// renewing its Lease; Talos's own labels, annotations and taints follow (nodeapply.go). No
// container ever starts: Pods stay Pending, as on a node whose kubelet never admits them.

const (
	// The kubelet's defaults (k8s.io/kubelet/config/v1beta1, unchanged by Talos): a 40 s node
	// lease renewed every quarter of it, and the full status re-sent at least every 5 minutes.
	// The node lifecycle controller marks a node NotReady only after a grace period without a
	// renewal (40 s and more), so a renewal every 10 s never lets it.
	nodeLeaseDurationSeconds  = 40
	nodeLeaseRenewInterval    = 10 * time.Second
	nodeStatusReportFrequency = 5 * time.Minute

	kubeletPort = 10250
	// The containerd release in Talos v1.11.5 (siderolabs/pkgs, Pkgfile containerd_version at
	// the PKGS commit pinned by talos Makefile).
	containerRuntimeVersion = "containerd://2.1.5"
	// Talos's kubelet configuration reserves these for the system on a control plane
	// (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go, constants.KubeletSystemReserved*),
	// and the kubelet's default hard eviction thresholds come off allocatable too.
	systemReservedMilliCPU    = 50
	systemReservedMemory      = 512 << 20
	evictionHardMemory        = 100 << 20
	systemReservedEphemeral   = 256 << 20
	evictionHardNodefsPercent = 10
	ephemeralStorageCapacity  = 128 << 30 // the simulated install disk (services.go Disks)
	maxPods                   = 110
)

// nodeSource reports what the node is now: its applied config and the Talos version it runs.
// Both change while the control plane runs (a re-applied config, an upgrade).
type nodeSource func() (config.Provider, string)

// planNode fills in the plan's Node: its name, as Talos's kubelet registers it, and a
// system:node client certificate from the cluster CA. (A real kubelet obtains that certificate
// through TLS bootstrapping with cluster.token; the identity it ends up with is this one.)
func planNode(plan *controlPlanePlan, cfg config.Provider, ip net.IP, state stateStore) error {
	if cfg.Machine().Kubelet().SkipNodeRegistration() {
		return nil
	}

	name, err := nodeName(cfg, ip, state)
	if err != nil {
		return err
	}

	id, err := nodeIdentity(state)
	if err != nil {
		return fmt.Errorf("node identity: %w", err)
	}

	cert, err := issueClusterCert(cfg.Cluster().IssuingCA(),
		x509.CommonName("system:node:"+name),
		x509.Organization("system:nodes"),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
	)
	if err != nil {
		return fmt.Errorf("kubelet certificate: %w", err)
	}

	plan.nodeName, plan.nodeID, plan.kubeletCert = name, id, *cert.Certificate

	return nil
}

// kubelet is the stand-in for one node's kubelet (and Talos's node controller).
type kubelet struct {
	name, id, ip string   // the Node's name, the node's identity, its address
	node         *kubeAPI // as system:node:<name>
	// admin is how Talos's NodeApplyController talks: on a control plane with an admin
	// identity, on a worker with the kubelet's own (node_apply.go getK8sClient).
	admin  *kubeAPI
	source nodeSource
	log    *slog.Logger

	started    time.Time
	bootID     string
	uid        string // the registered Node's uid ("" until registered)
	lease      object // the Lease as last written
	lastStatus time.Time
	applied    *nodeSpec         // Talos's spec as last applied
	failing    map[string]string // the last error per step, so a repeated one is logged once
}

// runKubelet registers the Node and keeps it Ready until ctx ends.
func (c *controlPlane) runKubelet(ctx context.Context, plan *controlPlanePlan) {
	if plan.nodeName == "" {
		c.log.Info("no Node registered: machine.kubelet.skipNodeRegistration is set")

		return
	}

	k := &kubelet{
		name:   plan.nodeName,
		id:     plan.nodeID,
		ip:     plan.ip,
		node:   newKubeAPI(plan.apiServerURL(), plan.caPool, plan.kubeletCert),
		admin:  newKubeAPI(plan.apiServerURL(), plan.caPool, plan.probeCert),
		source: c.source,
		log:    c.log.With("node", plan.nodeName),
	}
	defer k.node.close()
	defer k.admin.close()

	k.loop(ctx)
}

// loop registers the Node and keeps it Ready until ctx ends.
func (k *kubelet) loop(ctx context.Context) {
	k.started, k.bootID, k.failing = time.Now(), randomUUID(), map[string]string{}

	ticker := time.NewTicker(nodeLeaseRenewInterval)
	defer ticker.Stop()

	for {
		k.sync(ctx)

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// sync is one round: register (once), renew the Lease, re-send the status when due, and apply
// Talos's labels and taints when they changed.
func (k *kubelet) sync(ctx context.Context) {
	cfg, version := k.source()

	if k.uid == "" {
		if !k.report("register", k.register(ctx, cfg, version)) {
			return
		}
	}

	k.report("renew lease", k.renewLease(ctx))

	if time.Since(k.lastStatus) >= nodeStatusReportFrequency {
		if k.report("update node status", k.updateStatus(ctx, cfg, version)) {
			k.lastStatus = time.Now()
		}
	}

	if spec := desiredNodeSpec(cfg); k.applied == nil || !reflect.DeepEqual(*k.applied, spec) {
		if k.report("apply node labels and taints", applyNodeSpec(ctx, k.admin, k.name, spec)) {
			k.applied = &spec
		}
	}
}

// report logs a step's error once per change (and its recovery), and says whether it succeeded.
func (k *kubelet) report(step string, err error) bool {
	prev, failed := k.failing[step]

	switch {
	case err == nil && failed:
		delete(k.failing, step)
		k.log.Info("node: recovered", "step", step)
	case err != nil && (!failed || prev != err.Error()):
		k.failing[step] = err.Error()
		k.log.Warn("node: failed; retrying", "step", step, "err", err)
	}

	return err == nil
}

// register creates the Node as the kubelet does (pkg/kubelet/kubelet_node_status.go
// initialNode): the kubelet's own labels, the control-plane NoSchedule taint Talos has it
// register with (kubelet_spec.go registerWithTaints, so nothing lands there before Talos's
// taint does) and the full status. A Node left by an earlier run is kept, its status refreshed.
func (k *kubelet) register(ctx context.Context, cfg config.Provider, version string) error {
	name := k.name

	var taints []any
	if cfg.Machine().Type().IsControlPlane() && !cfg.Cluster().ScheduleOnControlPlanes() {
		taints = append(taints, taintObject(nodeTaint{Key: constants.LabelNodeRoleControlPlane, Effect: "NoSchedule"}))
	}

	node := object{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": object{
			"name": name,
			"labels": map[string]string{
				"kubernetes.io/hostname":  name,
				"kubernetes.io/os":        "linux",
				"kubernetes.io/arch":      runtime.GOARCH,
				"beta.kubernetes.io/os":   "linux",
				"beta.kubernetes.io/arch": runtime.GOARCH,
			},
			"annotations": map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		"spec":   object{"taints": taints},
		"status": k.status(cfg, version),
	}

	var created object

	err := k.node.create(ctx, "/api/v1/nodes", node, &created)
	if statusCode(err) == 409 {
		if err = k.node.get(ctx, "/api/v1/nodes/"+name, &created); err == nil {
			err = k.updateStatus(ctx, cfg, version)
		}
	}

	if err != nil {
		return err
	}

	k.uid = stringOr(child(created, "metadata")["uid"])
	k.lastStatus = time.Now()
	k.log.Info("node registered", "uid", k.uid)

	return nil
}

// updateStatus sends the full status as the kubelet does, a strategic merge patch of the
// status subresource (conditions merge by type).
func (k *kubelet) updateStatus(ctx context.Context, cfg config.Provider, version string) error {
	return k.node.strategicPatch(ctx, "/api/v1/nodes/"+k.name+"/status", object{"status": k.status(cfg, version)}, nil)
}

// renewLease is the kubelet's node lease controller (pkg/kubelet/nodelease via
// k8s.io/component-helpers/apimachinery/lease): a Lease named after the node in
// kube-node-lease, owned by the Node, held by the node, renewed every 10 s.
func (k *kubelet) renewLease(ctx context.Context) error {
	const leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

	name := k.name
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00") // metav1.MicroTime

	if k.lease == nil {
		var lease object

		err := k.node.get(ctx, leases+"/"+name, &lease)
		if statusCode(err) == 404 {
			lease = object{
				"apiVersion": "coordination.k8s.io/v1",
				"kind":       "Lease",
				"metadata": object{
					"name":      name,
					"namespace": "kube-node-lease",
					"ownerReferences": []any{object{
						"apiVersion": "v1", "kind": "Node", "name": name, "uid": k.uid,
					}},
				},
				"spec": object{
					"holderIdentity":       name,
					"leaseDurationSeconds": nodeLeaseDurationSeconds,
					"renewTime":            now,
				},
			}

			return k.node.create(ctx, leases, lease, &k.lease)
		}

		if err != nil {
			return err
		}

		k.lease = lease
	}

	spec := child(k.lease, "spec")
	spec["holderIdentity"], spec["leaseDurationSeconds"], spec["renewTime"] = name, nodeLeaseDurationSeconds, now

	var renewed object
	if err := k.node.update(ctx, leases+"/"+name, k.lease, &renewed); err != nil {
		k.lease = nil // read it afresh next time (a conflict, or deleted)

		return err
	}

	k.lease = renewed

	return nil
}

// status is the NodeStatus the kubelet would report: Ready with no pressure, the node IP as
// InternalIP, the machine's capacity less Talos's reservations, and the versions of what a
// Talos node runs (the kubelet's from machine.kubelet.image).
func (k *kubelet) status(cfg config.Provider, version string) object {
	now := time.Now().UTC().Format(time.RFC3339)
	since := k.started.UTC().Format(time.RFC3339)

	condition := func(kind, status, reason, message string) object {
		return object{
			"type": kind, "status": status, "reason": reason, "message": message,
			"lastHeartbeatTime": now, "lastTransitionTime": since,
		}
	}

	id := identityBytes(k.id)
	cpus := runtime.NumCPU()
	memory := hostMemory()
	ephemeralAllocatable := int64(ephemeralStorageCapacity) - systemReservedEphemeral - ephemeralStorageCapacity*evictionHardNodefsPercent/100

	return object{
		"capacity": object{
			"cpu":               strconv.Itoa(cpus),
			"memory":            strconv.FormatInt(memory, 10),
			"ephemeral-storage": strconv.FormatInt(ephemeralStorageCapacity, 10),
			"pods":              strconv.Itoa(maxPods),
			"hugepages-1Gi":     "0",
			"hugepages-2Mi":     "0",
		},
		"allocatable": object{
			"cpu":               fmt.Sprintf("%dm", cpus*1000-systemReservedMilliCPU),
			"memory":            strconv.FormatInt(max(memory-systemReservedMemory-evictionHardMemory, 0), 10),
			"ephemeral-storage": strconv.FormatInt(ephemeralAllocatable, 10),
			"pods":              strconv.Itoa(maxPods),
			"hugepages-1Gi":     "0",
			"hugepages-2Mi":     "0",
		},
		"conditions": []any{
			condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
		},
		"addresses": []any{
			object{"type": "InternalIP", "address": k.ip},
			object{"type": "Hostname", "address": k.name},
		},
		"daemonEndpoints": object{"kubeletEndpoint": object{"Port": kubeletPort}},
		"nodeInfo": object{
			"machineID":               hex.EncodeToString(id[:16]), // Talos: the identity's first 16 bytes
			"systemUUID":              uuidFromBytes(id[16:]),
			"bootID":                  k.bootID,
			"kernelVersion":           constants.DefaultKernelVersion,
			"osImage":                 "Talos (" + version + ")",
			"containerRuntimeVersion": containerRuntimeVersion,
			"kubeletVersion":          imageTag(cfg.Machine().Kubelet().Image(), "v"+constants.DefaultKubernetesVersion),
			"operatingSystem":         "linux",
			"architecture":            runtime.GOARCH,
		},
	}
}

// hostMemory is the machine's memory in bytes (MemTotal), which the kubelet reports as capacity.
func hostMemory() int64 {
	const fallback = 8 << 30

	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return fallback
	}
	defer f.Close() //nolint:errcheck

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kib, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kib << 10
			}
		}
	}

	return fallback
}

// imageTag is the tag of an image reference, or fallback when it has none.
func imageTag(image, fallback string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") && !strings.Contains(image, "@") {
		return image[i+1:]
	}

	return fallback
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80

	return uuidFromBytes(b)
}

// identityBytes is the 32 random bytes of a node identity (hex, see nodeIdentity); an
// identity file edited into something else is hashed instead.
func identityBytes(id string) []byte {
	if raw, err := hex.DecodeString(id); err == nil && len(raw) == 32 {
		return raw
	}

	sum := sha256.Sum256([]byte(id))

	return sum[:]
}

// uuidFromBytes formats 16 bytes as a UUID.
func uuidFromBytes(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
