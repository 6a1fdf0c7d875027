// The policy pack: each rule on resources as the engine shows them (unit), and the real pack run
// by the real engine, on a program that breaks every rule and on the homelab program (@engine).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import {
    dataRetained,
    datasetsProtected,
    defaultSettings,
    hostPathsForStorageOnly,
    isPinnedImage,
    loadBalancersAtIngress,
    noPlaintextSecrets,
    pinnedVersions,
    platformNamespacesOnly,
    remoteCommandsPortable,
    ResourceView,
    unknownInput,
} from "../policy/rules";
import { platformNamespaces } from "../components/platform/values";
import { root } from "./stackfiles";

const view = (type: string, props: Record<string, unknown>, secret: string[] = [], urn = `urn:pulumi:s::homelab::${type}::r`): ResourceView => ({
    type,
    urn,
    name: "r",
    props,
    secret: new Set(secret),
});
const release = (props: Record<string, unknown>) =>
    view("kubernetes:helm.sh/v3:Release", { chart: "traefik", version: "37.1.2", namespace: "traefik", ...props });

describe("policy rules", () => {
    it("pinned-versions: exact chart versions and pinned images only", () => {
        assert.deepStrictEqual(pinnedVersions(release({})), []);
        for (const version of [undefined, "", "^37.0.0", "37.x", "latest", ">=1.0.0"]) {
            assert.strictEqual(pinnedVersions(release({ version })).length, 1, String(version));
        }
        assert.ok(isPinnedImage("factory.talos.dev/installer/c907:v1.11.5"));
        assert.ok(isPinnedImage("registry.local:5000/kubelet@sha256:" + "a".repeat(64)));
        for (const image of ["ghcr.io/siderolabs/installer:latest", "ghcr.io/siderolabs/installer", "registry.local:5000/installer", "x:v1.11"]) {
            assert.ok(!isPinnedImage(image), image);
        }
        const apply = (text: string) =>
            view("talos:machine/configurationApply:ConfigurationApply", {
                machineConfigurationInput: text,
                configPatches: ['{"machine":{"install":{"image":"ghcr.io/x/installer:v1.11.5"}}}'],
            });
        assert.deepStrictEqual(pinnedVersions(apply("machine:\n  kubelet:\n    image: ghcr.io/siderolabs/kubelet:v1.34.1\n")), []);
        assert.match(pinnedVersions(apply("machine:\n  kubelet:\n    image: ghcr.io/siderolabs/kubelet:latest\n"))[0], /kubelet:latest/);
    });

    it("no-plaintext-secrets: credentials anywhere in the inputs must be secret; references need not be", () => {
        const secret = (props: Record<string, unknown>, secretPaths: string[] = []) =>
            noPlaintextSecrets(view("kubernetes:core/v1:Secret", props, secretPaths));
        assert.strictEqual(secret({ stringData: { "api-token": "x" } }).length, 1);
        assert.deepStrictEqual(secret({ stringData: { "api-token": "x" } }, ["stringData"]), []);
        assert.deepStrictEqual(secret({ data: { a: "x", b: "y" } }, ["data.a", "data.b"]), []);
        assert.strictEqual(secret({ data: { a: "x", b: "y" } }, ["data.a"]).length, 1);
        const values = {
            grafana: { admin: { existingSecret: "grafana-admin", passwordKey: "admin-password" } },
            configs: { secret: { argocdServerAdminPassword: "$2a$..." } },
        };
        assert.deepStrictEqual(
            noPlaintextSecrets(release({ values })).map(m => m.replace(/:.*/, "")),
            ["r"],
        );
        assert.match(noPlaintextSecrets(release({ values }))[0], /values\.configs\.secret\.argocdServerAdminPassword/);
        assert.deepStrictEqual(
            noPlaintextSecrets(view("kubernetes:helm.sh/v3:Release", { values }, ["values.configs.secret.argocdServerAdminPassword"])),
            [],
        );
        assert.strictEqual(noPlaintextSecrets(view("command:local:Command", { create: "talos-ops upgrade", stdin: "context: lab" })).length, 1);
        assert.deepStrictEqual(
            noPlaintextSecrets(view("command:local:Command", { create: "talos-ops upgrade", stdin: "context: lab" }, ["stdin"])),
            [],
        );
    });

    it("datasets-protected: a managed dataset with a delete script is refused unless allowed by name", () => {
        const dataset = (props: Record<string, unknown>) => ({
            ...view("command:remote:Command", props, [], "urn:pulumi:lab::homelab::homelab:nas:Datasets$command:remote:Command::nas-default/scratch"),
            name: "nas-default/scratch",
        });
        assert.deepStrictEqual(datasetsProtected(dataset({ create: "ensure" }), defaultSettings), []);
        assert.strictEqual(datasetsProtected(dataset({ create: "ensure", delete: "destroy" }), defaultSettings).length, 1);
        assert.deepStrictEqual(
            datasetsProtected(dataset({ create: "ensure", delete: "destroy" }), { ...defaultSettings, destroyableDatasets: ["default/scratch"] }),
            [],
        );
        assert.deepStrictEqual(datasetsProtected(view("command:remote:Command", { delete: "rm -rf /tmp/x" }), defaultSettings), [], "not a dataset");
        // Datasets are known by their component's type, not by a name: a dataset-like command
        // anywhere else is refused, whatever it is called.
        assert.match(
            datasetsProtected(
                view("command:remote:Command", { create: "true", delete: "sudo -n '/usr/sbin/zfs' destroy 'default/x'" }),
                defaultSettings,
            )[0],
            /r runs zfs destroy outside homelab:nas:Datasets/,
        );
        const lookalike = {
            ...view(
                "command:remote:Command",
                { delete: "destroy" },
                [],
                "urn:pulumi:lab::homelab::my:homelab:nas:DatasetsX$command:remote:Command::nas-default/scratch",
            ),
            name: "nas-default/scratch",
        };
        assert.deepStrictEqual(datasetsProtected(lookalike, defaultSettings), [], "a type that merely contains the name is not the component");
    });

    it("remote-commands-portable: a pinned host key, nothing through SSH env requests", () => {
        const command = (props: Record<string, unknown>) =>
            remoteCommandsPortable(
                view("command:remote:Command", {
                    connection: { host: "192.168.2.30", hostKey: "ssh-ed25519 AAAA" },
                    create: "true",
                    addPreviousOutputInEnv: false,
                    ...props,
                }),
            );
        assert.deepStrictEqual(command({}), []);
        assert.deepStrictEqual(command({ connection: unknownInput }), [], "unknown in a preview: nothing to say yet");
        assert.match(command({ connection: { host: "192.168.2.30" } })[0], /r: connection\.hostKey is not set/);
        assert.match(
            command({ environment: { HOMELAB_DRIFT_GENERATION: "1" } })[0],
            /sets environment \(HOMELAB_DRIFT_GENERATION\): sent as SSH env requests/,
        );
        assert.deepStrictEqual(command({ environment: {} }), []);
        assert.match(command({ addPreviousOutputInEnv: undefined })[0], /addPreviousOutputInEnv is not false/);
        assert.deepStrictEqual(
            remoteCommandsPortable(view("command:local:Command", { create: "true", environment: { A: "b" } })),
            [],
            "local commands get a real environment",
        );
    });

    it("platform-namespaces-only: the stack stays out of ArgoCD's namespaces", () => {
        const secret = (namespace: unknown) => view("kubernetes:core/v1:Secret", { metadata: { namespace } });
        assert.deepStrictEqual(platformNamespacesOnly(secret("monitoring"), defaultSettings), []);
        assert.deepStrictEqual(platformNamespacesOnly(secret("kube-system"), defaultSettings), [], "the etcd backup job");
        assert.match(
            platformNamespacesOnly(secret("apps"), defaultSettings)[0],
            /r is in namespace apps, which is not the platform's .*ArgoCD owns what runs there/,
        );
        assert.strictEqual(platformNamespacesOnly(release({ namespace: "apps" }), defaultSettings).length, 1);
        assert.deepStrictEqual(
            platformNamespacesOnly(view("kubernetes:storage.k8s.io/v1:StorageClass", { metadata: {} }), defaultSettings),
            [],
            "cluster-wide",
        );
        // The provider fills in `default` for a custom kind whose CRD it has not seen yet (a
        // ClusterIssuer created in the same run as cert-manager): the kind decides, not that guess.
        const defaulted = (type: string) => view(type, { metadata: { name: "x", namespace: "default" } });
        assert.deepStrictEqual(platformNamespacesOnly(defaulted("kubernetes:cert-manager.io/v1:ClusterIssuer"), defaultSettings), []);
        assert.deepStrictEqual(platformNamespacesOnly(defaulted("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"), defaultSettings), []);
        assert.strictEqual(platformNamespacesOnly(defaulted("kubernetes:cert-manager.io/v1:Issuer"), defaultSettings).length, 1);
        assert.deepStrictEqual(platformNamespacesOnly(secret(unknownInput), defaultSettings), []);
        // The policy's own list is the program's: one source, checked.
        assert.deepStrictEqual([...defaultSettings.platformNamespaces].sort(), [...Object.values(platformNamespaces), "kube-system"].sort());
    });

    it("data-retained: namespaces, volumes, StorageClasses and CRDs carry the mark of the retaining transformation", () => {
        const ns = (annotations?: Record<string, string>) => view("kubernetes:core/v1:Namespace", { metadata: { name: "monitoring", annotations } });
        assert.match(dataRetained(ns())[0], /r \(Namespace\) would be deleted with its data by pulumi destroy/);
        assert.deepStrictEqual(dataRetained(ns({ "homelab.dev/retained-on-delete": "true" })), []);
        assert.deepStrictEqual(dataRetained(view("kubernetes:core/v1:ConfigMap", { metadata: {} })), [], "a ConfigMap holds no data of its own");
    });

    it("loadbalancer-only-at-ingress: Services and Helm values", () => {
        const service = (namespace: string) => view("kubernetes:core/v1:Service", { metadata: { namespace }, spec: { type: "LoadBalancer" } });
        assert.deepStrictEqual(loadBalancersAtIngress(service("traefik"), defaultSettings), []);
        assert.strictEqual(loadBalancersAtIngress(service("monitoring"), defaultSettings).length, 1);
        assert.deepStrictEqual(loadBalancersAtIngress(release({ values: { service: { type: "LoadBalancer" } } }), defaultSettings), []);
        assert.match(
            loadBalancersAtIngress(
                release({ namespace: "monitoring", values: { grafana: { service: { type: "LoadBalancer" } } } }),
                defaultSettings,
            )[0],
            /values\.grafana\.service\.type = LoadBalancer/,
        );
        assert.deepStrictEqual(
            loadBalancersAtIngress(release({ namespace: "monitoring", values: { grafana: { service: { type: "ClusterIP" } } } }), defaultSettings),
            [],
        );
    });

    it("host-paths-for-storage-only: workloads and Helm values outside the storage driver", () => {
        const deployment = (namespace: string) =>
            view("kubernetes:apps/v1:Deployment", {
                metadata: { namespace },
                spec: { template: { spec: { volumes: [{ name: "root", hostPath: { path: "/" } }] } } },
            });
        assert.match(hostPathsForStorageOnly(deployment("default"), defaultSettings)[0], /spec\.template\.spec\.volumes\[0\]\.hostPath/);
        assert.deepStrictEqual(hostPathsForStorageOnly(deployment("democratic-csi"), defaultSettings), []);
        assert.strictEqual(
            hostPathsForStorageOnly(release({ namespace: "monitoring", values: { extraVolumes: [{ hostPath: { path: "/var" } }] } }), defaultSettings)
                .length,
            1,
        );
        assert.deepStrictEqual(
            hostPathsForStorageOnly(release({ namespace: "democratic-csi", values: { node: { hostPath: "/var/lib/kubelet" } } }), defaultSettings),
            [],
        );
    });
});

