// @engine @lab: `npm run lab` for real, from a fresh lab, and what the homelab's owner would check:
// the node bootstrapped and serving Kubernetes, the datasets on real ZFS, the platform installed,
// a second run changing nothing, drift found and repaired, data surviving destroy.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { kubeRequests, labDir, labLogLines, sshSessions, talosCalls } from "./lablogs";
import { AppProjectSpec, appProjectSpecFrom, destinationPermitted, objectPermitted, sourcePermitted } from "../components/platform/argocd-projects";
import { platformNamespaces } from "../components/platform/values";
import { parseStackSettings } from "../stacks/config";
import { itemNames, kubeFrom, kubeRequest } from "../tools/stack-access";
import { rawStackConfig, root } from "./stackfiles";

const lab = labDir;
const passphraseEnv = { ...process.env, PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase") };

interface Run {
    status: number;
    out: string;
}

function sh(cmd: string, args: string[], timeout = 600_000): Run {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout, env: passphraseEnv });
    return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}
const npm = (script: string, ...args: string[]) => sh("npm", ["run", "--silent", script, "--", ...args]);
const pulumiLab = (...args: string[]) => npm("pulumi", ...args, "--stack", "lab");
const zfs = (...args: string[]) => execFileSync("/usr/sbin/zfs", args, { encoding: "utf8" }).trim();

/** A copy of the lab stack file at another Talos version (the installer image follows it). */
function withClusterVersion(talosVersion: string): string {
    const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.lab.yaml"), "utf8")) as any;
    const cluster = doc.config["homelab:cluster"];
    cluster.talosVersion = talosVersion;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lab-version-")), "Pulumi.lab.yaml");
    fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
    return file;
}

/** GET on the lab's API server with the stack's own kubeconfig output. */
const kubeGet = (kubeconfig: string, urlPath: string) => kubeRequest(kubeFrom(kubeconfig), "GET", urlPath);
const names = itemNames;

const labFile = path.join(root, "Pulumi.lab.yaml");
const labFileBefore = fs.readFileSync(labFile, "utf8");

/** The stack's kubeconfig output, once the lab is deployed. */
let deployedKubeconfig: string | undefined;
function readKubeconfig(): string {
    const out = pulumiLab("stack", "output", "kubeconfig", "--show-secrets");
    assert.strictEqual(out.status, 0, out.out);
    return out.out.trim();
}

/** A deployed lab for the scenarios that start from one, so each runs alone (`--grep`): the first
 * call in a run deploys with `npm run lab`, which starts what is down and is a no-op `up` on a
 * lab already deployed. */
function deployedLab(): string {
    if (deployedKubeconfig === undefined) {
        const r = npm("lab");
        assert.strictEqual(r.status, 0, r.out.slice(-4000));
        deployedKubeconfig = readKubeconfig();
    }
    return deployedKubeconfig;
}

