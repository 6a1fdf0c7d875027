// @engine @lab: taking over the running homelab, part 1, in the as-found lab (`npm run lab --
// --as-found`: the owner's node with its own PKI, config and patches, their datasets with data).
// adopt refuses what would mean a new PKI, previews the first up and the node's diff without
// changing anything, then adopt --apply and up converge with the owner's PKI, names, network,
// patches and data intact, exactly as the preview said.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { kubeFrom, kubeRequest } from "../tools/stack-access";
import { labDir } from "./lablogs";
import { root } from "./stackfiles";

const owner = path.join(labDir, "owner");
const machineConfig = path.join(owner, "talos/machine-configs/controlplane.sops.yaml");
const labFile = path.join(root, "Pulumi.lab.yaml");
const env = {
    ...process.env,
    PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase"),
    SOPS_AGE_KEY_FILE: path.join(owner, "age/keys.txt"),
};

interface Run {
    status: number;
    out: string;
    stdout: string;
}
function run(cmd: string, args: string[], input?: string, extra: NodeJS.ProcessEnv = {}): Run {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", input, timeout: 900_000, env: { ...env, ...extra }, maxBuffer: 256 << 20 });
    return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}
const npm = (script: string, ...args: string[]) => run("npm", ["run", "--silent", script, "--", ...args]);
const adopt = (...args: string[]) => npm("adopt", "lab", "--machine-config", machineConfig, ...args);
const talosOps = (args: string[], input: string) =>
    run("bash", ["-c", 'source toolchain/env.sh && exec talos-ops "$@"', "talos-ops", ...args], input);