describe("the policy pack in the engine @engine", function () {
    this.timeout(300_000);
    const preview = (...args: string[]) => {
        const r = spawnSync("npm", ["run", "--silent", "preview", "--", ...args], { cwd: root, encoding: "utf8", timeout: 240_000 });
        return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
    };

    it("stops a preview that breaks each rule, naming the rule and the resource", () => {
        const r = preview("lab", "--program", path.join(root, "tests/fixtures/policy-violations.ts"));
        assert.notStrictEqual(r.status, 0, r.out.slice(-3000));
        const expected: [string, RegExp][] = [
            ["pinned-versions", /unpinned-chart installs chart traefik at no version/],
            ["pinned-versions", /unpinned-installer runs image ghcr\.io\/siderolabs\/installer:latest/],
            ["no-plaintext-secrets", /plain-password: input data\.db-password holds a credential as plain text/],
            ["datasets-protected", /dataset nas-default\/scratch would be destroyed/],
            ["remote-commands-portable", /nas-default\/scratch: sets environment \(GENERATION\)/],
            ["loadbalancer-only-at-ingress", /Service side-door in namespace default is a LoadBalancer/],
            ["host-paths-for-storage-only", /host-reader in namespace default mounts a host path/],
        ];
        for (const [rule, message] of expected) {
            assert.match(r.out, new RegExp(`\\[mandatory\\]\\s+${rule}\\s+\\(`), `${rule} reported\n${r.out.slice(-4000)}`);
            assert.match(r.out, message, `${rule}: ${message}\n${r.out.slice(-4000)}`);
        }
        assert.ok(!r.out.includes("hunter2-plaintext"), "the violation names the input, not its value");
    });

    it("lets a dataset whose config says allowDestroy have its delete script: the config is the one switch", () => {
        const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.lab.yaml"), "utf8")) as any;
        doc.config["homelab:nas"].datasets.push({ name: "default/scratch", allowDestroy: true });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "allow-destroy-"));
        try {
            const file = path.join(dir, "Pulumi.lab.yaml");
            fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
            const r = preview("lab", "--stack-file", file);
            assert.strictEqual(r.status, 0, r.out.slice(-4000));
            assert.doesNotMatch(r.out, /datasets-protected/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    for (const stack of ["homelab", "lab"]) {
        it(`passes the ${stack} program`, () => {
            const r = preview(stack);
            assert.strictEqual(r.status, 0, r.out.slice(-4000));
            assert.match(r.out, /Policies:\s+✅ homelab@v/, r.out.slice(-2000));
        });
    }
});