describe("the lab from scratch @engine @lab", function () {
    this.timeout(900_000);
    let kubeconfig = "";

    before(() => {
        deployedKubeconfig = undefined;
        // A fresh lab: no node config, no pool, no stack state.
        sh("bash", ["lab/down.sh"]);
        fs.rmSync(lab, { recursive: true, force: true });
        pulumiLab("stack", "rm", "--force", "--yes", "--preserve-config");
    });

    it("adopts a dataset that exists before the first up, keeping its data", () => {
        const r = sh("bash", ["lab/nas/start.sh"]);
        assert.strictEqual(r.status, 0, r.out);
        zfs("create", "default/smb-share");
        fs.writeFileSync(path.join(zfs("get", "-H", "-o", "value", "mountpoint", "default/smb-share"), "family-photos.txt"), "precious\n");
    });

    it("`npm run lab` applies the config, bootstraps, and installs everything", () => {
        const r = npm("lab");
        assert.strictEqual(r.status, 0, r.out.slice(-4000));
        assert.match(r.out, /\+ \d+ created/);
        kubeconfig = deployedKubeconfig = readKubeconfig();
    });

    it("serves the configured Kubernetes version with the kubeconfig output, and is ready", async () => {
        const wanted = (yaml.load(labFileBefore) as any).config["homelab:cluster"].kubernetesVersion;
        const version = await kubeGet(kubeconfig, "/version");
        assert.strictEqual(JSON.parse(version.body).gitVersion, wanted);
        const ready = await kubeGet(kubeconfig, "/readyz");
        assert.deepStrictEqual([ready.status, ready.body], [200, "ok"]);
    });

    it("holds a Helm release per platform piece and every custom resource", async () => {
        const releases = await kubeGet(kubeconfig, "/api/v1/secrets?labelSelector=owner%3Dhelm");
        assert.deepStrictEqual(names(releases.body), [
            "argocd/sh.helm.release.v1.argo-cd.v1",
            "cert-manager/sh.helm.release.v1.cert-manager.v1",
            "democratic-csi/sh.helm.release.v1.democratic-csi-iscsi.v1",
            "democratic-csi/sh.helm.release.v1.democratic-csi-nfs.v1",
            "kubelet-csr-approver/sh.helm.release.v1.kubelet-csr-approver.v1",
            "metallb-system/sh.helm.release.v1.metallb.v1",
            "monitoring/sh.helm.release.v1.kube-prometheus-stack.v1",
            "traefik/sh.helm.release.v1.traefik.v1",
        ]);
        const expect: [string, string[]][] = [
            ["/apis/metallb.io/v1beta1/ipaddresspools", ["metallb-system/homelab"]],
            ["/apis/metallb.io/v1beta1/l2advertisements", ["metallb-system/homelab"]],
            ["/apis/cert-manager.io/v1/clusterissuers", ["letsencrypt-production", "letsencrypt-staging"]],
            ["/apis/storage.k8s.io/v1/storageclasses", ["truenas-iscsi", "truenas-nfs"]],
            ["/apis/argoproj.io/v1alpha1/applications", ["argocd/root"]],
            [
                "/api/v1/namespaces/democratic-csi/secrets?fieldSelector=type%3DOpaque",
                ["democratic-csi/democratic-csi-iscsi-driver-config", "democratic-csi/democratic-csi-nfs-driver-config"],
            ],
        ];
        for (const [url, wanted] of expect) {
            const r = await kubeGet(kubeconfig, url);
            assert.deepStrictEqual(names(r.body), wanted, url);
        }
    });

    it("made the datasets on real ZFS with their properties, and kept the adopted one's data", () => {
        const listing = zfs("list", "-H", "-o", "name,org.homelab-iac:managed-by,quota,atime", "-r", "default");
        assert.deepStrictEqual(
            listing.split("\n").map(l => l.split("\t")),
            [
                ["default", "-", "none", "on"],
                ["default/etcd-backups", "homelab/lab", "none", "on"],
                ["default/k8s-pv", "homelab/lab", "none", "off"],
                ["default/k8s-pv/iscsi", "homelab/lab", "200M", "off"],
                ["default/k8s-pv/iscsi-snapshots", "homelab/lab", "none", "off"],
                ["default/k8s-pv/nfs-snapshots", "homelab/lab", "none", "off"],
                ["default/smb-share", "homelab/lab", "100M", "on"],
            ],
        );
        const mount = zfs("get", "-H", "-o", "value", "mountpoint", "default/smb-share");
        assert.strictEqual(fs.readFileSync(path.join(mount, "family-photos.txt"), "utf8"), "precious\n");
    });
});

