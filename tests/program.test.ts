import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { parseStackSettings, StackConfig, StackSecrets } from "../stacks/config";
import type { Homelab } from "../stacks/homelab";
import { isSecret, isSecretInput, plain, plaintextOccurrences, recordProgram, Recording, valueOf } from "./mocks";
import { clone, rawStackConfig } from "./stackfiles";

const standIns: Record<keyof StackSecrets, string> = {
    nasSshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----stand-in-ssh-key",
    truenasApiKey: "stand-in-truenas-api-key",
    cloudflareApiToken: "stand-in-cloudflare-token",
    gitToken: "stand-in-git-token",
    alertingSecret: "https://discord.com/api/webhooks/stand-in",
    talosSecrets: "stand-in-talos-secrets",
};

function stackConfig(edit: (c: any) => void = () => undefined): StackConfig {
    const raw = clone(rawStackConfig("lab"));
    edit(raw);
    const secrets = Object.fromEntries(Object.entries(standIns).map(([k, v]) => [k, pulumi.secret(v)])) as unknown as StackSecrets;
    return { ...parseStackSettings("lab", raw), secrets };
}

async function run(edit?: (c: any) => void): Promise<{ rec: Recording; homelab: Homelab; config: StackConfig }> {
    const rec = await recordProgram("lab");
    // Imported after the mocks are in place, as the engine would load it.
    const { defineHomelab } = await import("../stacks/homelab");
    const config = stackConfig(edit);
    const homelab = defineHomelab(config);
    await valueOf(homelab.kubeconfig);
    await rec.settle();
    return { rec, homelab, config };
}

