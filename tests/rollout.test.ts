// @engine @lab: `npm run rollout` through two lab environments side by side: `lab` and `lab2`,
// a second environment made of one new stack file (its own Talos node and API server on other
// loopback addresses, its datasets under default/lab2 on the same NAS).
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { root } from "./stackfiles";

const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase") };
const run = (cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", env: { ...env, ...extraEnv }, timeout: 900_000 });
    return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
};
const npm = (script: string, ...args: string[]) => run("npm", ["run", "--silent", script, "--", ...args]);
const history = (stack: string) => (JSON.parse(npm("pulumi", "stack", "history", "--json", "--stack", stack).out) as unknown[]).length;

/** lab2: the lab's stack file moved to 127.0.11.x, with its own cluster and datasets. */
function writeLab2(): void {
    const doc = yaml.load(fs.readFileSync(path.join(root, "Pulumi.lab.yaml"), "utf8")) as any;
    const c = doc.config;
    c["homelab:cluster"].name = "lab2";
    c["homelab:cluster"].endpoint = "https://127.0.11.2:6443";
    c["homelab:cluster"].nodes = [{ ...c["homelab:cluster"].nodes[0], name: "lab2-cp1", address: "127.0.11.2" }];
    const nas = c["homelab:nas"];
    const moved = (name: string) => name.replace(/^default\//, "default/lab2/");
    nas.datasets = [{ name: "default/lab2" }, ...nas.datasets.map((d: any) => ({ ...d, name: moved(d.name) }))];
    nas.etcdBackups.dataset = moved(nas.etcdBackups.dataset);
    for (const driver of ["iscsi", "nfs"]) {
        nas.csi[driver] = { parent: moved(nas.csi[driver].parent), snapshots: moved(nas.csi[driver].snapshots) };
    }
    c["homelab:network"].metallbAddresses = ["127.0.11.100-127.0.11.110"];
    c["homelab:network"].ingressAddress = "127.0.11.100";
    c["homelab:network"].domain = "lab2.homelab.test";
    fs.writeFileSync(path.join(root, "Pulumi.lab2.yaml"), yaml.dump(doc, { lineWidth: -1 }));
}

describe("rollout through two lab environments @engine @lab", function () {
    this.timeout(1_200_000);

    before(() => {
        const lab = npm("lab");
        assert.strictEqual(lab.status, 0, lab.out.slice(-3000));
        writeLab2();
        const started = run("bash", ["lab/start.sh", "lab2"]);
        assert.strictEqual(started.status, 0, started.out.slice(-3000));
    });

    after(() => {
        run("bash", ["lab/talos/stop.sh"], { LAB_TALOS_NAME: "talos-lab2" });
        npm("pulumi", "stack", "rm", "lab2", "--force", "--yes");
        fs.rmSync(path.join(root, "Pulumi.lab2.yaml"), { force: true });
        fs.rmSync(path.join(root, ".lab/talos-lab2"), { recursive: true, force: true });
        spawnSync("/usr/sbin/zfs", ["destroy", "-r", "default/lab2"]);
    });

    it("previews, deploys and checks lab2, then lab, in that order", () => {
        const r = npm("rollout", "lab2", "lab");
        assert.strictEqual(r.status, 0, r.out.slice(-5000));
        const order = [...r.out.matchAll(/^== (\S+)|^ {3}ok {4} (\w+)/gm)].map(m => m[1] ?? m[2]);
        assert.deepStrictEqual(order, ["lab2", "preview", "up", "checks", "lab", "preview", "up", "checks"]);
        assert.match(r.out, /ok {4} api: https:\/\/127\.0\.11\.2:6443 is ready/);
        assert.match(r.out, /ok {4} releases: 8 deployed/);
        assert.match(r.out, /ok {4} datasets: 7 present on 127\.0\.10\.3/, "lab2's");
        assert.match(r.out, /ok {4} datasets: 6 present on 127\.0\.10\.3/, "lab's");
        assert.match(r.out, /rollout done: lab2 -> lab/);
        assert.strictEqual(
            execFileSync("/usr/sbin/zfs", ["list", "-H", "-o", "name", "default/lab2/k8s-pv/iscsi"], { encoding: "utf8" }).trim(),
            "default/lab2/k8s-pv/iscsi",
        );
    });

    it("stops at the first environment that fails its checks and leaves the next untouched", () => {
        const labUpdates = history("lab");
        // lab2's node goes down after its deployment: its API server no longer answers.
        assert.strictEqual(run("bash", ["lab/talos/stop.sh"], { LAB_TALOS_NAME: "talos-lab2" }).status, 0);
        const r = npm("rollout", "lab2", "lab");
        assert.strictEqual(r.status, 1, r.out.slice(-5000));
        assert.match(r.out, /FAILED api: https:\/\/127\.0\.11\.2:6443\/readyz: .*(ECONNREFUSED|timed out)/);
        assert.match(r.out, /rollout stopped: lab2 failed at checks; not started: lab/);
        assert.doesNotMatch(r.out, /^== lab$/m);
        assert.strictEqual(history("lab"), labUpdates, "no update ran on lab");
    });

    it("the drift check's certificate test: fine at 30 days, renewal due inside a 400-day window", () => {
        const fine = npm("kubeconfig-expiry", "lab", "30");
        assert.strictEqual(fine.status, 0, fine.out);
        assert.match(fine.out, /ok +lab: user .*'s certificate expires .* \(in 36\d days\)/);
        const due = npm("kubeconfig-expiry", "lab", "400");
        assert.strictEqual(due.status, 1, due.out);
        assert.match(due.out, /RENEW +lab: .*inside the 400-day renewal window: run up on the stack/);
    });
});