describe("a deployed lab @engine @lab", function () {
    this.timeout(900_000);
    let kubeconfig = "";
    before(() => {
        kubeconfig = deployedLab();
    });

    it("holds every workload to ArgoCD's project rules, as the API server's AppProjects say", async () => {
        const listing = await kubeGet(kubeconfig, "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects");
        const projects = new Map<string, AppProjectSpec>(
            (JSON.parse(listing.body).items as { metadata: { name: string }; spec?: unknown }[]).map(p => [
                p.metadata.name,
                appProjectSpecFrom(p.spec ?? {}),
            ]),
        );
        assert.deepStrictEqual([...projects.keys()].sort(), ["apps-of-apps", "default", "workloads"]);
        const { repoURL, namespaces } = parseStackSettings("lab", rawStackConfig("lab")).platform.argocd;
        const inCluster = { server: "https://kubernetes.default.svc" };
        // What ArgoCD checks before it syncs a child: its source, its destination, then each object.
        const deploys = (project: string, group: string, kind: string, namespace: string) => {
            const spec = projects.get(project)!;
            return (
                sourcePermitted(spec, repoURL) &&
                destinationPermitted(spec, { ...inCluster, namespace }) &&
                objectPermitted(spec, inCluster, { group, kind, namespace: kind === "Namespace" ? "" : namespace })
            );
        };
        // The root app may make the child Application; the child may deploy into a workload namespace.
        assert.ok(deploys("apps-of-apps", "argoproj.io", "Application", "argocd"));
        assert.deepStrictEqual(namespaces, ["apps"]);
        assert.strictEqual((await kubeGet(kubeconfig, "/api/v1/namespaces/apps")).status, 200, "the stack made the workloads' namespace");
        assert.ok(deploys("workloads", "apps", "Deployment", "apps"), "a workload in its own namespace (otherwise this test proves nothing)");
        for (const ns of [...Object.values(platformNamespaces), "kube-system"]) {
            assert.strictEqual(deploys("workloads", "apps", "Deployment", ns), false, `a workload Deployment in ${ns}`);
            assert.strictEqual(deploys("workloads", "", "Namespace", ns), false, `a workload Namespace named ${ns}`);
        }
        for (const ns of ["apps", "monitoring"]) assert.strictEqual(deploys("default", "apps", "Deployment", ns), false, `project default, ${ns}`);
        assert.strictEqual(deploys("apps-of-apps", "apps", "Deployment", "argocd"), false, "the root app's project makes Applications only");
    });

    it("has Pods for every Deployment, DaemonSet and StatefulSet of every release: Pod Security admits them all", async () => {
        // The lab's API server enforces Pod Security `baseline` as Talos does and its controller
        // manager creates the Pods (Pending: there is no scheduler). A namespace without the
        // labels a privileged workload needs leaves its controller with FailedCreate events.
        interface Obj {
            metadata: { name: string; namespace: string; uid: string; ownerReferences?: { uid: string }[] };
            spec?: { replicas?: number };
        }
        const list = async (url: string) => JSON.parse((await kubeGet(kubeconfig, url)).body).items as Obj[];
        const missing = async () => {
            const pods = await list("/api/v1/pods");
            const replicaSets = await list("/apis/apps/v1/replicasets");
            const owners = new Set(pods.flatMap(p => p.metadata.ownerReferences ?? []).map(o => o.uid));
            const withPods = (uid: string) =>
                owners.has(uid) || replicaSets.some(rs => rs.metadata.ownerReferences?.some(o => o.uid === uid) && owners.has(rs.metadata.uid));
            const found: string[] = [];
            let workloads = 0;
            for (const kind of ["deployments", "daemonsets", "statefulsets"]) {
                for (const w of await list(`/apis/apps/v1/${kind}`)) {
                    if (w.spec?.replicas === 0) continue;
                    workloads++;
                    if (withPods(w.metadata.uid)) continue;
                    const events = JSON.parse(
                        (await kubeGet(kubeconfig, `/api/v1/namespaces/${w.metadata.namespace}/events?fieldSelector=reason%3DFailedCreate`)).body,
                    ).items as { involvedObject: { name: string }; message: string }[];
                    const why = events.filter(
                        e => w.metadata.name.startsWith(e.involvedObject.name) || e.involvedObject.name.startsWith(w.metadata.name),
                    );
                    found.push(`${kind} ${w.metadata.namespace}/${w.metadata.name}: no Pod${why.length ? `: ${why[why.length - 1].message}` : ""}`);
                }
            }
            return { found, workloads };
        };
        let last = await missing();
        for (const deadline = Date.now() + 90_000; last.found.length > 0 && Date.now() < deadline; last = await missing()) {
            await new Promise(r => setTimeout(r, 3000));
        }
        assert.ok(last.workloads >= 10, `only ${last.workloads} workloads: the releases did not install theirs`);
        assert.deepStrictEqual(last.found, []);
    });

    it("a second `npm run lab` changes nothing and opens no SSH session; preview expects no changes", () => {
        const ssh = sshSessions();
        const talos = talosCalls();
        const kube = kubeRequests();
        // Positive controls: the counters read logs that saw the first up's sessions, calls and writes.
        assert.ok(
            ssh > 0 && talos > 0 && kube.mutating > 0,
            `the first up was counted (${ssh} SSH sessions, ${talos} Talos API calls, ${kube.mutating} mutating Kubernetes requests)`,
        );
        const r = npm("lab");
        assert.strictEqual(r.status, 0, r.out.slice(-3000));
        assert.doesNotMatch(r.out, /created|updated|deleted|replaced/);
        assert.strictEqual(sshSessions() - ssh, 0, "SSH sessions during a no-op up");
        assert.strictEqual(talosCalls() - talos, 0, "Talos API calls during a no-op up");
        assert.strictEqual(kubeRequests().mutating - kube.mutating, 0, "mutating Kubernetes requests during a no-op up");
        const p = pulumiLab("preview", "--expect-no-changes");
        assert.strictEqual(p.status, 0, p.out.slice(-3000));
    });

    it("leaks no secret value into state, outputs, console or the lab's logs", () => {
        const secretValues: Record<string, string> = {};
        for (const key of ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken", "alertingSecret"]) {
            secretValues[key] = pulumiLab("config", "get", `homelab:${key}`).out.trim();
        }
        const outputs = JSON.parse(pulumiLab("stack", "output", "--json", "--show-secrets").out) as Record<string, string>;
        for (const key of ["grafanaAdminPassword", "argocdAdminPassword"]) {
            secretValues[key] = outputs[key];
        }
        // The private key's body, line by line, is as secret as the whole.
        const needles = Object.entries(secretValues).flatMap(([key, value]) =>
            value
                .split("\n")
                .filter(line => line.length >= 16 && !/^-----/.test(line))
                .map(line => [key, line] as const),
        );
        assert.ok(needles.length >= 6, "every secret was read");
        const places: Record<string, string> = {
            "exported state": pulumiLab("stack", "export").out,
            "stack output --json": pulumiLab("stack", "output", "--json").out,
            "console of up": pulumiLab("up", "--yes", "--refresh").out,
            "console of preview": pulumiLab("preview", "--diff").out,
        };
        for (const file of fs.readdirSync(path.join(lab, "logs"))) {
            places[`.lab/logs/${file}`] = fs.readFileSync(path.join(lab, "logs", file), "utf8");
        }
        const leaks = Object.entries(places).flatMap(([where, text]) =>
            needles.filter(([, needle]) => text.includes(needle)).map(([key]) => `${key} in ${where}`),
        );
        assert.deepStrictEqual([...new Set(leaks)], []);
    });

    it("leaves no key material in any temporary directory after preview and up", () => {
        // The kubernetes provider writes a kubeconfig holding the admin client key into TMPDIR for
        // Helm operations; the wrappers give each command a private one and remove it.
        const keyFiles = (dir: string): string[] =>
            fs
                .readdirSync(dir, { recursive: true, encoding: "utf8" })
                .map(f => path.join(dir, f))
                .filter(f => fs.statSync(f).isFile())
                .filter(f => /client-key-data|PRIVATE KEY/.test(fs.readFileSync(f, "latin1")));
        const run = (argv: string[]) => {
            const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tmp-audit-"));
            const env = { ...passphraseEnv, TMPDIR: tmp, HOMELAB_PRIVATE_TMPDIR: "" };
            const r = spawnSync(argv[0], argv.slice(1), { cwd: root, encoding: "utf8", timeout: 600_000, env });
            const found = keyFiles(tmp);
            fs.rmSync(tmp, { recursive: true, force: true });
            return { status: r.status, out: `${r.stdout}\n${r.stderr}`, found };
        };
        // Positive control: the bare CLI, outside the wrappers, leaves the provider's kubeconfigs.
        const bare = run(["pulumi", "up", "--yes", "--skip-preview", "--stack", "lab", "--refresh"]);
        assert.strictEqual(bare.status, 0, bare.out.slice(-3000));
        assert.ok(bare.found.length > 0, "the bare CLI leaves key material in TMPDIR (otherwise this test proves nothing)");
        for (const args of [
            ["preview", "--refresh"],
            ["up", "--yes", "--refresh"],
        ]) {
            const wrapped = run(["npm", "run", "--silent", "pulumi", "--", ...args, "--stack", "lab"]);
            assert.strictEqual(wrapped.status, 0, wrapped.out.slice(-3000));
            assert.deepStrictEqual(wrapped.found, [], `npm run pulumi -- ${args[0]} left key material behind`);
        }
    });

    it("runs preview and up in Age mode with only an Age identity, and refuses a stranger's", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-age-"));
        const sealed = ["stacks/lab.passphrase.age", "stacks/lab.age-recipients"].map(f => path.join(root, f));
        const asIdentity = (identity: string, script: string, ...args: string[]): Run => {
            const env: NodeJS.ProcessEnv = { ...process.env, SOPS_AGE_KEY_FILE: identity };
            delete env.PULUMI_CONFIG_PASSPHRASE;
            delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
            const r = spawnSync("npm", ["run", "--silent", script, "--", ...args], { cwd: root, encoding: "utf8", env, timeout: 600_000 });
            return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
        };
        try {
            const [owner, stranger] = ["owner", "stranger"].map(n => path.join(dir, `${n}.txt`));
            for (const id of [owner, stranger]) execFileSync("age-keygen", ["-o", id], { stdio: "ignore" });
            const recipient = execFileSync("age-keygen", ["-y", owner], { encoding: "utf8" }).trim();
            // Seal the lab's passphrase (read from its file this once) to the owner's key. From here
            // on, Age mode comes before the committed passphrase file.
            const init = npm("secrets", "age-init", "lab", recipient);
            assert.strictEqual(init.status, 0, init.out);
            const preview = asIdentity(owner, "pulumi", "preview", "--stack", "lab", "--expect-no-changes");
            assert.strictEqual(preview.status, 0, preview.out.slice(-3000));
            const up = asIdentity(owner, "pulumi", "up", "--stack", "lab", "--yes", "--refresh");
            assert.strictEqual(up.status, 0, up.out.slice(-3000));
            const refused = asIdentity(stranger, "pulumi", "preview", "--stack", "lab");
            assert.notStrictEqual(refused.status, 0);
            assert.match(refused.out, /the Age identity .*stranger\.txt is not a recipient of stacks\/lab\.passphrase\.age/);
        } finally {
            for (const f of sealed) fs.rmSync(f, { force: true });
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("finds a quota changed by hand on the NAS, names the dataset, and puts it back", () => {
        zfs("set", "quota=10M", "default/smb-share");
        const p = pulumiLab("preview", "--refresh", "--expect-no-changes");
        assert.notStrictEqual(p.status, 0);
        assert.match(p.out, /~\s+command:remote:Command nas-default\/smb-share update/);
        assert.doesNotMatch(p.out, /~\s+command:remote:Command nas-default\/k8s-pv(\/\S+)? update/);
        const up = pulumiLab("up", "--refresh", "--yes");
        assert.strictEqual(up.status, 0, up.out.slice(-3000));
        assert.strictEqual(zfs("get", "-H", "-o", "value", "quota", "default/smb-share"), "100M");
        assert.strictEqual(pulumiLab("preview", "--refresh", "--expect-no-changes").status, 0);
    });

    it("previews a Talos or Kubernetes version bump as an in-place change of the node, never a new cluster", () => {
        const doc = yaml.load(fs.readFileSync(labFile, "utf8")) as any;
        const cluster = doc.config["homelab:cluster"];
        cluster.talosVersion = "v1.11.6";
        cluster.kubernetesVersion = "v1.34.2";
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lab-bump-")), "Pulumi.lab.yaml");
        fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
        const p = pulumiLab("preview", "--json", "--config-file", file);
        fs.rmSync(path.dirname(file), { recursive: true });
        assert.strictEqual(p.status, 0, p.out.slice(-3000));
        const steps = JSON.parse(p.out.slice(p.out.indexOf("{"), p.out.lastIndexOf("}") + 1)).steps as { op: string; urn: string }[];
        // The type is the last segment of the URN's type chain: `...$<parent type>$<type>::<name>`.
        const opOf = (type: string) => steps.filter(st => st.urn.split("::")[2].split("$").pop() === type).map(st => st.op);
        assert.deepStrictEqual(opOf("talos:machine/configurationApply:ConfigurationApply"), ["update"]);
        // The cluster's identity and its bootstrap stay as they are (the plan lists no step for them).
        assert.deepStrictEqual(
            opOf("talos:machine/secrets:Secrets").filter(op => op !== "same"),
            [],
        );
        assert.deepStrictEqual(
            opOf("talos:machine/bootstrap:Bootstrap").filter(op => op !== "same"),
            [],
        );
        assert.deepStrictEqual(
            steps.filter(st => /replace|delete/.test(st.op)).map(st => st.urn),
            [],
        );
    });

    it("rolls a Talos version bump onto the node with talos-ops upgrade, in place, and back", () => {
        const bumped = withClusterVersion("v1.11.6");
        const upgrades = () => labLogLines("talos.log", /msg=rpc.*MachineService\/Upgrade.*code=OK/);
        const before = upgrades();
        const up = pulumiLab("up", "--yes", "--config-file", bumped);
        assert.strictEqual(up.status, 0, up.out.slice(-3000));
        assert.match(up.out, /command:local:Command lab-lab-cp1-upgrade updated/);
        assert.doesNotMatch(up.out, /replaced|deleted/);
        assert.strictEqual(upgrades() - before, 1, "one Upgrade call for the one node");
        // ...and back to the stack file's version, the same way.
        const back = pulumiLab("up", "--yes");
        assert.strictEqual(back.status, 0, back.out.slice(-3000));
        assert.strictEqual(upgrades() - before, 2);
        assert.strictEqual(pulumiLab("preview", "--expect-no-changes").status, 0);
        fs.rmSync(path.dirname(bumped), { recursive: true });
    });

    it("surfaces a config patch Talos rejects as Talos's own validation message", () => {
        const doc = yaml.load(labFileBefore) as any;
        const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lab-bad-patch-")), "Pulumi.lab.yaml");
        doc.config = { ...(yaml.load(fs.readFileSync(labFile, "utf8")) as any).config };
        // KubeSpan without cluster discovery: a config Talos's validator refuses.
        doc.config["homelab:cluster"].patches = {
            cluster: [{ machine: { network: { kubespan: { enabled: true } } }, cluster: { discovery: { enabled: false } } }],
        };
        doc.encryptionsalt = (yaml.load(fs.readFileSync(labFile, "utf8")) as any).encryptionsalt;
        fs.writeFileSync(bad, yaml.dump(doc, { lineWidth: -1 }));
        const up = pulumiLab("up", "--yes", "--config-file", bad);
        fs.rmSync(path.dirname(bad), { recursive: true });
        assert.notStrictEqual(up.status, 0);
        assert.match(up.out, /\.cluster\.discovery should be enabled when \.machine\.network\.kubespan is enabled/);
        assert.strictEqual(pulumiLab("preview", "--expect-no-changes").status, 0, "the failed change left the stack as it was");
    });
});

describe("destroying the lab stack @engine @lab", function () {
    this.timeout(900_000);
    let kubeconfig = "";
    before(() => {
        kubeconfig = deployedLab();
    });

    it("keeps every dataset and its data, and every namespace holding a claim, through `pulumi destroy`", async () => {
        const mount = zfs("get", "-H", "-o", "value", "mountpoint", "default/k8s-pv/iscsi");
        fs.writeFileSync(path.join(mount, "volume.img"), "blocks\n");
        // A claim in a namespace the stack made, as Grafana's or a workload's would be.
        const kube = kubeFrom(kubeconfig);
        const claim = {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: "keep-me" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } }, storageClassName: "truenas-iscsi" },
        };
        const made = await kubeRequest(kube, "POST", "/api/v1/namespaces/monitoring/persistentvolumeclaims", claim);
        assert.ok([201, 409].includes(made.status), made.body);

        const d = pulumiLab("destroy", "--yes");
        assert.strictEqual(d.status, 0, d.out.slice(-3000));
        assert.strictEqual(fs.readFileSync(path.join(mount, "volume.img"), "utf8"), "blocks\n");
        assert.strictEqual(zfs("list", "-H", "-o", "name", "-r", "default").split("\n").length, 7);
        // Positive control: destroy did delete what holds no data (the root Application).
        assert.strictEqual((await kubeGet(kubeconfig, "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root")).status, 404);
        const namespace = await kubeGet(kubeconfig, "/api/v1/namespaces/monitoring");
        assert.strictEqual(namespace.status, 200, namespace.body);
        assert.strictEqual(JSON.parse(namespace.body).status.phase, "Active", "the namespace is not being deleted");
        assert.strictEqual((await kubeGet(kubeconfig, "/api/v1/namespaces/monitoring/persistentvolumeclaims/keep-me")).status, 200);
        assert.deepStrictEqual(names((await kubeGet(kubeconfig, "/apis/storage.k8s.io/v1/storageclasses")).body), ["truenas-iscsi", "truenas-nfs"]);

        // The node keeps the destroyed cluster's identity, as a real one would until reset: reset
        // the lab so the next `npm run lab` starts from a bare node again.
        sh("bash", ["lab/down.sh"]);
        fs.rmSync(path.join(lab, "talos"), { recursive: true, force: true });
        deployedKubeconfig = undefined;
    });
});
