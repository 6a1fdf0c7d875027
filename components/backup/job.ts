// The in-cluster etcd backup: a CronJob in kube-system whose pod
//   1. takes a snapshot with talosctl, authenticated by a Talos ServiceAccount that holds only
//      the os:etcd:backup role (the machine config's kubernetesTalosAPIAccess allows exactly that);
//   2. stores it on the NAS and prunes by the retention rule, with the same NAS layout and the
//      same pure functions as `npm run etcd-backup` (components/backup/remote.ts, retention.ts),
//      shipped to the pod as code by Pulumi's function serialization.
// The NAS is reached over SSH with the stack's key and the pinned host key; nothing else.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { snapshotsToKeep, RetentionPolicy } from "./retention";
import { pruneScript, snapshotName, snapshotsIn, SnapshotStore, storeScript, takenAt } from "./remote";

/** What the job's store step needs, passed as JSON in its environment. */
export interface StoreStepConfig {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly store: SnapshotStore;
    readonly retention: RetentionPolicy;
    readonly snapshotFile: string;
    readonly keyFile: string;
    readonly knownHostsFile: string;
}

/**
 * The store step, run by node in the job's pod (and by the tests, against the lab NAS): sends
 * the snapshot talosctl wrote, then deletes what the retention rule no longer keeps.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async: its errors become the rejection the runner reports
export async function storeStep(): Promise<void> {
    // Required in the body: this function is serialized and runs alone in the job's pod.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execFileSync } = require("child_process") as typeof import("child_process");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require("fs") as typeof import("fs");
    const cfg = JSON.parse(process.env.ETCD_BACKUP_CONFIG ?? "") as StoreStepConfig;
    const ssh = (script: string, input?: Buffer) =>
        execFileSync(
            "ssh",
            [
                "-i",
                cfg.keyFile,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                `UserKnownHostsFile=${cfg.knownHostsFile}`,
                "-o",
                "StrictHostKeyChecking=yes",
                "-p",
                String(cfg.port),
                `${cfg.user}@${cfg.host}`,
                script,
            ],
            { input, maxBuffer: 1 << 30 },
        );
    const name = snapshotName(new Date());
    const all = snapshotsIn(ssh(storeScript(cfg.store, name), fs.readFileSync(cfg.snapshotFile)).toString());
    const keep = snapshotsToKeep(
        all.map(n => takenAt(n)!),
        cfg.retention,
    );
    const prune = all.filter(n => !keep.has(takenAt(n)!.getTime()));
    if (prune.length > 0) ssh(pruneScript(cfg.store, prune));
    console.log(`stored ${name} in ${cfg.store.dataset}; kept ${all.length - prune.length}, pruned ${prune.length}`);
}

/** The store step as a script node can run on its own. */
export async function storeStepScript(): Promise<string> {
    const { text, exportName } = await pulumi.runtime.serializeFunction(storeStep, { isFactoryFunction: false });
    return `${text}\nexports.${exportName}().catch(e => { console.error(e.message); process.exit(1); });\n`;
}

/** `[host]:port key` for a non-standard port, as OpenSSH's known_hosts wants it. */
export function knownHostsLine(host: string, port: number, hostKey: string): string {
    return `${port === 22 ? host : `[${host}]:${port}`} ${hostKey}\n`;
}

export interface EtcdBackupJobArgs {
    readonly schedule: string;
    /** The control plane whose etcd is snapshotted. */
    readonly node: string;
    readonly talosVersion: string;
    /** The image the store step runs in: Node.js with an OpenSSH client already installed. */
    readonly storeImage: string;
    readonly nas: { host: string; port: number; user: string; hostKey: string };
    readonly store: SnapshotStore;
    readonly retention: RetentionPolicy;
    readonly nasPrivateKey: pulumi.Output<string>;
    /** The backup dataset's resource: the job is scheduled only once the dataset exists. */
    readonly dataset: pulumi.Resource;
    readonly provider: k8s.Provider;
}

export class EtcdBackupJob extends pulumi.ComponentResource {
    constructor(name: string, args: EtcdBackupJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:backup:EtcdBackupJob", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        const namespace = "kube-system";

        // Talos answers this with a Secret of the same name holding a talosconfig for the role.
        const account = new k8s.apiextensions.CustomResource(
            `${name}-talos-account`,
            {
                apiVersion: "talos.dev/v1alpha1",
                kind: "ServiceAccount",
                metadata: { name: "etcd-backup", namespace },
                spec: { roles: ["os:etcd:backup"] },
            },
            o,
        );
        const sshSecret = new k8s.core.v1.Secret(
            `${name}-nas-ssh`,
            {
                metadata: { name: "etcd-backup-nas", namespace },
                data: pulumi.secret(
                    args.nasPrivateKey.apply(key => ({
                        id: Buffer.from(key.endsWith("\n") ? key : `${key}\n`).toString("base64"),
                        known_hosts: Buffer.from(knownHostsLine(args.nas.host, args.nas.port, args.nas.hostKey)).toString("base64"),
                    })),
                ),
            },
            o,
        );
        const script = new k8s.core.v1.ConfigMap(
            `${name}-script`,
            {
                metadata: { name: "etcd-backup-script", namespace },
                data: { "store.js": pulumi.output(storeStepScript()) },
            },
            o,
        );

        const config: StoreStepConfig = {
            host: args.nas.host,
            port: args.nas.port,
            user: args.nas.user,
            store: args.store,
            retention: args.retention,
            snapshotFile: "/backup/etcd.db",
            keyFile: "/nas/id",
            knownHostsFile: "/nas/known_hosts",
        };
        new k8s.batch.v1.CronJob(
            `${name}-cronjob`,
            {
                metadata: { name: "etcd-backup", namespace },
                spec: {
                    schedule: args.schedule,
                    concurrencyPolicy: "Forbid",
                    successfulJobsHistoryLimit: 3,
                    failedJobsHistoryLimit: 3,
                    jobTemplate: {
                        spec: {
                            backoffLimit: 2,
                            template: {
                                spec: {
                                    restartPolicy: "OnFailure",
                                    initContainers: [
                                        {
                                            name: "snapshot",
                                            image: `ghcr.io/siderolabs/talosctl:${args.talosVersion}`,
                                            args: ["--nodes", args.node, "--endpoints", args.node, "etcd", "snapshot", "/backup/etcd.db"],
                                            volumeMounts: [
                                                { name: "talos", mountPath: "/var/run/secrets/talos.dev", readOnly: true },
                                                { name: "backup", mountPath: "/backup" },
                                            ],
                                        },
                                    ],
                                    containers: [
                                        {
                                            name: "store",
                                            image: args.storeImage,
                                            command: ["node", "/script/store.js"],
                                            env: [{ name: "ETCD_BACKUP_CONFIG", value: JSON.stringify(config) }],
                                            volumeMounts: [
                                                { name: "backup", mountPath: "/backup", readOnly: true },
                                                { name: "script", mountPath: "/script", readOnly: true },
                                                { name: "nas", mountPath: "/nas", readOnly: true },
                                            ],
                                        },
                                    ],
                                    volumes: [
                                        { name: "talos", secret: { secretName: "etcd-backup" } },
                                        { name: "backup", emptyDir: {} },
                                        { name: "script", configMap: { name: "etcd-backup-script" } },
                                        { name: "nas", secret: { secretName: "etcd-backup-nas", defaultMode: 0o400 } },
                                    ],
                                },
                            },
                        },
                    },
                },
            },
            { ...o, dependsOn: [account, sshSecret, script, args.dataset] },
        );
        this.registerOutputs({});
    }
}