describe("the homelab program (under mocks)", () => {
    it("registers the whole lab: Talos, datasets, providers and every platform piece", async () => {
        const { rec } = await run();
        const types = rec.resources.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.type]: (acc[r.type] ?? 0) + 1 }), {});
        const expected: Record<string, number> = {
            "command:local:Command": 2,
            "command:remote:Command": 6,
            "kubernetes:argoproj.io/v1alpha1:AppProject": 3,
            "kubernetes:argoproj.io/v1alpha1:Application": 1,
            "kubernetes:cert-manager.io/v1:ClusterIssuer": 2,
            "kubernetes:batch/v1:CronJob": 1,
            "kubernetes:core/v1:ConfigMap": 2,
            "kubernetes:core/v1:Namespace": 8,
            "kubernetes:core/v1:Secret": 7,
            "kubernetes:helm.sh/v3:Release": 8,
            "kubernetes:metallb.io/v1beta1:IPAddressPool": 1,
            "kubernetes:metallb.io/v1beta1:L2Advertisement": 1,
            "kubernetes:talos.dev/v1alpha1:ServiceAccount": 1,
            "pulumi-nodejs:dynamic/homelab-nas-drift:DriftSentinel": 6,
            "pulumi:providers:command": 1,
            "pulumi:providers:kubernetes": 1,
            "pulumi:providers:pulumi-nodejs": 1,
            "pulumi:providers:random": 1,
            "pulumi:providers:talos": 1,
            "random:index/randomPassword:RandomPassword": 2,
            "talos:cluster/kubeconfig:Kubeconfig": 1,
            "talos:machine/bootstrap:Bootstrap": 1,
            "talos:machine/configurationApply:ConfigurationApply": 1,
            "talos:machine/secrets:Secrets": 1,
        };
        const custom = Object.fromEntries(
            Object.entries(types)
                .filter(([t]) => !t.startsWith("homelab:"))
                .sort(),
        );
        assert.deepStrictEqual(custom, Object.fromEntries(Object.entries(expected).sort()));
        assert.deepStrictEqual(
            Object.keys(types)
                .filter(t => t.startsWith("homelab:"))
                .sort(),
            [
                "homelab:backup:EtcdBackupJob",
                "homelab:nas:Datasets",
                "homelab:platform:Certificates",
                "homelab:platform:GitOps",
                "homelab:platform:Ingress",
                "homelab:platform:KubeletCertificates",
                "homelab:platform:Monitoring",
                "homelab:platform:Platform",
                "homelab:platform:Storage",
                "homelab:talos:Cluster",
            ],
        );
    });

    it("renders each node's config from its role and layered patches, and bootstraps only the first control plane", async () => {
        const { rec } = await run(c => {
            c.cluster.vip = "127.0.10.9";
            c.cluster.endpoint = "https://127.0.10.9:6443";
            c.cluster.nodes = [
                { name: "w1", address: "127.0.10.21", role: "worker", installDisk: "/dev/sda" },
                { name: "cp1", address: "127.0.10.11", role: "controlplane", installDisk: "/dev/sda" },
                { name: "cp2", address: "127.0.10.12", role: "controlplane", installDisk: "/dev/sda" },
                { name: "cp3", address: "127.0.10.13", role: "controlplane", installDisk: "/dev/sda" },
            ];
        });
        const renders = rec.invokes.filter(i => i.token === "talos:machine/getConfiguration:getConfiguration");
        assert.deepStrictEqual(renders.map(r => [JSON.parse(r.inputs.configPatches[0]).machine.network.hostname, r.inputs.machineType]).sort(), [
            ["cp1", "controlplane"],
            ["cp2", "controlplane"],
            ["cp3", "controlplane"],
            ["w1", "worker"],
        ]);
        for (const r of renders) {
            assert.strictEqual(r.inputs.clusterEndpoint, "https://127.0.10.9:6443");
            assert.strictEqual(r.inputs.talosVersion, "v1.11.5");
            assert.strictEqual(r.inputs.kubernetesVersion, "v1.34.1");
        }
        const applies = rec.ofType("talos:machine/configurationApply:ConfigurationApply");
        assert.deepStrictEqual(applies.map(a => a.inputs.node).sort(), ["127.0.10.11", "127.0.10.12", "127.0.10.13", "127.0.10.21"]);
        assert.ok(applies.every(a => a.inputs.applyMode === "auto" && a.inputs.timeouts.create === "90s"));
        const boots = rec.ofType("talos:machine/bootstrap:Bootstrap");
        assert.deepStrictEqual(
            boots.map(b => b.inputs.node),
            ["127.0.10.11"],
        );
        const upgrades = rec.ofType("command:local:Command").filter(c => c.name.endsWith("-upgrade"));
        assert.deepStrictEqual(upgrades.map(u => u.name).sort(), ["lab-cp1-upgrade", "lab-cp2-upgrade", "lab-cp3-upgrade", "lab-w1-upgrade"]);
        for (const u of upgrades) {
            const address = applies.find(a => a.name === u.name.replace(/-upgrade$/, "-config"))!.inputs.node;
            assert.strictEqual(
                u.inputs.update,
                `talos-ops upgrade --node ${address} --endpoint ${address} --image factory.talos.dev/installer/613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245:v1.11.5 --timeout 90s` +
                    // A control plane's upgrade ends once its API server is ready, a worker's once it runs.
                    (u.name.startsWith("lab-cp") ? " --wait-kubernetes" : ""),
            );
            assert.strictEqual(u.inputs.create, undefined, "a new node is installed at the configured version: nothing to run");
            assert.ok(isSecretInput(u.inputs.stdin), "the talosconfig reaches the tool as a secret, on stdin");
        }
        const talosconfig = rec.invokes.find(i => i.token === "talos:client/getConfiguration:getConfiguration")!;
        assert.deepStrictEqual(talosconfig.inputs.endpoints, ["127.0.10.9"]);
        assert.deepStrictEqual(talosconfig.inputs.nodes, ["127.0.10.21", "127.0.10.11", "127.0.10.12", "127.0.10.13"]);
    });

    it("gives every resource an explicit provider: Kubernetes ones the cluster's own", async () => {
        const { rec } = await run();
        const providerOf = (r: { provider?: string }) => r.provider?.split("::")[2] ?? "(none)";
        for (const r of rec.resources) {
            if (r.type.startsWith("pulumi:providers:") || r.type.startsWith("homelab:") || r.type.startsWith("pulumi-nodejs:")) {
                continue;
            }
            const pkg = r.type.split(":")[0];
            assert.strictEqual(providerOf(r), `pulumi:providers:${pkg}`, `${r.type} ${r.name}`);
        }
        const k8sProvider = rec.ofType("pulumi:providers:kubernetes")[0];
        assert.ok(isSecretInput(k8sProvider.inputs.kubeconfig), "the kubeconfig reaches the provider as a secret");
        assert.strictEqual(plain(k8sProvider.inputs.kubeconfig), "apiVersion: v1\nkind: Config\n# node 127.0.10.2\n");
    });

    it("keeps kubeconfig and talosconfig secret", async () => {
        const { homelab } = await run();
        assert.strictEqual(await isSecret(homelab.kubeconfig), true);
        assert.strictEqual(await isSecret(homelab.talosconfig), true);
        assert.strictEqual(await isSecret(homelab.platform.grafanaAdminPassword), true);
        assert.strictEqual(await isSecret(homelab.platform.argocdAdminPassword), true);
    });

    it("never puts a secret value in plaintext into any resource input", async () => {
        const { rec } = await run();
        const leaks: string[] = [];
        for (const r of rec.resources) {
            for (const [key, value] of Object.entries(standIns)) {
                leaks.push(...plaintextOccurrences(r.inputs, value).map(at => `${key} in ${r.type} ${r.name} at ${at}`));
            }
        }
        assert.deepStrictEqual(leaks, []);
        // ...and the secrets did reach where they are needed, as secrets.
        const decoded = (r: { inputs: Record<string, any> }) => {
            const data = plain(r.inputs).data ?? {};
            return (
                JSON.stringify(plain(r.inputs)) +
                Object.values(data)
                    .map(v => Buffer.from(String(v), "base64").toString())
                    .join()
            );
        };
        const reached = (value: string) => rec.resources.filter(r => decoded(r).includes(value)).map(r => r.type);
        assert.ok(reached(standIns.cloudflareApiToken).includes("kubernetes:core/v1:Secret"));
        assert.ok(reached(standIns.nasSshPrivateKey).includes("command:remote:Command"));
        assert.ok(reached(standIns.gitToken).includes("kubernetes:core/v1:Secret"));
    });

    it("pins every Helm release to the configured chart, version and repository", async () => {
        const { rec, config } = await run();
        const releases = rec.ofType("kubernetes:helm.sh/v3:Release");
        const charts = Object.values(config.platform.charts);
        for (const r of releases) {
            const chart = charts.find(c => c.chart === r.inputs.chart)!;
            assert.ok(chart, r.name);
            assert.strictEqual(r.inputs.version, chart.version, r.name);
            assert.strictEqual(r.inputs.repositoryOpts.repo, chart.repo, r.name);
            assert.strictEqual(r.inputs.skipAwait, true, "the lab's no-kubelet setting reaches every release");
        }
        assert.deepStrictEqual(releases.map(r => r.inputs.name).sort(), [
            "argo-cd",
            "cert-manager",
            "democratic-csi-iscsi",
            "democratic-csi-nfs",
            "kube-prometheus-stack",
            "kubelet-csr-approver",
            "metallb",
            "traefik",
        ]);
    });

    it("points each democratic-csi driver at the datasets the NAS component made", async () => {
        const { rec } = await run();
        for (const [protocol, parent, snapshots] of [
            ["iscsi", "default/k8s-pv/iscsi", "default/k8s-pv/iscsi-snapshots"],
            ["nfs", "default/smb-share", "default/k8s-pv/nfs-snapshots"],
        ]) {
            const secret = rec.named(`platform-csi-${protocol}-config`);
            assert.ok(isSecretInput(secret.inputs.data), "the driver config is a secret");
            const driver = JSON.parse(Buffer.from(plain(secret.inputs.data)["driver-config-file.yaml"], "base64").toString());
            assert.strictEqual(driver.driver, `freenas-${protocol}`);
            assert.strictEqual(driver.zfs.datasetParentName, parent);
            assert.strictEqual(driver.zfs.detachedSnapshotsDatasetParentName, snapshots);
            assert.strictEqual(driver.sshConnection.privateKey, standIns.nasSshPrivateKey);
            assert.strictEqual(driver.zfs.cli.paths.zfs, "/usr/sbin/zfs");
        }
    });

    it("manages each configured dataset by absolute zfs path, through sudo, marked as managed", async () => {
        const { rec } = await run();
        const commands = rec.ofType("command:remote:Command");
        assert.deepStrictEqual(commands.map(c => c.name).sort(), [
            "nas-default/etcd-backups",
            "nas-default/k8s-pv",
            "nas-default/k8s-pv/iscsi",
            "nas-default/k8s-pv/iscsi-snapshots",
            "nas-default/k8s-pv/nfs-snapshots",
            "nas-default/smb-share",
        ]);
        for (const c of commands) {
            assert.match(c.inputs.create, /sudo -n '\/usr\/sbin\/zfs'/);
            assert.match(c.inputs.create, /org\.homelab-iac:managed-by=homelab\/lab/);
            // The update script is the create script marked with the drift generation (0 under
            // mocks); nothing travels as SSH env requests, which TrueNAS's sshd refuses.
            assert.strictEqual(c.inputs.update, `# drift generation 0\n${c.inputs.create}`);
            assert.strictEqual(c.inputs.environment, undefined);
            assert.strictEqual(c.inputs.addPreviousOutputInEnv, false);
            assert.strictEqual(c.inputs.delete, undefined, `${c.name} must never be destroyed by the stack`);
            const connection = plain(c.inputs.connection);
            assert.strictEqual(connection.hostKey, (rawStackConfig("lab").nas as any).hostKey, "the host key is pinned");
            assert.strictEqual(connection.host, "127.0.10.3");
        }
    });

    it("snapshots etcd nightly from inside the cluster with the os:etcd:backup role only, to the backup dataset", async () => {
        const { rec } = await run();
        const account = rec.named("etcd-backup-talos-account");
        assert.deepStrictEqual([account.inputs.metadata.namespace, account.inputs.spec.roles], ["kube-system", ["os:etcd:backup"]]);
        const job = rec.named("etcd-backup-cronjob").inputs.spec;
        assert.strictEqual(job.schedule, "0 3 * * *");
        const pod = job.jobTemplate.spec.template.spec;
        assert.strictEqual(pod.initContainers[0].image, "ghcr.io/siderolabs/talosctl:v1.11.5");
        assert.deepStrictEqual(pod.initContainers[0].args, [
            "--nodes",
            "127.0.10.2",
            "--endpoints",
            "127.0.10.2",
            "etcd",
            "snapshot",
            "/backup/etcd.db",
        ]);
        const config = JSON.parse(pod.containers[0].env[0].value);
        assert.deepStrictEqual(
            [config.host, config.port, config.store.dataset, config.retention],
            ["127.0.10.3", 2222, "default/etcd-backups", { daily: 7, weekly: 4, monthly: 12 }],
        );
        assert.ok(isSecretInput(rec.named("etcd-backup-nas-ssh").inputs.data), "the NAS key stays secret");
        assert.match(rec.named("etcd-backup-script").inputs.data["store.js"], /exports\.handler\(\)\.catch/);
        assert.ok(!pod.volumes.some((v: any) => v.hostPath), "no host path");
    });
});
