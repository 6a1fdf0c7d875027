// etcd snapshots of a stack's cluster, kept on its NAS, and the restore that starts from one.
//
//   npm run etcd-backup -- <stack>                 snapshot now, store it, prune by retention
//   npm run etcd-restore -- <stack> [<snapshot>]   recover a node that lost etcd (default: newest)
//
// Backup: the first control plane streams a snapshot (Talos EtcdSnapshot, with the stack's
// talosconfig) straight into one SSH session that writes it into the nas.etcdBackups dataset
// (the host key pinned; written as a hidden .part file and renamed, so a broken transfer never
// looks like a snapshot). A second session deletes what the retention rule
// (components/backup/retention.ts) no longer keeps.
// Restore: the snapshot comes back over SSH, goes to the node with EtcdRecover, and
// Bootstrap(recover_etcd) starts etcd from it; the API server then serves what the snapshot held.
// The Talos calls are toolchain/talos-ops's (on Talos's own client library, built by set-up onto
// PATH), with the talosconfig on its stdin.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { PassThrough, Readable } from "stream";
import { snapshotsToKeep } from "../components/backup/retention";
import { listScript, pruneScript, readScript, snapshotName, snapshotsIn, SnapshotStore, storeScript, takenAt } from "../components/backup/remote";
import { StackSettings } from "../stacks/config";
import { kubeFrom, kubeRequest, secretConfig, secretOutput, sshRun, stackSettings } from "./stack-access";

class UsageError extends Error {}

interface Target {
    settings: StackSettings;
    store: SnapshotStore;
    privateKey: string;
    node: string;
}

function target(stack: string): Target {
    const settings = stackSettings(stack);
    const dataset = settings.nas.etcdBackups?.dataset;
    if (dataset === undefined) {
        throw new UsageError(`homelab:nas.etcdBackups is not set in Pulumi.${stack}.yaml: name the dataset snapshots go to`);
    }
    const node = settings.cluster.nodes.find(n => n.role === "controlplane")!.address;
    const store = { sudo: settings.nas.sudo, zfsPath: settings.nas.zfsPath, dataset };
    return { settings, store, privateKey: secretConfig(stack, "nasSshPrivateKey"), node };
}

/**
 * Runs `talos-ops <command> --node <node> --endpoint <node> ...` with the talosconfig on its stdin
 * (it holds the client key: never an argument or a file). `exited` resolves when it exits 0 and
 * rejects with its one-line error (as "Talos <call> on <node>: ...", without its own prefix).
 */
function talosOps(command: string, node: string, talosconfig: string, args: string[] = []) {
    const child = spawn("talos-ops", [command, "--node", node, "--endpoint", node, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
    });
    // A tool that exits before reading stdin (a bad invocation) says why on stderr.
    child.stdin.on("error", () => undefined);
    child.stdin.end(talosconfig);
    const exited = new Promise<void>((resolve, reject) => {
        child.on("error", e => reject(new Error(`talos-ops: ${e.message} (npm run setup builds it onto PATH)`)));
        child.on("close", (code, signal) => {
            if (code === 0) return resolve();
            const line = stderr.trim().split("\n").pop() || `exited with ${code ?? signal}`;
            reject(new Error(line.replace(/^talos-ops( [a-z-]+)?: /, "")));
        });
    });
    return { stdout: child.stdout, exited };
}

/**
 * The snapshot as `talos-ops etcd-snapshot` streams it: it ends only when the tool exits 0, and
 * fails with the tool's error otherwise, so a broken transfer never ends like a whole snapshot.
 */
function etcdSnapshot(node: string, talosconfig: string): { snapshot: Readable; done: Promise<void> } {
    const ops = talosOps("etcd-snapshot", node, talosconfig);
    const snapshot = new PassThrough();
    // sshRun listens for errors once its session is open; until then a failure is `done`'s.
    snapshot.on("error", () => undefined);
    ops.stdout.pipe(snapshot, { end: false });
    ops.exited.then(
        () => snapshot.end(),
        (e: Error) => snapshot.destroy(e),
    );
    return { snapshot, done: ops.exited };
}

