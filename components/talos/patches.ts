// Machine-config patches, layered cluster → role → node. Pure functions of the typed config: the
// component only renders what these return, and tests check the layering without an engine.
import type { ClusterConfig, NodeConfig } from "../../stacks/config";

/** A strategic-merge patch of a Talos machine config. */
export type TalosPatch = Record<string, unknown>;

/** The patches every node of this homelab needs, before the stack's own. */
export function homelabPatches(cluster: ClusterConfig, node: NodeConfig): TalosPatch[] {
    const patches: TalosPatch[] = [];
    const controlPlane = node.role === "controlplane";
    const workloadsOnControlPlanes = !cluster.nodes.some(n => n.role === "worker");

    // Identity and installation: the hostname is the node's name in config, and the installer
    // image carries the configured system extensions (its Image Factory schematic id is computed
    // locally, so no factory call is needed to preview).
    patches.push({
        machine: {
            network: { hostname: node.name },
            install: { disk: node.installDisk, image: cluster.installerImage },
        },
    });

    // Kubelet serving certificates signed by the cluster CA (rotated), so metrics-server and
    // Prometheus can verify kubelets; the platform's kubelet-csr-approver signs the CSRs.
    patches.push({ machine: { kubelet: { extraArgs: { "rotate-server-certificates": "true" } } } });

    if (controlPlane) {
        // Metrics for Prometheus: etcd serves /metrics on 2381, controller-manager and scheduler
        // listen beyond localhost. The seed's etcd grew to 12 GB unnoticed; these make it visible.
        patches.push({
            cluster: {
                etcd: { extraArgs: { "listen-metrics-urls": "http://0.0.0.0:2381" } },
                controllerManager: { extraArgs: { "bind-address": "0.0.0.0" } },
                scheduler: { extraArgs: { "bind-address": "0.0.0.0" } },
            },
        });
        // In-cluster etcd snapshots: pods in kube-system may call the Talos API with the
        // os:etcd:backup role, and nothing more.
        patches.push({
            machine: {
                features: {
                    kubernetesTalosAPIAccess: {
                        enabled: true,
                        allowedRoles: ["os:etcd:backup"],
                        allowedKubernetesNamespaces: ["kube-system"],
                    },
                },
            },
        });
        if (cluster.vip !== undefined) {
            // Several control planes share the API address; Talos moves the VIP to a healthy one.
            // It goes on the interface the node's own patches configure (a static address, as a
            // node taken over has), or on the physical interface by DHCP.
            const named = staticInterface(node);
            patches.push({
                machine: {
                    network: {
                        interfaces: [
                            named
                                ? { interface: named, vip: { ip: cluster.vip } }
                                : { deviceSelector: { physical: true }, dhcp: true, vip: { ip: cluster.vip } },
                        ],
                    },
                },
            });
        }
    }

    if (workloadsOnControlPlanes) {
        // No workers: the control plane runs everything.
        patches.push({ cluster: { allowSchedulingOnControlPlanes: true } });
        if (controlPlane) {
            // Talos labels control planes as excluded from external load balancers, which makes
            // MetalLB refuse to announce from the only node. The delete patch is unreliable on some
            // Talos versions, so MetalLB's speaker is also told to ignore the label (platform).
            patches.push({
                machine: { nodeLabels: { "node.kubernetes.io/exclude-from-external-load-balancers": { $patch: "delete" } } },
            });
        }
    }
    return patches;
}

/** The first interface a node's own patches name, if any (Talos merges interfaces by name). */
export function staticInterface(node: NodeConfig): string | undefined {
    for (const patch of node.patches) {
        const interfaces = ((patch.machine as TalosPatch | undefined)?.network as TalosPatch | undefined)?.interfaces;
        const name = Array.isArray(interfaces) ? (interfaces[0] as TalosPatch | undefined)?.interface : undefined;
        if (typeof name === "string") return name;
    }
    return undefined;
}

/** All patches for a node, in the order Talos applies them: homelab, cluster, role, node. */
export function layeredPatches(cluster: ClusterConfig, node: NodeConfig): TalosPatch[] {
    return [...homelabPatches(cluster, node), ...cluster.patches.cluster, ...cluster.patches[node.role], ...node.patches];
}

/** Patches as the provider takes them: YAML documents (JSON is YAML), stable key order. */
export function renderPatches(patches: readonly TalosPatch[]): string[] {
    return patches.map(p => JSON.stringify(p));
}

/** Control planes first, in config order: bootstrap and upgrades go in this order. */
export function rolloutOrder(nodes: readonly NodeConfig[]): NodeConfig[] {
    return [...nodes.filter(n => n.role === "controlplane"), ...nodes.filter(n => n.role === "worker")];
}
