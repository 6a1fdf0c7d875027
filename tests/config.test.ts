import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { ConfigError, networkIsolated, parseStackSettings, policyConfig, talosProviderApplyModes } from "../stacks/config";
import { driverConfig } from "../components/platform/values";
import { clone, rawStackConfig, root } from "./stackfiles";

/** The problems a config yields, or [] when it is valid. */
function problems(raw: Record<string, unknown>, stack = "lab"): readonly string[] {
    try {
        parseStackSettings(stack, raw);
        return [];
    } catch (e) {
        if (e instanceof ConfigError) {
            return e.problems;
        }
        throw e;
    }
}

/** Applies `edit` to a copy of the lab stack's config and returns its problems. */
function labWith(edit: (c: any) => void): readonly string[] {
    const raw = clone(rawStackConfig("lab"));
    edit(raw);
    return problems(raw);
}

describe("stack configuration", () => {
    for (const stack of ["lab", "lab-ha", "homelab"]) {
        it(`accepts the committed Pulumi.${stack}.yaml`, () => {
            assert.deepStrictEqual(problems(rawStackConfig(stack), stack), []);
        });
    }

    it("describes the homelab of the owner's notes", () => {
        const s = parseStackSettings("homelab", rawStackConfig("homelab"));
        assert.deepStrictEqual(
            s.cluster.nodes.map(n => [n.name, n.address, n.role]),
            [["sever-it01", "192.168.2.20", "controlplane"]],
        );
        assert.strictEqual(s.cluster.talosVersion, "v1.11.5");
        assert.strictEqual(s.cluster.kubernetesVersion, "v1.34.1");
        assert.strictEqual(s.nas.host, "192.168.2.30");
        assert.strictEqual(s.nas.pool, "default");
        assert.strictEqual(s.nas.zfsPath, "/usr/sbin/zfs");
        assert.deepStrictEqual(s.network.metallbAddresses, ["192.168.2.100-192.168.2.110"]);
        assert.ok(s.nas.datasets.some(d => d.name === "default/k8s-pv/iscsi"));
        assert.ok(s.nas.datasets.some(d => d.name === "default/smb-share"));
        assert.ok(!s.nas.datasets.some(d => d.name === "default/k8s-pv/talos-iscsi-share"), "the old zvol is never managed");
    });

    it("gives the lab the homelab's shape on loopback only", () => {
        const lab = parseStackSettings("lab", rawStackConfig("lab"));
        const home = parseStackSettings("homelab", rawStackConfig("homelab"));
        assert.deepStrictEqual(Object.keys(lab).sort(), Object.keys(home).sort());
        assert.deepStrictEqual(
            lab.nas.datasets.map(d => d.name),
            home.nas.datasets.map(d => d.name),
        );
        const addresses = [lab.nas.host, ...lab.cluster.nodes.map(n => n.address), lab.network.ingressAddress];
        assert.ok(
            addresses.every(a => a.startsWith("127.")),
            addresses.join(", "),
        );
    });

    it("gives lab-ha the multi-node shape: three control planes behind a VIP and a worker, beside lab", () => {
        const ha = parseStackSettings("lab-ha", rawStackConfig("lab-ha"));
        const lab = parseStackSettings("lab", rawStackConfig("lab"));
        assert.deepStrictEqual(
            ha.cluster.nodes.map(n => [n.name, n.address, n.role, n.metricsAddress]),
            [
                ["lab-ha-cp1", "127.0.20.11", "controlplane", "192.0.2.11"],
                ["lab-ha-cp2", "127.0.20.12", "controlplane", "192.0.2.12"],
                ["lab-ha-cp3", "127.0.20.13", "controlplane", "192.0.2.13"],
                ["lab-ha-w1", "127.0.20.21", "worker", undefined],
            ],
        );
        assert.strictEqual(ha.cluster.name, "lab-ha");
        assert.strictEqual(ha.cluster.vip, "127.0.20.10");
        assert.strictEqual(ha.cluster.endpoint, "https://127.0.20.10:6443");
        assert.deepStrictEqual(ha.network.metallbAddresses, ["127.0.20.100-127.0.20.110"]);
        assert.strictEqual(ha.network.ingressAddress, "127.0.20.100");
        // Its datasets are lab's, moved under default/lab-ha on the same pool (as rollout's lab2).
        assert.deepStrictEqual(
            ha.nas.datasets.map(d => d.name),
            ["default/lab-ha", ...lab.nas.datasets.map(d => d.name.replace(/^default\//, "default/lab-ha/"))],
        );
        assert.strictEqual(ha.nas.etcdBackups?.dataset, "default/lab-ha/etcd-backups");
    });

    // Each message is part of the interface: exact text, naming key and stack file.
    const cases: [string, (c: any) => void, string][] = [
        [
            "a workload namespace the platform owns",
            c => {
                c.platform.argocd.namespaces = ["apps", "monitoring"];
            },
            'homelab:platform.argocd.namespaces[1]: "monitoring" belongs to the platform or to Kubernetes, not to the workloads (Pulumi.lab.yaml)',
        ],
        [
            "a workload namespace that is not a name",
            c => {
                c.platform.argocd.namespaces = ["Apps"];
            },
            "homelab:platform.argocd.namespaces[0]: is not a namespace name (RFC 1123 label) (Pulumi.lab.yaml)",
        ],
        [
            "a node address that is not an IP",
            c => {
                c.cluster.nodes[0].address = "127.0.10.300";
            },
            'homelab:cluster.nodes[0].address: "127.0.10.300" is not an IPv4 address (Pulumi.lab.yaml)',
        ],
        [
            "a dataset name with a space",
            c => {
                c.nas.datasets[2].name = "default/a b";
            },
            'homelab:nas.datasets[2].name: "default/a b" contains a space (Pulumi.lab.yaml)',
        ],
        [
            "a MetalLB range that ends before it starts",
            c => {
                c.network.metallbAddresses = ["127.0.10.110-127.0.10.100"];
            },
            'homelab:network.metallbAddresses[0]: range "127.0.10.110-127.0.10.100" ends (127.0.10.100) before it starts (127.0.10.110) (Pulumi.lab.yaml)',
        ],
        [
            "a Talos version that is not a version",
            c => {
                c.cluster.talosVersion = "latest";
            },
            "homelab:cluster.talosVersion: is not a pinned Talos version such as v1.11.5 (Pulumi.lab.yaml)",
        ],
        [
            "a Kubernetes version range",
            c => {
                c.cluster.kubernetesVersion = "1.34";
            },
            "homelab:cluster.kubernetesVersion: is not a pinned Kubernetes version such as v1.11.5 (Pulumi.lab.yaml)",
        ],
        [
            "an unpinned chart",
            c => {
                c.platform.charts.traefik.version = "^37.0.0";
            },
            "homelab:platform.charts.traefik.version: is not a pinned chart version (an exact version such as 1.2.3; no ranges) (Pulumi.lab.yaml)",
        ],
        [
            "a duplicate node name",
            c => {
                c.cluster.nodes.push({ ...c.cluster.nodes[0], address: "127.0.10.5", role: "worker" });
            },
            'homelab:cluster.nodes[1].name: "lab-cp1" is already the name of nodes[0] (Pulumi.lab.yaml)',
        ],
        [
            "a duplicate node address",
            c => {
                c.cluster.nodes.push({ ...c.cluster.nodes[0], name: "lab-w1", role: "worker" });
            },
            "homelab:cluster.nodes[1].address: 127.0.10.2 is already the address of nodes[0] (Pulumi.lab.yaml)",
        ],
        [
            "an even number of control planes",
            c => {
                c.cluster.vip = "127.0.10.9";
                c.cluster.endpoint = "https://127.0.10.9:6443";
                c.cluster.nodes.push({ ...c.cluster.nodes[0], name: "lab-cp2", address: "127.0.10.5" });
            },
            "homelab:cluster.nodes: has 2 control planes; etcd needs an odd number (1, 3, 5) to keep quorum (Pulumi.lab.yaml)",
        ],
        [
            "a VIP inside the MetalLB pool",
            c => {
                c.cluster.vip = "127.0.10.101";
                c.cluster.endpoint = "https://127.0.10.101:6443";
            },
            "homelab:cluster.vip: 127.0.10.101 is inside the MetalLB range 127.0.10.100-127.0.10.110 (Pulumi.lab.yaml)",
        ],
        [
            "an ingress address outside the pool",
            c => {
                c.network.ingressAddress = "127.0.10.50";
            },
            "homelab:network.ingressAddress: 127.0.10.50 is outside every MetalLB range (127.0.10.100-127.0.10.110) (Pulumi.lab.yaml)",
        ],
        [
            "a child dataset listed before its parent",
            c => {
                c.nas.datasets.unshift({ name: "default/apps/db" }, { name: "default/apps" });
            },
            'homelab:nas.datasets[0].name: parent "default/apps" must be listed before "default/apps/db" (Pulumi.lab.yaml)',
        ],
        [
            "a dataset outside the pool",
            c => {
                c.nas.datasets.push({ name: "tank/x" });
            },
            'homelab:nas.datasets[6].name: "tank/x" is not inside pool "default" (Pulumi.lab.yaml)',
        ],
        [
            "a quota that is not a size",
            c => {
                c.nas.datasets[0].properties = { quota: "lots" };
            },
            'homelab:nas.datasets[0].properties.quota: "lots" is not valid: expected none or a size such as 50G (Pulumi.lab.yaml)',
        ],
        [
            "a property value that could break out of a shell",
            c => {
                c.nas.datasets[0].properties = { "org.homelab:note": "x;reboot" };
            },
            'homelab:nas.datasets[0].properties.org.homelab:note: "x;reboot" has a character outside letters, digits and _ . : / , = @ + - (Pulumi.lab.yaml)',
        ],
        [
            "a dataset name with a shell character",
            c => {
                c.nas.datasets[0].name = "default/$(reboot)";
            },
            'homelab:nas.datasets[0].name: "default/$(reboot)" has the component "$(reboot)" with a character ZFS does not allow (letters, digits, _ - . : only) (Pulumi.lab.yaml)',
        ],
        [
            "nested CSI parents",
            c => {
                c.nas.csi.nfs.snapshots = "default/k8s-pv/iscsi/snaps";
                c.nas.datasets.push({ name: "default/k8s-pv/iscsi/snaps" });
            },
            'homelab:nas.csi.nfs.snapshots: "default/k8s-pv/iscsi/snaps" is nested inside csi.iscsi.parent "default/k8s-pv/iscsi"; democratic-csi needs separate trees (Pulumi.lab.yaml)',
        ],
        [
            "an etcd backup dataset that is not listed",
            c => {
                c.nas.etcdBackups.dataset = "default/backups";
            },
            'homelab:nas.etcdBackups.dataset: "default/backups" is not one of nas.datasets (Pulumi.lab.yaml)',
        ],
        [
            "an etcd backup dataset inside a democratic-csi tree",
            c => {
                c.nas.etcdBackups.dataset = "default/smb-share";
            },
            'homelab:nas.etcdBackups.dataset: "default/smb-share" is inside csi.nfs.parent "default/smb-share", which democratic-csi manages (Pulumi.lab.yaml)',
        ],
        [
            "a retention that keeps no daily snapshot",
            c => {
                c.nas.etcdBackups.retention = { daily: 0 };
            },
            "homelab:nas.etcdBackups.retention.daily: Number must be greater than or equal to 1 (Pulumi.lab.yaml)",
        ],
        [
            "an RSA host key pin, which the command provider cannot negotiate with OpenSSH 8.8+",
            c => {
                c.nas.hostKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7";
            },
            "homelab:nas.hostKey: is an RSA key: the command provider offers only the ssh-rsa (SHA-1) signature for it, which OpenSSH 8.8 and later " +
                "(TrueNAS SCALE's included) refuse; pin the NAS's ed25519 key (ssh-keyscan -t ed25519 <host>) (Pulumi.lab.yaml)",
        ],
        [
            "a host key whose base64 is not a key of the named type",
            c => {
                c.nas.hostKey = "ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIPinTheRealHostKeyOfTheTrueNASBoxHere0000000";
            },
            'homelab:nas.hostKey: is not a ecdsa-sha2-nistp256 key: its base64 holds a "ssh-ed25519" key (Pulumi.lab.yaml)',
        ],
        [
            "a host key blob cut short",
            c => {
                c.nas.hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinTheRealHostKeyOf";
            },
            "homelab:nas.hostKey: is not a well-formed ssh-ed25519 key blob (Pulumi.lab.yaml)",
        ],
        [
            "a host key that is not base64",
            c => {
                c.nas.hostKey = "ssh-ed25519 AAAA$$";
            },
            "homelab:nas.hostKey: is not valid base64 (Pulumi.lab.yaml)",
        ],
        [
            "a host key without its type",
            c => {
                c.nas.hostKey = "AAAAC3NzaC1lZDI1NTE5AAAAIPinTheRealHostKeyOfTheTrueNASBoxHere0000000";
            },
            'homelab:nas.hostKey: is not `<type> <base64>` such as "ssh-ed25519 AAAA..." (ssh-keyscan -t ed25519 <host> prints it) (Pulumi.lab.yaml)',
        ],
        [
            "an unknown key",
            c => {
                c.nas.hostkey = c.nas.hostKey;
            },
            'homelab:nas: unknown key(s) "hostkey" (Pulumi.lab.yaml)',
        ],
        [
            "a missing structured key",
            c => {
                delete c.network;
            },
            "homelab:network: is missing (Pulumi.lab.yaml)",
        ],
        [
            "an unknown apply mode",
            c => {
                c.cluster.applyMode = "yolo";
            },
            'homelab:cluster.applyMode: "yolo" is not one of auto, reboot, no_reboot, staged (Pulumi.lab.yaml)',
        ],
        [
            "Talos's staged_if_needing_reboot, which the pinned provider refuses",
            c => {
                c.cluster.applyMode = "staged_if_needing_reboot";
            },
            'homelab:cluster.applyMode: "staged_if_needing_reboot" is not one of auto, reboot, no_reboot, staged (Pulumi.lab.yaml)',
        ],
        [
            "a MetalLB range outside the nodes' subnet",
            c => {
                c.network.metallbAddresses = ["127.0.10.100-127.0.10.110", "127.0.11.1-127.0.11.5"];
            },
            'homelab:network.metallbAddresses[1]: range "127.0.11.1-127.0.11.5" is outside the first node\'s /24 127.0.10.0/24 ' +
                "(set homelab:network.subnet if the nodes' subnet differs) (Pulumi.lab.yaml)",
        ],
        [
            "a MetalLB range that leaves the configured subnet",
            c => {
                c.network.subnet = "127.0.10.0/26";
            },
            'homelab:network.metallbAddresses[0]: range "127.0.10.100-127.0.10.110" is outside the nodes\' subnet 127.0.10.0/26 (Pulumi.lab.yaml)',
        ],
        [
            "a node outside the configured subnet",
            c => {
                c.network.subnet = "127.0.10.64/26";
            },
            "homelab:cluster.nodes[0].address: 127.0.10.2 is outside the nodes' subnet 127.0.10.64/26 (Pulumi.lab.yaml)",
        ],
        [
            "a subnet with host bits set",
            c => {
                c.network.subnet = "127.0.10.1/24";
            },
            'homelab:network.subnet: "127.0.10.1/24" has host bits set: the subnet is 127.0.10.0/24 (Pulumi.lab.yaml)',
        ],
        [
            "two overlapping MetalLB ranges",
            c => {
                c.network.metallbAddresses = ["127.0.10.100-127.0.10.110", "127.0.10.105-127.0.10.120"];
            },
            'homelab:network.metallbAddresses[1]: range "127.0.10.105-127.0.10.120" overlaps range "127.0.10.100-127.0.10.110" (Pulumi.lab.yaml)',
        ],
        [
            "the same MetalLB address twice",
            c => {
                c.network.metallbAddresses = ["127.0.10.100-127.0.10.110", "127.0.10.110"];
            },
            'homelab:network.metallbAddresses[1]: range "127.0.10.110" overlaps range "127.0.10.100-127.0.10.110" (Pulumi.lab.yaml)',
        ],
        [
            "a Kubernetes newer than the Talos release supports",
            c => {
                c.cluster.kubernetesVersion = "v1.35.0";
            },
            "homelab:cluster.kubernetesVersion: v1.35.0 is too new for Talos v1.11.5, which supports Kubernetes 1.29.0 to 1.34.x (Pulumi.lab.yaml)",
        ],
        [
            "a Kubernetes older than the Talos release supports",
            c => {
                c.cluster.kubernetesVersion = "v1.28.15";
            },
            "homelab:cluster.kubernetesVersion: v1.28.15 is too old for Talos v1.11.5, which supports Kubernetes 1.29.0 to 1.34.x (Pulumi.lab.yaml)",
        ],
        [
            "a Talos release whose Kubernetes support is not known",
            c => {
                c.cluster.talosVersion = "v1.13.0";
            },
            "homelab:cluster.kubernetesVersion: Talos v1.13.0 has no known Kubernetes support range (known: Talos 1.9, 1.10, 1.11, 1.12; " +
                "add it to stacks/rules.ts from Talos's pkg/machinery/compatibility) (Pulumi.lab.yaml)",
        ],
        [
            "an endpoint port above 65535",
            c => {
                c.cluster.endpoint = "https://127.0.10.2:70000";
            },
            "homelab:cluster.endpoint: port 70000 is not a TCP port (1-65535) (Pulumi.lab.yaml)",
        ],
        [
            "an SMTP port above 65535",
            c => {
                c.platform.alerting = { receiver: "email", email: { to: "a@b.example", from: "c@d.example", smarthost: "smtp.example:65536" } };
            },
            "homelab:platform.alerting.email.smarthost: port 65536 is not a TCP port (1-65535) (Pulumi.lab.yaml)",
        ],
        [
            "a backup schedule with an hour out of range",
            c => {
                c.nas.etcdBackups.schedule = "0 24 * * *";
            },
            'homelab:nas.etcdBackups.schedule: has hour "24": 24 is out of range 0-23 (Pulumi.lab.yaml)',
        ],
        [
            "a backup schedule with day of week 7 (Kubernetes' cron parser takes 0-6)",
            c => {
                c.nas.etcdBackups.schedule = "0 3 * * 1-7";
            },
            'homelab:nas.etcdBackups.schedule: has day of week "1-7": 7 is out of range 0-6 (Pulumi.lab.yaml)',
        ],
        [
            "a backup schedule with a zero step",
            c => {
                c.nas.etcdBackups.schedule = "*/0 3 * * *";
            },
            'homelab:nas.etcdBackups.schedule: has minute "*/0" with a step of 0 (Pulumi.lab.yaml)',
        ],
        [
            "a backup schedule with a month name that is not one",
            c => {
                c.nas.etcdBackups.schedule = "0 3 1 foo *";
            },
            'homelab:nas.etcdBackups.schedule: has month "foo", which is not *, a value, a range a-b or a step */n (Pulumi.lab.yaml)',
        ],
        [
            "a backup schedule of four fields",
            c => {
                c.nas.etcdBackups.schedule = "0 3 * *";
            },
            'homelab:nas.etcdBackups.schedule: is not a cron schedule of five fields such as "0 3 * * *" (Pulumi.lab.yaml)',
        ],
    ];
    for (const [what, edit, message] of cases) {
        it(`rejects ${what}, naming the key`, () => {
            assert.deepStrictEqual(labWith(edit), [message]);
        });
    }

    it("accepts the schedules, versions and ranges the rules must not refuse", () => {
        for (const schedule of ["0 3 * * *", "*/15 0-23/2 1,15 jan-jun SUN-SAT", "30 2 ? * mon", "0 0 31 12 6", "5/10 * * * *"]) {
            assert.deepStrictEqual(
                labWith(c => {
                    c.nas.etcdBackups.schedule = schedule;
                }),
                [],
                schedule,
            );
        }
        for (const [talos, kubernetes] of [
            ["v1.11.5", "v1.29.0"],
            ["v1.11.5", "v1.34.99"],
            ["v1.12.0", "v1.35.0"],
        ]) {
            assert.deepStrictEqual(
                labWith(c => {
                    c.cluster.talosVersion = talos;
                    c.cluster.kubernetesVersion = kubernetes;
                }),
                [],
                `${talos} with ${kubernetes}`,
            );
        }
        assert.deepStrictEqual(
            labWith(c => {
                c.network.metallbAddresses = ["127.0.10.100-127.0.10.104", "127.0.10.105-127.0.10.110"];
                c.cluster.endpoint = "https://127.0.10.2:65535";
            }),
            [],
            "adjacent ranges and the highest port",
        );
    });

    it("accepts exactly the apply modes of the pinned Talos provider", () => {
        // terraform-provider-talos v0.7.1 (commit eac63001b89a0c9a2c442c0a72ff498f2f6f19c5),
        // pkg/talos/talos_machine_configuration_apply_resource.go: apply_mode is
        // stringvalidator.OneOf("auto", "reboot", "no_reboot", "staged"). A new pin must re-read it.
        const versions = fs.readFileSync(path.join(root, "toolchain/versions.env"), "utf8");
        assert.match(versions, /^TALOS_TERRAFORM_MODULE=github\.com\/siderolabs\/terraform-provider-talos@v0\.7\.1$/m);
        for (const mode of ["auto", "reboot", "no_reboot", "staged"]) {
            assert.deepStrictEqual(
                labWith(c => {
                    c.cluster.applyMode = mode;
                }),
                [],
                mode,
            );
        }
        assert.deepStrictEqual([...talosProviderApplyModes].sort(), ["auto", "no_reboot", "reboot", "staged"]);
    });

    it("reports every problem at once, not only the first", () => {
        const found = labWith(c => {
            c.cluster.talosVersion = "x";
            c.nas.port = 0;
        });
        assert.strictEqual(found.length, 2, found.join("\n"));
    });
});

describe("network isolation and policy settings, from the stack file (fail closed)", () => {
    const doc = (text: string) => yaml.load(text);
    const file = (value: string) => doc(`config:\n  homelab:isolateNetwork: ${value}\n`);

    it("isolates on anything but an explicit false", () => {
        for (const value of ["true", "true # on the LAN only", "True", "TRUE", '"true"', "yes", "1", "off", '""']) {
            assert.strictEqual(networkIsolated(file(value)), true, value);
        }
        assert.strictEqual(networkIsolated(doc("config:\n  homelab:other: 1\n")), true, "a missing key");
        assert.strictEqual(networkIsolated(undefined), true, "a missing file");
        for (const value of ["false", "False", '"false"', "false # the lab"]) {
            assert.strictEqual(networkIsolated(file(value)), false, value);
        }
    });
});

describe("the wrappers' stack guard @tools", () => {
    it("isolates every stack whose file does not say false, through the shell function the wrappers call", () => {
        // A stack file of its own in the repository, as the wrappers find them.
        const file = path.join(root, "Pulumi.guard-test.yaml");
        const isolated = () =>
            execFileSync(
                "bash",
                [
                    "-c",
                    "source toolchain/env.sh && source toolchain/isolation.sh && if stack_is_isolated guard-test; then echo isolated; else echo open; fi",
                ],
                { cwd: root, encoding: "utf8", env: { ...process.env, HOMELAB_ALLOW_NETWORK: "" } },
            ).trim();
        try {
            for (const [value, expected] of [
                ["true # on the LAN only", "isolated"],
                ["True", "isolated"],
                ['"true"', "isolated"],
                ["false", "open"],
            ]) {
                fs.writeFileSync(file, `config:\n  homelab:isolateNetwork: ${value}\n`);
                assert.strictEqual(isolated(), expected, value);
            }
            fs.writeFileSync(file, "config: {}\n");
            assert.strictEqual(isolated(), "isolated", "no key");
        } finally {
            fs.rmSync(file, { force: true });
        }
    });
});

describe("policy settings from the stack's config", () => {
    it("allowDestroy on a dataset is what the datasets-protected policy is told", () => {
        const raw = clone(rawStackConfig("lab")) as any;
        raw.nas.datasets.push({ name: "default/scratch", allowDestroy: true });
        assert.deepStrictEqual(policyConfig(parseStackSettings("lab", raw)), { "datasets-protected": { destroyableDatasets: ["default/scratch"] } });
    });
});

describe("assumptions in Pulumi.homelab.yaml are flagged", () => {
    const text = fs.readFileSync(path.join(root, "Pulumi.homelab.yaml"), "utf8").split("\n");

    /** The line of a key path (each key below the previous one, by indentation), and whether it or
     * the comment block right above it says CHECK. */
    function flagged(keys: readonly string[]): boolean {
        let at = -1;
        let indent = -1;
        for (const key of ["config", ...keys]) {
            // Only the direct children of the line found last: the first key line below it sets
            // their indentation, and the block ends at a line indented no deeper than it.
            let childIndent: number | undefined;
            let found = -1;
            for (let i = at + 1; i < text.length && found < 0; i++) {
                const m = /^(\s*)(- )?([\w:.-]+):/.exec(text[i]);
                if (m === null) continue;
                if (m[1].length <= indent) break;
                childIndent ??= m[1].length;
                if (m[1].length === childIndent && m[3] === key) found = i;
            }
            assert.ok(found >= 0, `no key ${keys.join(".")} in Pulumi.homelab.yaml`);
            indent = childIndent!;
            at = found;
        }
        const lines = [text[at]];
        for (let i = at - 1; i >= 0 && /^\s*#/.test(text[i]); i--) lines.push(text[i]);
        return lines.some(l => l.includes("#") && /\bCHECK\b/.test(l.slice(l.indexOf("#"))));
    }

    const assumptions: string[][] = [
        ["homelab:cluster", "name"],
        ["homelab:network", "subnet"],
        ["homelab:network", "ingressAddress"],
        ["homelab:platform", "argocd", "targetRevision"],
        ...["csiDriverName", "defaultClass", "reclaimPolicy", "namePrefix", "nameSuffix", "targetGroups", "extent"].map(k => [
            "homelab:platform",
            "democraticCsi",
            "iscsi",
            k,
        ]),
        ...["csiDriverName", "defaultClass", "reclaimPolicy", "share"].map(k => ["homelab:platform", "democraticCsi", "nfs", k]),
    ];
    for (const keys of assumptions) {
        it(`${keys.join(".")} is marked CHECK`, () => assert.ok(flagged(keys)));
    }

    it("an unmarked key is seen as unmarked (the check can fail)", () => {
        assert.strictEqual(flagged(["homelab:cluster", "talosVersion"]), false);
    });

    it("today's democratic-csi settings, written out, render the driver configs the defaults did", () => {
        const home = parseStackSettings("homelab", rawStackConfig("homelab"));
        const bare = clone(rawStackConfig("homelab")) as any;
        bare.platform.democraticCsi = { image: bare.platform.democraticCsi.image };
        const defaults = parseStackSettings("homelab", bare);
        const render = (s: typeof home, protocol: "iscsi" | "nfs") =>
            driverConfig({
                protocol,
                nasHost: s.nas.host,
                nasPort: s.nas.port,
                nasUser: s.nas.user,
                sudo: s.nas.sudo,
                zfsPath: s.nas.zfsPath,
                datasetParent: "p",
                snapshotParent: "s",
                privateKey: "k",
                apiKey: "a",
                iscsi: s.platform.democraticCsi.iscsi,
                nfs: s.platform.democraticCsi.nfs,
            });
        for (const protocol of ["iscsi", "nfs"] as const) {
            assert.deepStrictEqual(render(home, protocol), render(defaults, protocol), protocol);
        }
        assert.deepStrictEqual((render(home, "iscsi") as any).iscsi.targetGroups, [
            { targetGroupPortalGroup: 1, targetGroupInitiatorGroup: 1, targetGroupAuthType: "None" },
        ]);
        const changed = clone(rawStackConfig("homelab")) as any;
        changed.platform.democraticCsi.iscsi.namePrefix = "pv-";
        changed.platform.democraticCsi.nfs.share.allowedNetworks = ["192.168.2.0/24"];
        const s = parseStackSettings("homelab", changed);
        assert.strictEqual((render(s, "iscsi") as any).iscsi.namePrefix, "pv-");
        assert.deepStrictEqual((render(s, "nfs") as any).nfs.shareAllowedNetworks, ["192.168.2.0/24"]);
    });

    it("refuses a bad democratic-csi setting, naming the key", () => {
        assert.deepStrictEqual(
            labWith(c => {
                c.platform.democraticCsi.iscsi = { extent: { blocksize: 1000 } };
            }),
            ["homelab:platform.democraticCsi.iscsi.extent.blocksize: is not 512, 1024, 2048 or 4096 (Pulumi.lab.yaml)"],
        );
    });
});
