package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
)

// TestNodeAndWorkloads bootstraps one control plane and checks, against the real API server
// and controller manager, what a Talos v1.11.5 node with a generated config does: PodSecurity
// admission from cluster.apiServer.admissionControl, Secrets encrypted at rest, a Ready Node
// with Talos's labels and taints, and controllers that create (or are refused) Pods for it.
func TestNodeAndWorkloads(t *testing.T) {
	// In parallel with TestControlPlane: each has its own address, and most of this one's
	// time is spent waiting out the node lifecycle controller's grace period.
	t.Parallel()

	const ip = "127.0.21.252"

	b := bootstrapNode(t, ip)
	api := b.api

	// Namespaces as a cluster has them: "apps" without pod-security labels (the config's
	// defaults apply: enforce baseline), "privileged" opted out by label.
	for _, ns := range []struct{ name, labels string }{
		{"apps", `{}`},
		{"privileged", `{"pod-security.kubernetes.io/enforce":"privileged"}`},
	} {
		api.post(t, "/api/v1/namespaces",
			fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q,"labels":%s}}`, ns.name, ns.labels))
		// Pods are refused until the service-account controller made the namespace's default
		// ServiceAccount.
		api.waitFor(t, "/api/v1/namespaces/"+ns.name+"/serviceaccounts/default", 30*time.Second)
	}

	api.waitFor(t, "/api/v1/namespaces/kube-system/serviceaccounts/default", 30*time.Second)

	t.Run("PodSecurityAdmission", func(t *testing.T) {
		// Without labels the config's defaults apply: baseline is enforced...
		code, _, body, err := api.request(http.MethodPost, "/api/v1/namespaces/apps/pods", hostNetworkPod("host"))
		if err != nil || code != http.StatusForbidden ||
			!strings.Contains(statusMessage(body), `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`) {
			t.Errorf("hostNetwork pod in an unlabelled namespace: %d %v %s, want 403 violates PodSecurity baseline", code, err, body)
		}

		// ...a baseline pod is admitted, with the warning of the restricted level.
		code, header, body, err := api.request(http.MethodPost, "/api/v1/namespaces/apps/pods", plainPod("plain"))
		if err != nil || code != http.StatusCreated {
			t.Errorf("baseline pod: %d %v %s, want 201", code, err, body)
		}

		// (The header quotes the message, escaping its quotes.)
		if warning := strings.Join(header.Values("Warning"), "\n"); !strings.Contains(warning, `would violate PodSecurity \"restricted:latest\"`) {
			t.Errorf("baseline pod: Warning %q, want the restricted level's warning", warning)
		}

		// A namespace labelled privileged, and kube-system (exempt), take the hostNetwork pod.
		for _, ns := range []string{"privileged", "kube-system"} {
			code, _, body, err = api.request(http.MethodPost, "/api/v1/namespaces/"+ns+"/pods", hostNetworkPod("host"))
			if err != nil || code != http.StatusCreated {
				t.Errorf("hostNetwork pod in %s: %d %v %s, want 201", ns, code, err, body)
			}
		}
	})

	t.Run("SecretsEncryptedAtRest", func(t *testing.T) {
		const plaintext = "talos-sim-plaintext-canary"

		api.post(t, "/api/v1/namespaces/apps/secrets",
			`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"canary"},"stringData":{"k":"`+plaintext+`"}}`)

		stored := etcdValue(t, ip, "/registry/secrets/apps/canary")

		// cluster.secretboxEncryptionSecret, under Talos's key name key2.
		if !bytes.HasPrefix(stored, []byte("k8s:enc:secretbox:v1:key2:")) {
			t.Errorf("the Secret in etcd starts %q, want k8s:enc:secretbox:v1:key2:", stored[:min(len(stored), 40)])
		}

		if bytes.Contains(stored, []byte(plaintext)) || bytes.Contains(stored, []byte(base64.StdEncoding.EncodeToString([]byte(plaintext)))) {
			t.Error("the Secret's data is readable in etcd")
		}

		// Through the API it reads back as written.
		var secret struct {
			Data map[string][]byte `json:"data"`
		}

		api.getJSON(t, "/api/v1/namespaces/apps/secrets/canary", &secret)

		if string(secret.Data["k"]) != plaintext {
			t.Errorf("secret data = %q", secret.Data["k"])
		}
	})

	var nodeName string

	t.Run("Node", func(t *testing.T) {
		n := api.waitForNode(t, 30*time.Second)
		nodeName = n.Metadata.Name

		// No machine.network.hostname in a generated config: Talos's stable default name.
		if !regexp.MustCompile(`^talos-[0-9a-z]{3}-[0-9a-z]{3}$`).MatchString(nodeName) {
			t.Errorf("node name %q, want Talos's stable hostname talos-xxx-yyy", nodeName)
		}

		// Talos's labels and taints follow the kubelet's registration.
		eventually(t, 30*time.Second, func() error {
			api.getJSON(t, "/api/v1/nodes/"+nodeName, &n)

			if _, ok := n.Metadata.Labels["node-role.kubernetes.io/control-plane"]; !ok {
				return fmt.Errorf("labels %v: no control-plane role yet", n.Metadata.Labels)
			}

			if n.Spec.PodCIDR == "" {
				return fmt.Errorf("no pod CIDR allocated yet")
			}

			return nil
		})

		for key, want := range map[string]string{
			"node-role.kubernetes.io/control-plane":                   "",
			"node.kubernetes.io/exclude-from-external-load-balancers": "",
			"kubernetes.io/hostname":                                  nodeName,
			"kubernetes.io/os":                                        "linux",
		} {
			if got, ok := n.Metadata.Labels[key]; !ok || got != want {
				t.Errorf("label %s = %q (present %v), want %q", key, got, ok, want)
			}
		}

		if got := n.Metadata.Annotations["talos.dev/owned-labels"]; got !=
			`["node-role.kubernetes.io/control-plane","node.kubernetes.io/exclude-from-external-load-balancers"]` {
			t.Errorf("talos.dev/owned-labels = %q", got)
		}

		if !slices.Contains(n.Spec.Taints, kubeTaint{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}) {
			t.Errorf("taints %+v, want the control-plane NoSchedule taint", n.Spec.Taints)
		}

		if _, podNet, _ := net.ParseCIDR("10.244.0.0/16"); !podNet.Contains(net.ParseIP(strings.Split(n.Spec.PodCIDR, "/")[0])) {
			t.Errorf("podCIDR %q outside the config's pod subnet 10.244.0.0/16", n.Spec.PodCIDR)
		}

		if ready := n.condition("Ready"); ready.Status != "True" || ready.Reason != "KubeletReady" {
			t.Errorf("Ready condition %+v", ready)
		}

		if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Type != "InternalIP" || n.Status.Addresses[0].Address != ip {
			t.Errorf("addresses %+v, want InternalIP %s first", n.Status.Addresses, ip)
		}

		for _, resource := range []string{"cpu", "memory", "pods", "ephemeral-storage"} {
			if n.Status.Capacity[resource] == "" || n.Status.Allocatable[resource] == "" {
				t.Errorf("no %s in capacity %v / allocatable %v", resource, n.Status.Capacity, n.Status.Allocatable)
			}
		}

		if n.Status.Capacity["pods"] != "110" {
			t.Errorf("pod capacity %q, want the kubelet's 110", n.Status.Capacity["pods"])
		}

		if info := n.Status.NodeInfo; info.KubeletVersion != "v1.34.1" || info.OSImage != "Talos (v1.11.5)" {
			t.Errorf("nodeInfo %+v, want kubelet v1.34.1 on Talos (v1.11.5)", info)
		}

		var lease struct {
			Spec struct {
				HolderIdentity       string `json:"holderIdentity"`
				LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
			} `json:"spec"`
		}

		api.getJSON(t, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"+nodeName, &lease)

		if lease.Spec.HolderIdentity != nodeName || lease.Spec.LeaseDurationSeconds != 40 {
			t.Errorf("node lease %+v", lease.Spec)
		}
	})

	t.Run("DeploymentGetsPod", func(t *testing.T) {
		api.post(t, "/apis/apps/v1/namespaces/apps/deployments", workload("Deployment", "web", plainPodSpec, ""))

		pods := api.waitForPods(t, "apps", "app=web", 1)
		if owner := pods[0].Metadata.OwnerReferences; len(owner) != 1 || owner[0].Kind != "ReplicaSet" {
			t.Errorf("pod owners %+v, want its ReplicaSet", owner)
		}
	})

	t.Run("DaemonSetOnePodPerNode", func(t *testing.T) {
		// Tolerating the control-plane taint: one Pod, bound by affinity to the one Node.
		api.post(t, "/apis/apps/v1/namespaces/apps/daemonsets",
			workload("DaemonSet", "agent", plainPodSpec, controlPlaneToleration))

		pods := api.waitForPods(t, "apps", "app=agent", 1)
		if !strings.Contains(pods[0].affinity, `"values":["`+nodeName+`"]`) {
			t.Errorf("daemon pod affinity %s, want node %s", pods[0].affinity, nodeName)
		}

		// Not tolerating it: no Pod at all, as on a tainted control plane.
		api.post(t, "/apis/apps/v1/namespaces/apps/daemonsets", workload("DaemonSet", "intolerant", plainPodSpec, ""))

		eventually(t, 30*time.Second, func() error {
			var ds struct {
				Status struct {
					ObservedGeneration     int `json:"observedGeneration"`
					DesiredNumberScheduled int `json:"desiredNumberScheduled"`
				} `json:"status"`
			}

			api.getJSON(t, "/apis/apps/v1/namespaces/apps/daemonsets/intolerant", &ds)

			if ds.Status.ObservedGeneration < 1 {
				return fmt.Errorf("daemonset not observed yet")
			}

			if ds.Status.DesiredNumberScheduled != 0 {
				t.Errorf("desiredNumberScheduled = %d on a tainted control plane, want 0", ds.Status.DesiredNumberScheduled)
			}

			return nil
		})

		if pods := api.pods(t, "apps", "app=intolerant"); len(pods) != 0 {
			t.Errorf("%d pods for a DaemonSet that does not tolerate the control-plane taint", len(pods))
		}
	})

	t.Run("PrivilegedDaemonSetRefused", func(t *testing.T) {
		api.post(t, "/apis/apps/v1/namespaces/apps/daemonsets",
			workload("DaemonSet", "privileged-agent", hostNetworkPodSpec, controlPlaneToleration))

		eventually(t, 60*time.Second, func() error {
			var events struct {
				Items []struct {
					Message string `json:"message"`
				} `json:"items"`
			}

			api.getJSON(t, "/api/v1/namespaces/apps/events?fieldSelector="+url.QueryEscape(
				"involvedObject.kind=DaemonSet,involvedObject.name=privileged-agent,reason=FailedCreate"), &events)

			for _, e := range events.Items {
				if strings.Contains(e.Message, `violates PodSecurity "baseline:latest"`) {
					return nil
				}
			}

			return fmt.Errorf("no FailedCreate event naming PodSecurity baseline: %+v", events.Items)
		})

		if pods := api.pods(t, "apps", "app=privileged-agent"); len(pods) != 0 {
			t.Errorf("%d pods created for a privileged DaemonSet in a baseline namespace", len(pods))
		}
	})

	t.Run("PrivilegedDaemonSetInPrivilegedNamespace", func(t *testing.T) {
		api.post(t, "/apis/apps/v1/namespaces/privileged/daemonsets",
			workload("DaemonSet", "privileged-agent", hostNetworkPodSpec, controlPlaneToleration))

		api.waitForPods(t, "privileged", "app=privileged-agent", 1)
	})

	// Talos applies a changed config's labels and taints to the running Node, taking over
	// only what it owns.
	t.Run("NodeLabelsFollowConfig", func(t *testing.T) {
		patched, err := configpatcher.Apply(configpatcher.WithConfig(b.cluster.config), mustPatch(t,
			`{"machine":{"nodeLabels":{"homelab.example/tier":"lab"},"nodeTaints":{"homelab.example/dedicated":"lab:PreferNoSchedule"}}}`))
		if err != nil {
			t.Fatal(err)
		}

		data, err := patched.Bytes()
		if err != nil {
			t.Fatal(err)
		}

		if _, err = b.node.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
			Data: data, Mode: machineapi.ApplyConfigurationRequest_NO_REBOOT,
		}); err != nil {
			t.Fatal(err)
		}

		eventually(t, 30*time.Second, func() error {
			var n kubeNode

			api.getJSON(t, "/api/v1/nodes/"+nodeName, &n)

			if n.Metadata.Labels["homelab.example/tier"] != "lab" {
				return fmt.Errorf("labels %v", n.Metadata.Labels)
			}

			if !slices.Contains(n.Spec.Taints, kubeTaint{Key: "homelab.example/dedicated", Value: "lab", Effect: "PreferNoSchedule"}) {
				return fmt.Errorf("taints %+v", n.Spec.Taints)
			}

			if got := n.Metadata.Annotations["talos.dev/owned-taints"]; got != `["homelab.example/dedicated","node-role.kubernetes.io/control-plane"]` {
				return fmt.Errorf("talos.dev/owned-taints = %q", got)
			}

			return nil
		})
	})

	// Last, after the node lifecycle controller's grace period (50 s in Kubernetes 1.34) has
	// passed since the bootstrap: the node is still Ready and untainted, its lease fresh.
	t.Run("NodeStaysReady", func(t *testing.T) {
		if wait := time.Until(b.ready.Add(65 * time.Second)); wait > 0 {
			time.Sleep(wait)
		}

		var n kubeNode

		api.getJSON(t, "/api/v1/nodes/"+nodeName, &n)

		if ready := n.condition("Ready"); ready.Status != "True" {
			t.Errorf("Ready condition %+v a minute after the bootstrap", ready)
		}

		for _, taint := range n.Spec.Taints {
			if taint.Key == "node.kubernetes.io/not-ready" || taint.Key == "node.kubernetes.io/unreachable" {
				t.Errorf("node tainted %+v", taint)
			}
		}

		var lease struct {
			Spec struct {
				RenewTime time.Time `json:"renewTime"`
			} `json:"spec"`
		}

		api.getJSON(t, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"+nodeName, &lease)

		if age := time.Since(lease.Spec.RenewTime); age > 15*time.Second {
			t.Errorf("node lease last renewed %s ago, want every 10s", age.Round(time.Second))
		}
	})
}

