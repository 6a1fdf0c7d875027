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
import { StackSettings } from "../stacks/config";
import { kubeFrom, kubeRequest, secretConfig, secretOutput, shellQuote, sshRun, stackSettings } from "./stack-access";
import { bootstrapRecover, etcdRecover, etcdSnapshot, talosClient } from "./talos-api";

class UsageError extends Error {}

const snapshotName = /^etcd-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)Z\.db$/;

/** When a snapshot was taken, from its name (etcd-2026-11-26T03-00-00Z.db). */
export function takenAt(name: string): Date | undefined {
    const m = snapshotName.exec(name);
    return m ? new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : undefined;
}

export const nameFor = (t: Date) => `etcd-${t.toISOString().slice(0, 19).replace(/:/g, "-")}Z.db`;

interface Target { settings: StackSettings; dataset: string; privateKey: string; node: string }

function target(stack: string): Target {
    const settings = stackSettings(stack);
    const dataset = settings.nas.etcdBackups?.dataset;
    if (dataset === undefined) {
        throw new UsageError(`homelab:nas.etcdBackups is not set in Pulumi.${stack}.yaml: name the dataset snapshots go to`);
    }
    const node = settings.cluster.nodes.find(n => n.role === "controlplane")!.address;
    return { settings, dataset, privateKey: secretConfig(stack, "nasSshPrivateKey"), node };
}

/** Shell lines that set $mp to the dataset's mountpoint, and the privileged commands' prefix. */
function remote(t: Target): { mountpoint: string; sudo: string } {
    const sudo = t.settings.nas.sudo ? "sudo -n " : "";
    return { mountpoint: `mp=$(${sudo}${shellQuote(t.settings.nas.zfsPath)} get -H -o value mountpoint ${shellQuote(t.dataset)})`, sudo };
}

const listSnapshots = (out: Buffer) => out.toString().split("\n").filter(n => takenAt(n) !== undefined).sort();

async function backup(stack: string): Promise<void> {
    const t = target(stack);
    const { mountpoint, sudo } = remote(t);
    const name = nameFor(new Date());
    const talos = talosClient(secretOutput(stack, "talosconfig"), t.node);
    const part = `"$mp"/.${name}.part`;
    const listing = await sshRun(t.settings.nas, t.privateKey, [
        "set -eu", mountpoint,
        `${sudo}/usr/bin/tee ${part} >/dev/null`,
        `[ -s ${part} ] || { ${sudo}/usr/bin/rm -f ${part}; echo "empty snapshot" >&2; exit 1; }`,
        `${sudo}/usr/bin/mv ${part} "$mp"/${name}`,
        `ls -1 "$mp"`,
    ].join("\n"), etcdSnapshot(talos));
    talos.client.close();
    const all = listSnapshots(listing);
    console.log(`stored ${name} in ${t.dataset} on ${t.settings.nas.host}`);

    const retention = t.settings.nas.etcdBackups!.retention;
    const keep = snapshotsToKeep(all.map(n => takenAt(n)!), retention);
    const prune = all.filter(n => !keep.has(takenAt(n)!.getTime()));
    if (prune.length > 0) {
        await sshRun(t.settings.nas, t.privateKey, ["set -eu", mountpoint,
            `${sudo}/usr/bin/rm -f ${prune.map(n => `"$mp"/${n}`).join(" ")}`].join("\n"));
    }
    console.log(`kept ${all.length - prune.length} snapshot(s) (${retention.daily} daily, ${retention.weekly} weekly, ${retention.monthly} monthly), pruned ${prune.length}`);
}

async function restore(stack: string, wanted?: string): Promise<void> {
    const t = target(stack);
    const { mountpoint } = remote(t);
    const all = listSnapshots(await sshRun(t.settings.nas, t.privateKey, ["set -eu", mountpoint, `ls -1 "$mp"`].join("\n")));
    const name = wanted ?? all[all.length - 1];
    if (name === undefined) throw new UsageError(`no etcd snapshot in ${t.dataset} on ${t.settings.nas.host}`);
    if (!all.includes(name)) throw new UsageError(`no snapshot ${name} in ${t.dataset}; there are: ${all.join(", ") || "none"}`);
    const snapshot = await sshRun(t.settings.nas, t.privateKey, ["set -eu", mountpoint, `cat "$mp"/${name}`].join("\n"));
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
