import * as assert from "assert";
import { metallbValues } from "../components/platform/values";
import { homelabPatches, layeredPatches, renderPatches, rolloutOrder } from "../components/talos/patches";
import { ClusterConfig, parseStackSettings } from "../stacks/config";
import { clone, rawStackConfig } from "./stackfiles";

function labCluster(edit: (c: any) => void = () => undefined): ClusterConfig {
    const raw = clone(rawStackConfig("lab"));
    edit(raw);
    return parseStackSettings("lab", raw).cluster;
}

/** A cluster of 3 control planes behind a VIP and 2 workers. */
const multiNode = (c: any) => {
    c.cluster.vip = "127.0.10.9";
    c.cluster.endpoint = "https://127.0.10.9:6443";
    c.cluster.nodes = [
        { name: "w1", address: "127.0.10.21", role: "worker", installDisk: "/dev/sda", patches: [{ machine: { nodeLabels: { disk: "ssd" } } }] },
        { name: "cp1", address: "127.0.10.11", role: "controlplane", installDisk: "/dev/sda" },
        { name: "cp2", address: "127.0.10.12", role: "controlplane", installDisk: "/dev/nvme0n1" },
        { name: "cp3", address: "127.0.10.13", role: "controlplane", installDisk: "/dev/sda" },
        { name: "w2", address: "127.0.10.22", role: "worker", installDisk: "/dev/sda" },
    ];
    c.cluster.patches = {
        cluster: [{ cluster: { network: { dnsDomain: "cluster.local" } } }],
        controlplane: [{ machine: { kubelet: { extraArgs: { "max-pods": "150" } } } }],
        worker: [{ machine: { sysctls: { "vm.max_map_count": "262144" } } }],
    };
};

const has = (patches: object[], fragment: string) => renderPatches(patches as any).some(p => p.includes(fragment));

describe("Talos machine-config patches", () => {
    it("layers homelab, cluster, role, then node patches, in that order", () => {
        const cluster = labCluster(multiNode);
        const worker = cluster.nodes.find(n => n.name === "w1")!;
        const rendered = renderPatches(layeredPatches(cluster, worker));
        const base = homelabPatches(cluster, worker).length;
        assert.deepStrictEqual(rendered.slice(base), [
            '{"cluster":{"network":{"dnsDomain":"cluster.local"}}}',
            '{"machine":{"sysctls":{"vm.max_map_count":"262144"}}}',
            '{"machine":{"nodeLabels":{"disk":"ssd"}}}',
        ]);
        const cp = cluster.nodes.find(n => n.name === "cp2")!;
        assert.ok(
            !renderPatches(layeredPatches(cluster, cp)).includes('{"machine":{"sysctls":{"vm.max_map_count":"262144"}}}'),
            "a worker patch reaches no control plane",
        );
    });

    it("gives each node its own hostname and install disk, and the pinned installer image", () => {
        const cluster = labCluster(multiNode);
        for (const node of cluster.nodes) {
            const [identity] = homelabPatches(cluster, node);
            assert.deepStrictEqual(identity, {
                machine: { network: { hostname: node.name }, install: { disk: node.installDisk, image: cluster.installerImage } },
            });
        }
    });

    it("a single node schedules workloads and keeps MetalLB announcing from it", () => {
        const cluster = labCluster();
        const patches = homelabPatches(cluster, cluster.nodes[0]);
        assert.ok(has(patches, '"allowSchedulingOnControlPlanes":true'));
        assert.ok(has(patches, '"node.kubernetes.io/exclude-from-external-load-balancers":{"$patch":"delete"}'));
        assert.ok(!has(patches, '"vip"'), "no VIP on a single node");
    });

    it("a multi-node cluster keeps workloads off control planes and puts the VIP on them", () => {
        const cluster = labCluster(multiNode);
        for (const node of cluster.nodes) {
            const patches = homelabPatches(cluster, node);
            assert.ok(!has(patches, "allowSchedulingOnControlPlanes"), node.name);
            assert.strictEqual(has(patches, '"vip":{"ip":"127.0.10.9"}'), node.role === "controlplane", node.name);
        }
    });

    it("puts the VIP on the interface a node's own patches configure statically (a node taken over), else on DHCP", () => {
        const cluster = labCluster(c => {
            multiNode(c);
            c.cluster.nodes[1].patches = [{ machine: { network: { interfaces: [{ interface: "eth0", addresses: ["192.168.2.20/24"] }] } } }];
        });
        const [, first, second] = cluster.nodes;
        assert.ok(has(homelabPatches(cluster, first), '{"interface":"eth0","vip":{"ip":"127.0.10.9"}}'), "merged into eth0 by name");
        assert.ok(has(homelabPatches(cluster, second), '{"deviceSelector":{"physical":true},"dhcp":true,"vip":{"ip":"127.0.10.9"}}'));
    });

    it("MetalLB announces from control planes only while there is no worker", () => {
        assert.deepStrictEqual(metallbValues(labCluster()), { speaker: { ignoreExcludeLB: true } });
        assert.deepStrictEqual(metallbValues(labCluster(multiNode)), { speaker: { ignoreExcludeLB: false } });
    });

    it("exposes etcd, controller-manager and scheduler metrics and etcd backup access on control planes only", () => {
        const cluster = labCluster(multiNode);
        for (const node of cluster.nodes) {
            const patches = homelabPatches(cluster, node);
            const cp = node.role === "controlplane";
            assert.strictEqual(has(patches, '"listen-metrics-urls":"http://0.0.0.0:2381"'), cp, node.name);
            assert.strictEqual(has(patches, '"controllerManager":{"extraArgs":{"bind-address":"0.0.0.0"}}'), cp, node.name);
            assert.strictEqual(has(patches, '"allowedRoles":["os:etcd:backup"]'), cp, node.name);
            assert.ok(has(patches, '"rotate-server-certificates":"true"'), `${node.name} rotates kubelet serving certs`);
        }
    });

    it("rolls control planes first, keeping config order within a role", () => {
        const cluster = labCluster(multiNode);
        assert.deepStrictEqual(
            rolloutOrder(cluster.nodes).map(n => n.name),
            ["cp1", "cp2", "cp3", "w1", "w2"],
        );
    });
});