const (
	plainPodSpec       = `{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10"}]}`
	hostNetworkPodSpec = `{"hostNetwork":true,"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10","securityContext":{"privileged":true}}]}`
	// controlPlaneToleration lets a DaemonSet onto a control plane, as system DaemonSets do.
	controlPlaneToleration = `[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}]`
)

func plainPod(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":%s}`, name, plainPodSpec)
}

func hostNetworkPod(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":%s}`, name, hostNetworkPodSpec)
}

// workload is a Deployment or DaemonSet of pods with podSpec, labelled app=<name>, with
// tolerations (JSON, may be empty) added to the pod spec.
func workload(kind, name, podSpec, tolerations string) string {
	if tolerations != "" {
		podSpec = strings.TrimSuffix(podSpec, "}") + `,"tolerations":` + tolerations + `}`
	}

	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":%q,"metadata":{"name":%q},"spec":{`+
		`"selector":{"matchLabels":{"app":%q}},`+
		`"template":{"metadata":{"labels":{"app":%q}},"spec":%s}}}`, kind, name, name, name, podSpec)
}

// statusMessage is the message of a Status answer (the body itself when it is not one).
func statusMessage(body string) string {
	var status struct {
		Message string `json:"message"`
	}

	if json.Unmarshal([]byte(body), &status) != nil || status.Message == "" {
		return body
	}

	return status.Message
}

