// @engine @lab: etcd backups to the lab NAS, pruned by the retention rule, and a restore that
// brings a node which lost etcd back to what the snapshot held, through the real etcdutl.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { snapshotsToKeep } from "../components/backup/retention";
import { storeStepScript } from "../components/backup/job";
import { snapshotName as nameFor, takenAt } from "../components/backup/remote";
import { Kube, kubeFrom, kubeRequest } from "../tools/stack-access";
import { root } from "./stackfiles";

const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase") };
const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", env, timeout: 600_000 });
    return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
};
const npm = (script: string, ...args: string[]) => run("npm", ["run", "--silent", script, "--", ...args]);
const backupDir = () =>
    execFileSync("/usr/sbin/zfs", ["get", "-H", "-o", "value", "mountpoint", "default/etcd-backups"], { encoding: "utf8" }).trim();
const snapshots = () =>
    fs
        .readdirSync(backupDir())
        .filter(n => takenAt(n) !== undefined)
        .sort();

const configMap = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: { note: name } });

describe("etcd backup and restore in the lab @engine @lab", function () {
    this.timeout(900_000);
    let kube: Kube;

    before(() => {
        const lab = npm("lab");
        assert.strictEqual(lab.status, 0, lab.out.slice(-3000));
        kube = kubeFrom(
            run("npm", ["run", "--silent", "pulumi", "--", "stack", "output", "kubeconfig", "--show-secrets", "--stack", "lab"]).out.trim(),
        );
        for (const n of snapshots()) fs.rmSync(path.join(backupDir(), n));
    });

    it("stores a snapshot on the NAS and prunes a simulated year of nightly snapshots to 7 daily, 4 weekly, 12 monthly", () => {
        // A year of nightly snapshots, as if the job had run every night until yesterday.
        const now = Date.now();
        const year = Array.from(
            { length: 365 },
            (_, i) => new Date(Math.floor(now / 86_400_000) * 86_400_000 - (i + 1) * 86_400_000 + 3 * 3_600_000),
        );
        for (const t of year) fs.writeFileSync(path.join(backupDir(), nameFor(t)), "old snapshot\n");
        const r = npm("etcd-backup", "lab");
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /stored etcd-\S+Z\.db in default\/etcd-backups on 127\.0\.10\.3/);
        const stored = /stored (etcd-\S+Z\.db)/.exec(r.out)![1];
        const expected = snapshotsToKeep([...year, takenAt(stored)!]);
        assert.deepStrictEqual(
            snapshots()
                .map(n => takenAt(n)!.getTime())
                .sort(),
            [...expected].sort(),
        );
        assert.match(r.out, new RegExp(`kept ${expected.size} snapshot\\(s\\) \\(7 daily, 4 weekly, 12 monthly\\), pruned ${366 - expected.size}`));
        // The new snapshot is a real etcd database: the real etcdutl reads it.
        const kubeBin = path.join(process.env.HOMELAB_CACHE ?? path.join(process.env.HOME!, ".cache/homelab-iac"), "bin/kube-v1.34.1");
        const status = execFileSync(path.join(kubeBin, "etcdutl"), ["snapshot", "status", path.join(backupDir(), stored), "-w", "json"], {
            encoding: "utf8",
        });
        assert.ok(JSON.parse(status).totalKey > 100, status);
    });

    it("restores a node that lost etcd to what the snapshot held", async () => {
        for (const name of ["before-backup", "after-backup"]) await kubeRequest(kube, "DELETE", `/api/v1/namespaces/default/configmaps/${name}`);
        assert.strictEqual((await kubeRequest(kube, "POST", "/api/v1/namespaces/default/configmaps", configMap("before-backup"))).status, 201);
        const backup = npm("etcd-backup", "lab");
        assert.strictEqual(backup.status, 0, backup.out);
        assert.strictEqual((await kubeRequest(kube, "POST", "/api/v1/namespaces/default/configmaps", configMap("after-backup"))).status, 201);

        // The node loses its etcd (its data directory), keeping its machine config.
        assert.strictEqual(run("bash", ["lab/talos/stop.sh"]).status, 0);
        fs.rmSync(path.join(root, ".lab/talos/etcd"), { recursive: true, force: true });
        fs.rmSync(path.join(root, ".lab/talos/bootstrapped"), { force: true });
        assert.strictEqual(run("bash", ["lab/talos/start.sh"]).status, 0);
        await assert.rejects(kubeRequest(kube, "GET", "/readyz"), /ECONNREFUSED|socket hang up/);

        const restore = npm("etcd-restore", "lab");
        assert.strictEqual(restore.status, 0, restore.out);
        assert.match(restore.out, /restored lab from etcd-\S+Z\.db: https:\/\/127\.0\.10\.2:6443 is ready/);
        assert.strictEqual((await kubeRequest(kube, "GET", "/api/v1/namespaces/default/configmaps/before-backup")).status, 200);
        assert.strictEqual((await kubeRequest(kube, "GET", "/api/v1/namespaces/default/configmaps/after-backup")).status, 404);
        // Everything the stack made is back: a preview finds nothing to do.
        const preview = npm("pulumi", "preview", "--stack", "lab", "--expect-no-changes");
        assert.strictEqual(preview.status, 0, preview.out.slice(-3000));
        await kubeRequest(kube, "DELETE", "/api/v1/namespaces/default/configmaps/before-backup");
    });

    it("refuses a restore onto a node whose etcd still runs, and an unknown snapshot, in one line", () => {
        const live = npm("etcd-restore", "lab");
        assert.strictEqual(live.status, 1, live.out);
        assert.match(live.out, /etcd-restore: Talos EtcdRecover on 127\.0\.10\.2: etcd data directory is not empty/);
        const unknown = npm("etcd-restore", "lab", "etcd-1999-01-01T00-00-00Z.db");
        assert.strictEqual(unknown.status, 2, unknown.out);
        assert.match(unknown.out, /etcd-restore: no snapshot etcd-1999-01-01T00-00-00Z\.db in default\/etcd-backups; there are: etcd-/);
    });

    it("the in-cluster job's store step, as shipped to the pod, stores and prunes on the NAS over OpenSSH", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-step-"));
        try {
            const get = (key: string) => run("npm", ["run", "--silent", "pulumi", "--", "config", "get", "--path", key, "--stack", "lab"]).out.trim();
            fs.writeFileSync(path.join(dir, "id"), `${get("homelab:nasSshPrivateKey")}\n`, { mode: 0o600 });
            fs.writeFileSync(path.join(dir, "known_hosts"), `[127.0.10.3]:2222 ${get("homelab:nas.hostKey")}\n`);
            fs.writeFileSync(path.join(dir, "etcd.db"), "a snapshot from talosctl\n");
            fs.writeFileSync(path.join(dir, "store.js"), await storeStepScript());
            const before = snapshots();
            const config = {
                host: "127.0.10.3",
                port: 2222,
                user: "csi",
                store: { sudo: true, zfsPath: "/usr/sbin/zfs", dataset: "default/etcd-backups" },
                retention: { daily: 7, weekly: 4, monthly: 12 },
                snapshotFile: path.join(dir, "etcd.db"),
                keyFile: path.join(dir, "id"),
                knownHostsFile: path.join(dir, "known_hosts"),
            };
            const r = spawnSync("node", [path.join(dir, "store.js")], {
                encoding: "utf8",
                env: { ...process.env, ETCD_BACKUP_CONFIG: JSON.stringify(config) },
            });
            assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
            assert.match(r.stdout, /stored etcd-\S+Z\.db in default\/etcd-backups; kept \d+, pruned \d+/);
            const added = snapshots().filter(n => !before.includes(n));
            assert.strictEqual(added.length, 1);
            assert.strictEqual(fs.readFileSync(path.join(backupDir(), added[0]), "utf8"), "a snapshot from talosctl\n");
            // A NAS presenting another host key is refused before anything is sent.
            fs.writeFileSync(
                path.join(dir, "known_hosts"),
                "[127.0.10.3]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinTheRealHostKeyOfTheTrueNASBoxHere0000\n",
            );
            const refused = spawnSync("node", [path.join(dir, "store.js")], {
                encoding: "utf8",
                env: { ...process.env, ETCD_BACKUP_CONFIG: JSON.stringify(config) },
            });
            assert.strictEqual(refused.status, 1);
            assert.match(refused.stderr, /Host key verification failed/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
