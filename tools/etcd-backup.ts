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
import { snapshotsToKeep } from "../components/backup/retention";
import { listScript, pruneScript, readScript, snapshotName, snapshotsIn, SnapshotStore, storeScript, takenAt } from "../components/backup/remote";
import { StackSettings } from "../stacks/config";
import { kubeFrom, kubeRequest, secretConfig, secretOutput, sshRun, stackSettings } from "./stack-access";
import { bootstrapRecover, etcdRecover, etcdSnapshot, talosClient } from "./talos-api";

class UsageError extends Error {}

interface Target { settings: StackSettings; store: SnapshotStore; privateKey: string; node: string }

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

async function backup(stack: string): Promise<void> {
    const t = target(stack);
    const name = snapshotName(new Date());
    const talos = talosClient(secretOutput(stack, "talosconfig"), t.node);
    const listing = await sshRun(t.settings.nas, t.privateKey, storeScript(t.store, name), etcdSnapshot(talos));
    talos.client.close();
    const all = snapshotsIn(listing.toString());
    console.log(`stored ${name} in ${t.store.dataset} on ${t.settings.nas.host}`);

    const retention = t.settings.nas.etcdBackups!.retention;
    const keep = snapshotsToKeep(all.map(n => takenAt(n)!), retention);
    const prune = all.filter(n => !keep.has(takenAt(n)!.getTime()));
    if (prune.length > 0) await sshRun(t.settings.nas, t.privateKey, pruneScript(t.store, prune));
    console.log(`kept ${all.length - prune.length} snapshot(s) (${retention.daily} daily, ${retention.weekly} weekly, ${retention.monthly} monthly), pruned ${prune.length}`);
}

async function restore(stack: string, wanted?: string): Promise<void> {
    const t = target(stack);
    const all = snapshotsIn((await sshRun(t.settings.nas, t.privateKey, listScript(t.store))).toString());
    const name = wanted ?? all[all.length - 1];
    if (name === undefined) throw new UsageError(`no etcd snapshot in ${t.store.dataset} on ${t.settings.nas.host}`);
    if (!all.includes(name)) throw new UsageError(`no snapshot ${name} in ${t.store.dataset}; there are: ${all.join(", ") || "none"}`);
    const snapshot = await sshRun(t.settings.nas, t.privateKey, readScript(t.store, name));
    console.log(`fetched ${name} (${snapshot.length} bytes) from ${t.settings.nas.host}`);

    const talos = talosClient(secretOutput(stack, "talosconfig"), t.node);
    await etcdRecover(talos, snapshot);
    console.log(`uploaded it to ${t.node}; bootstrapping etcd from it`);
    await bootstrapRecover(talos);
    talos.client.close();

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
    // Talos nodes are addressed by IP and their certificates name the IP; Node.js warns that a TLS
    // server name should not be one, on every connection. Nothing else here is deprecated.
    process.noDeprecation = true;
    main(process.argv.slice(2)).catch(e => {
        console.error(`etcd-${process.argv[2]}: ${e instanceof Error ? e.message : e}`);
        process.exit(e instanceof UsageError ? 2 : 1);
    });
}