// listedPod is the part of a Pod the tests look at.
type listedPod struct {
	Metadata struct {
		Name            string `json:"name"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Affinity json.RawMessage `json:"affinity"`
	} `json:"spec"`
	affinity string
}

func (k *kubeClient) pods(t *testing.T, namespace, selector string) []listedPod {
	t.Helper()

	var list struct {
		Items []listedPod `json:"items"`
	}

	k.getJSON(t, "/api/v1/namespaces/"+namespace+"/pods?labelSelector="+url.QueryEscape(selector), &list)

	for i := range list.Items {
		list.Items[i].affinity = string(list.Items[i].Spec.Affinity)
	}

	return list.Items
}

// waitForPods waits until exactly n pods match selector.
func (k *kubeClient) waitForPods(t *testing.T, namespace, selector string, n int) []listedPod {
	t.Helper()

	var pods []listedPod

	eventually(t, 60*time.Second, func() error {
		pods = k.pods(t, namespace, selector)
		if len(pods) != n {
			return fmt.Errorf("%d pods match %s in %s, want %d", len(pods), selector, namespace, n)
		}

		return nil
	})

	return pods
}

// etcdValue reads a key straight from the node's etcd, through its JSON gateway.
func etcdValue(t *testing.T, ip, key string) []byte {
	t.Helper()

	body := fmt.Sprintf(`{"key":%q}`, base64.StdEncoding.EncodeToString([]byte(key)))

	resp, err := http.Post("http://"+net.JoinHostPort(ip, "2379")+"/v3/kv/range", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck

	var out struct {
		Kvs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}

	if err = json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Kvs) != 1 {
		t.Fatalf("etcd range %s: %v (%d values)", key, err, len(out.Kvs))
	}

	return out.Kvs[0].Value
}