const liveConfig = (talosconfig: string) => {
    const r = talosOps(["machine-config", "--node", "127.0.10.2", "--endpoint", "127.0.10.2"], talosconfig);
    assert.strictEqual(r.status, 0, r.out);
    return yaml.load(r.stdout) as any;
};
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("taking over the running homelab, part 1 @engine @lab", function () {
    this.timeout(1_800_000);
    let labFileBefore = "";
    /** The stack file once the as-found lab has written its NAS's keys into it. */
    let labFileAsFound = "";
    let talosconfig = "";
    let kubeconfig = "";
    let found: any;

    before(() => {
        labFileBefore = fs.readFileSync(labFile, "utf8");
        // The owner's homelab before the stack ever ran: a fresh lab, no stack state.
        run("bash", ["lab/down.sh"]);
        fs.rmSync(labDir, { recursive: true, force: true });
        npm("pulumi", "stack", "rm", "lab", "--force", "--yes", "--preserve-config");
        const r = npm("lab", "--as-found");
        assert.strictEqual(r.status, 0, r.out.slice(-4000));
        labFileAsFound = fs.readFileSync(labFile, "utf8");
        talosconfig = fs.readFileSync(path.join(owner, "talosconfig"), "utf8");
        kubeconfig = fs.readFileSync(path.join(owner, "kubeconfig"), "utf8");
        found = liveConfig(talosconfig);
    });

    after(() => {
        // The adopted config is this test's; the committed lab stack file is the stack's own. The
        // node keeps the owner's PKI, which that file no longer names: the next test gets a fresh
        // lab and an empty stack, not a node that would refuse the stack's new secrets.
        fs.writeFileSync(labFile, labFileBefore);
        run("bash", ["lab/down.sh"]);
        fs.rmSync(labDir, { recursive: true, force: true });
        npm("pulumi", "stack", "rm", "lab", "--force", "--yes", "--preserve-config");
    });

    it("is the owner's homelab: their talosconfig reads the node, their kubeconfig the API server, no stack state", async () => {
        assert.strictEqual(found.cluster.clusterName, "lab");
        assert.strictEqual(found.cluster.etcd.extraArgs["quota-backend-bytes"], "4294967296");
        assert.strictEqual(found.machine.install.disk, "/dev/vda");
        assert.strictEqual((await kubeRequest(kubeFrom(kubeconfig), "GET", "/readyz")).status, 200);
        assert.match(fs.readFileSync(machineConfig, "utf8"), /ENC\[AES256_GCM,/, "the config is in the repository only encrypted");
        const state = JSON.parse(npm("pulumi", "stack", "export", "--stack", "lab").stdout) as { deployment: { resources?: unknown[] } };
        assert.strictEqual((state.deployment.resources ?? []).length, 0);
    });

    it("refuses a stack that names the cluster otherwise, and a machine config of another PKI, saying why", () => {
        const doc = yaml.load(labFileAsFound) as any;
        doc.config["homelab:cluster"].name = "homelab";
        fs.writeFileSync(labFile, yaml.dump(doc, { lineWidth: -1 }));
        try {
            const renamed = adopt();
            assert.strictEqual(renamed.status, 2, renamed.out);
            assert.match(
                renamed.out,
                /homelab:cluster\.name is "homelab", but the node's cluster is "lab": .*new PKI; set homelab:cluster\.name: lab/,
            );
        } finally {
            fs.writeFileSync(labFile, labFileAsFound);
        }
        // Another cluster's config, in the owner's repository with the owner's key.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "other-pki-"));
        try {
            const secrets = talosOps(["gen-secrets"], "").stdout;
            const config = talosOps(
                [
                    "gen-config",
                    "--cluster-name",
                    "lab",
                    "--endpoint",
                    "https://127.0.10.2:6443",
                    "--kubernetes-version",
                    "v1.34.1",
                    "--talos-version",
                    "v1.11.5",
                ],
                secrets,
            );
            assert.strictEqual(config.status, 0, config.out);
            const recipient = execFileSync("age-keygen", ["-y", path.join(owner, "age/keys.txt")], { encoding: "utf8" }).trim();
            fs.writeFileSync(path.join(dir, "other.yaml"), config.stdout);
            const sealed = run("bash", [
                "-c",
                `source toolchain/env.sh && sops --encrypt --age ${recipient} --input-type yaml --output-type yaml ${dir}/other.yaml`,
            ]);
            assert.strictEqual(sealed.status, 0, sealed.out);
            fs.writeFileSync(path.join(dir, "other.sops.yaml"), sealed.stdout);
            const other = npm("adopt", "lab", "--machine-config", path.join(dir, "other.sops.yaml"));
            assert.strictEqual(other.status, 2, other.out);
            assert.match(
                other.out,
                /does not take the PKI of .*other\.sops\.yaml: it is not this node's machine config \(taking the node over with it would mean a new PKI\)/,
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    let report: any;
    it("the dry run lists the first up's changes, the node's own diff and the datasets, and changes nothing", () => {
        const file = path.join(os.tmpdir(), `adopt-report-${process.pid}.json`);
        const r = adopt("--report", file);
        assert.strictEqual(r.status, 0, r.out.slice(-4000));
        report = JSON.parse(fs.readFileSync(file, "utf8"));
        fs.rmSync(file);
        assert.match(r.out, /Dry run: nothing was changed/);
        assert.ok(report.changes.length > 0);
        assert.ok(!report.changes.some((c: { op: string }) => /replace|delete/.test(c.op)), "nothing replaced or deleted");
        assert.ok(!report.changes.some((c: { urn: string }) => /Bootstrap|machine\/secrets/.test(c.urn)), "no new PKI, no second bootstrap");
        assert.match(report.dryRun, /Config diff:/);
        assert.match(report.dryRun, /\+ +rotate-server-certificates: "true"/, "the stack adds the kubelet's serving-certificate rotation");
        assert.doesNotMatch(report.dryRun, /^- .*quota-backend-bytes/m, "the owner's etcd quota stays");
        assert.doesNotMatch(report.dryRun, /^- .*(addresses|hostname|clusterName)/m, "network and names stay");
        assert.ok(
            // The owner's share has no quota; the stack's says 100M.
            report.datasets.includes("adopt default/smb-share: set quota=100M (is none), org.homelab-iac:managed-by=homelab/lab (is unset)"),
            report.datasets.join("\n"),
        );
        assert.deepStrictEqual(liveConfig(talosconfig), found, "the node is untouched");
        assert.strictEqual(fs.readFileSync(labFile, "utf8"), labFileAsFound, "the stack file is untouched");
    });

    it("adopt --apply and up converge, as the dry run said, with the owner's PKI, names, network, patch and data intact", async () => {
        const applied = adopt("--apply");
        assert.strictEqual(applied.status, 0, applied.out.slice(-4000));
        const up = npm("pulumi", "up", "--yes", "--skip-preview", "--json", "--stack", "lab");
        assert.strictEqual(up.status, 0, up.out.slice(-4000));
        // `up --json` streams engine events, one per line; a finished step is a resOutputsEvent.
        const steps = up.stdout
            .split("\n")
            .filter(line => line.startsWith("{"))
            .map(line => JSON.parse(line) as { resOutputsEvent?: { metadata: { op: string; urn: string } } })
            .flatMap(e => (e.resOutputsEvent ? [e.resOutputsEvent.metadata] : []));
        const key = (c: { op: string; urn: string }) => `${c.op} ${c.urn}`;
        assert.deepStrictEqual(
            steps
                .filter(s => s.op !== "same")
                .map(key)
                .sort(),
            report.changes.map(key).sort(),
            "the up made exactly the changes the dry run listed",
        );

        const after = liveConfig(talosconfig); // the owner's talosconfig: the same CA
        assert.strictEqual((await kubeRequest(kubeFrom(kubeconfig), "GET", "/readyz")).status, 200, "the owner's kubeconfig still works");
        assert.strictEqual(after.cluster.clusterName, found.cluster.clusterName);
        assert.deepStrictEqual(after.machine.network, found.machine.network);
        assert.strictEqual(after.cluster.etcd.extraArgs["quota-backend-bytes"], "4294967296");
        assert.strictEqual(after.cluster.ca.crt, found.cluster.ca.crt);
        assert.strictEqual(after.machine.kubelet.extraArgs["rotate-server-certificates"], "true", "what the stack adds is there");
        const asFound = JSON.parse(fs.readFileSync(path.join(owner, "as-found.json"), "utf8")) as { files: Record<string, string> };
        for (const [file, hash] of Object.entries(asFound.files)) {
            assert.ok(fs.existsSync(file), `${file} is still there`);
            assert.strictEqual(sha256(file), hash, `${file} is unchanged`);
        }
        const again = npm("pulumi", "preview", "--expect-no-changes", "--stack", "lab");
        assert.strictEqual(again.status, 0, again.out.slice(-3000));
    });
});