async function backup(stack: string): Promise<void> {
    const t = target(stack);
    const name = snapshotName(new Date());
    const { snapshot, done } = etcdSnapshot(t.node, secretOutput(stack, "talosconfig"));
    const [listing] = await Promise.all([sshRun(t.settings.nas, t.privateKey, storeScript(t.store, name), snapshot), done]);
    const all = snapshotsIn(listing.toString());
    console.log(`stored ${name} in ${t.store.dataset} on ${t.settings.nas.host}`);

    const retention = t.settings.nas.etcdBackups!.retention;
    const keep = snapshotsToKeep(
        all.map(n => takenAt(n)!),
        retention,
    );
    const prune = all.filter(n => !keep.has(takenAt(n)!.getTime()));
    if (prune.length > 0) await sshRun(t.settings.nas, t.privateKey, pruneScript(t.store, prune));
    console.log(
        `kept ${all.length - prune.length} snapshot(s) (${retention.daily} daily, ${retention.weekly} weekly, ${retention.monthly} monthly), pruned ${prune.length}`,
    );
}

async function restore(stack: string, wanted?: string): Promise<void> {
    const t = target(stack);
    const all = snapshotsIn((await sshRun(t.settings.nas, t.privateKey, listScript(t.store))).toString());
    const name = wanted ?? all[all.length - 1];
    if (name === undefined) throw new UsageError(`no etcd snapshot in ${t.store.dataset} on ${t.settings.nas.host}`);
    if (!all.includes(name)) throw new UsageError(`no snapshot ${name} in ${t.store.dataset}; there are: ${all.join(", ") || "none"}`);
    const snapshot = await sshRun(t.settings.nas, t.privateKey, readScript(t.store, name));
    console.log(`fetched ${name} (${snapshot.length} bytes) from ${t.settings.nas.host}`);

    // talos-ops reads the snapshot from a file: in a private directory (the wrappers' TMPDIR,
    // 0700 and removed after the command), deleted as soon as the node has it.
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "etcd-restore-"));
    try {
        const file = path.join(dir, name);
        fs.writeFileSync(file, snapshot, { mode: 0o600 });
        const ops = talosOps("etcd-recover", t.node, secretOutput(stack, "talosconfig"), ["--snapshot", file]);
        // Its first line says the node has the snapshot and the bootstrap from it begins.
        readline.createInterface({ input: ops.stdout }).on("line", line => {
            if (!line.startsWith(`node ${t.node} received the snapshot`)) return;
            fs.rmSync(file, { force: true });
            console.log(`uploaded it to ${t.node}; bootstrapping etcd from it`);
        });
        await ops.exited;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }

    const kube = kubeFrom(secretOutput(stack, "kubeconfig"));
    for (let i = 0; ; i++) {
        const ready = await kubeRequest(kube, "GET", "/readyz").catch(() => ({ status: 0, body: "" }));
        if (ready.status === 200) break;
        if (i === 120) throw new Error(`${kube.server.origin} is not ready 2 minutes after the restore`);
        await new Promise(r => setTimeout(r, 1000));
    }
    console.log(`restored ${stack} from ${name}: ${kube.server.origin} is ready`);
}

async function main([command, stack, snapshot]: string[]): Promise<void> {
    if (!stack) throw new UsageError("usage: npm run etcd-backup -- <stack> | npm run etcd-restore -- <stack> [<snapshot>]");
    if (command === "backup") return backup(stack);
    if (command === "restore") return restore(stack, snapshot);
    throw new UsageError(`unknown command ${command}`);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch(e => {
        console.error(`etcd-${process.argv[2]}: ${e instanceof Error ? e.message : e}`);
        process.exit(e instanceof UsageError ? 2 : 1);
    });
}
