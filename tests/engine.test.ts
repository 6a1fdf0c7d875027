// @engine: the real Pulumi CLI, language host and provider plugins, as set-up built them.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { root } from "./stackfiles";

function readVersions(): Record<string, string> {
    const text = fs.readFileSync(path.join(root, "toolchain/versions.env"), "utf8");
    return Object.fromEntries(
        text
            .split("\n")
            .filter(l => /^[A-Z_]+=/.test(l))
            .map(l => l.split("=", 2) as [string, string]),
    );
}

interface Run {
    status: number;
    stdout: string;
    stderr: string;
}

function npmRun(script: string, args: string[], timeout = 300_000): Run {
    const r = spawnSync("npm", ["run", "--silent", script, "--", ...args], { cwd: root, encoding: "utf8", timeout });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface PreviewStep {
    op: string;
    urn: string;
    newState?: { type: string; inputs: Record<string, any>; dependencies?: string[] };
}

const nameOf = (urn: string) => urn.split("::").pop()!;

/**
 * The intended graph: what each resource waits for (providers aside). Independent pieces have no
 * edge between them, so Pulumi installs them in parallel.
 */
const intendedGraph: Record<string, string[]> = {
    "homelab-secrets": [],
    "homelab-sever-it01-config": ["homelab-secrets"],
    "homelab-sever-it01-upgrade": ["homelab-sever-it01-config"],
    "homelab-bootstrap": ["homelab-secrets", "homelab-sever-it01-config"],
    "homelab-kubeconfig": ["homelab-bootstrap", "homelab-secrets"],
    "nas-default/etcd-backups": ["nas-default/etcd-backups-drift"],
    "nas-default/k8s-pv": ["nas-default/k8s-pv-drift"],
    "nas-default/k8s-pv/iscsi": ["nas-default/k8s-pv", "nas-default/k8s-pv/iscsi-drift"],
    "nas-default/k8s-pv/iscsi-snapshots": ["nas-default/k8s-pv", "nas-default/k8s-pv/iscsi-snapshots-drift"],
    "nas-default/k8s-pv/nfs-snapshots": ["nas-default/k8s-pv", "nas-default/k8s-pv/nfs-snapshots-drift"],
    "nas-default/smb-share": ["nas-default/smb-share-drift"],
    "platform-kubelet-csr-approver": ["platform-ns-kubelet-csr-approver"],
    "platform-metallb": ["platform-ns-metallb-system"],
    "platform-metallb-pool": ["platform-metallb", "platform-ns-metallb-system"],
    "platform-metallb-l2": ["platform-metallb", "platform-metallb-pool", "platform-ns-metallb-system"],
    "platform-traefik": ["platform-metallb-l2", "platform-metallb-pool", "platform-ns-traefik"],
    "platform-cert-manager": ["platform-kube-prometheus-stack", "platform-ns-cert-manager"],
    "platform-cloudflare-token": ["platform-ns-cert-manager"],
    "platform-issuer-staging": ["platform-cert-manager", "platform-cloudflare-token"],
    "platform-issuer-production": ["platform-cert-manager", "platform-cloudflare-token"],
    "platform-csi-iscsi-config": ["nas-default/k8s-pv/iscsi", "nas-default/k8s-pv/iscsi-snapshots", "platform-ns-democratic-csi"],
    "platform-csi-nfs-config": ["nas-default/k8s-pv/nfs-snapshots", "nas-default/smb-share", "platform-ns-democratic-csi"],
    "platform-democratic-csi-iscsi": ["platform-csi-iscsi-config", "platform-ns-democratic-csi"],
    "platform-democratic-csi-nfs": ["platform-csi-nfs-config", "platform-ns-democratic-csi"],
    "platform-grafana-admin-secret": ["platform-grafana-admin", "platform-ns-monitoring"],
    "platform-alertmanager-receiver": ["platform-ns-monitoring"],
    "platform-kube-prometheus-stack": [
        "platform-alertmanager-receiver",
        "platform-democratic-csi-iscsi",
        "platform-grafana-admin-secret",
        "platform-ns-monitoring",
    ],
    "platform-argocd-admin-mtime": ["platform-argocd-admin"],
    "platform-argo-cd": ["platform-argocd-admin", "platform-argocd-admin-mtime", "platform-ns-argocd"],
    "platform-argocd-repo": ["platform-ns-argocd"],
    "platform-argocd-workloads": ["platform-argo-cd", "platform-ns-argocd"],
    "platform-argocd-apps-of-apps": ["platform-argo-cd", "platform-ns-argocd"],
    "platform-argocd-default": ["platform-argo-cd", "platform-ns-argocd"],
    "platform-argocd-root": ["platform-argo-cd", "platform-argocd-apps-of-apps", "platform-argocd-default", "platform-ns-argocd"],
    "platform-dashboard-homelab-etcd": ["platform-ns-monitoring"],
    // The backup job waits for its dataset; its pod needs the Talos account, the key and the script.
    "etcd-backup-talos-account": [],
    "etcd-backup-nas-ssh": [],
    "etcd-backup-script": [],
    "etcd-backup-cronjob": ["etcd-backup-nas-ssh", "etcd-backup-script", "etcd-backup-talos-account", "nas-default/etcd-backups"],
};

function previewJSON(stack: string, extra: string[] = []): { run: Run; steps: PreviewStep[] } {
    const run = npmRun("preview", [stack, ...extra, "--json"]);
    const start = run.stdout.indexOf("{");
    const steps = start >= 0 && run.status === 0 ? ((JSON.parse(run.stdout.slice(start)).steps ?? []) as PreviewStep[]) : [];
    return { run, steps };
}

describe("the engine @engine", function () {
    this.timeout(600_000);
    const versions = readVersions();

    it("runs the pinned CLI", () => {
        const r = npmRun("pulumi", ["version"]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), `v${versions.PULUMI_VERSION}`);
    });

    it("has the four provider plugins at the pinned versions", () => {
        const r = npmRun("pulumi", ["plugin", "ls", "--json"]);
        assert.strictEqual(r.status, 0, r.stderr);
        const plugins = (JSON.parse(r.stdout) as { name: string; kind: string; version: string }[])
            .filter(p => p.kind === "resource")
            .map(p => `${p.name}@${p.version}`)
            .sort();
        assert.deepStrictEqual(plugins, [
            `command@${versions.COMMAND_PROVIDER_VERSION}`,
            `kubernetes@${versions.KUBERNETES_PROVIDER_VERSION}`,
            `random@${versions.RANDOM_PROVIDER_VERSION}`,
            `talos@${versions.TALOS_PROVIDER_VERSION}`,
        ]);
    });

    describe("secret-less preview of the homelab stack", () => {
        let steps: PreviewStep[] = [];
        let run: Run;
        before(() => ({ run, steps } = previewJSON("homelab")));

        it("exits 0 inside a network namespace with no route out", () => {
            assert.strictEqual(run.status, 0, run.stderr + run.stdout.slice(-3000));
        });

        it("plans the Talos resources for sever-it01 at 192.168.2.20", () => {
            const byType = (t: string) => steps.filter(s => s.newState?.type === t);
            assert.strictEqual(byType("talos:machine/secrets:Secrets").length, 1);
            const applies = byType("talos:machine/configurationApply:ConfigurationApply");
            assert.deepStrictEqual(
                applies.map(a => [a.urn.split("::").pop(), a.newState!.inputs.node]),
                [["homelab-sever-it01-config", "192.168.2.20"]],
            );
            assert.deepStrictEqual(
                byType("talos:machine/bootstrap:Bootstrap").map(b => b.newState!.inputs.node),
                ["192.168.2.20"],
            );
            assert.strictEqual(byType("talos:cluster/kubeconfig:Kubeconfig").length, 1);
        });

        it("plans every dataset of the owner's notes and every platform release against upstream repositories", () => {
            const datasets = steps
                .filter(s => s.newState?.type === "command:remote:Command")
                .map(s => s.urn.split("::").pop())
                .sort();
            assert.deepStrictEqual(datasets, [
                "nas-default/etcd-backups",
                "nas-default/k8s-pv",
                "nas-default/k8s-pv/iscsi",
                "nas-default/k8s-pv/iscsi-snapshots",
                "nas-default/k8s-pv/nfs-snapshots",
                "nas-default/smb-share",
            ]);
            const releases = steps.filter(s => s.newState?.type === "kubernetes:helm.sh/v3:Release");
            assert.strictEqual(releases.length, 8);
            for (const r of releases) {
                assert.match(String(r.newState!.inputs.repositoryOpts?.repo), /^https:\/\//, r.urn);
            }
        });

        it("depends on exactly what each piece needs, and nothing more", () => {
            const graph: Record<string, string[]> = {};
            for (const step of steps) {
                const name = nameOf(step.urn);
                if (name in intendedGraph) {
                    graph[name] = [...new Set((step.newState?.dependencies ?? []).map(nameOf))].sort();
                }
            }
            assert.deepStrictEqual(graph, intendedGraph);
        });

        it("never touches the real stack's state", () => {
            assert.ok(!fs.existsSync(path.join(root, ".pulumi-state", ".pulumi", "stacks", "homelab", "homelab.json")));
        });
    });

    describe("a malformed stack file fails before any resource is registered, naming the key", () => {
        const cases: [string, (c: any) => void, string][] = [
            [
                "a node address that is not an IP",
                c => {
                    c.config["homelab:cluster"].nodes[0].address = "not-an-ip";
                },
                'homelab:cluster.nodes[0].address: "not-an-ip" is not an IPv4 address (Pulumi.lab.yaml)',
            ],
            [
                "a dataset name with a space",
                c => {
                    c.config["homelab:nas"].datasets[1].name = "default/k8s pv";
                },
                'homelab:nas.datasets[1].name: "default/k8s pv" contains a space (Pulumi.lab.yaml)',
            ],
            [
                "a MetalLB range whose end is before its start",
                c => {
                    c.config["homelab:network"].metallbAddresses = ["127.0.10.110-127.0.10.100"];
                },
                'homelab:network.metallbAddresses[0]: range "127.0.10.110-127.0.10.100" ends (127.0.10.100) before it starts (127.0.10.110) (Pulumi.lab.yaml)',
            ],
        ];
        for (const [what, edit, message] of cases) {
            it(what, () => {
                const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.lab.yaml"), "utf8")) as any;
                edit(doc);
                const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bad-lab-")), "Pulumi.lab.yaml");
                fs.writeFileSync(file, yaml.dump(doc));
                const run = npmRun("preview", ["lab", "--stack-file", file]);
                fs.rmSync(path.dirname(file), { recursive: true });
                assert.notStrictEqual(run.status, 0);
                assert.ok(run.stdout.includes(message), run.stdout.slice(-2000));
                // Only the stack itself was planned: the error came before any resource.
                assert.match(run.stdout, /Resources:\s*\n\s*\+ 1 to create/);
            });
        }
    });
});
