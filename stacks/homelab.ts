// The homelab, composed from validated config: Talos node(s) → Kubernetes provider → platform,
// with the NAS datasets alongside. index.ts calls this; tests call it under mocks.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as talos from "@pulumiverse/talos";
import { EtcdBackupJob } from "../components/backup/job";
import { NasDatasets } from "../components/nas/datasets";
import { Platform } from "../components/platform/platform";
import { TalosCluster } from "../components/talos/cluster";
import type { StackConfig } from "./config";
import { retainData } from "./retain";

export interface Homelab {
    readonly talos: TalosCluster;
    readonly nas: NasDatasets;
    readonly platform: Platform;
    /** The provider every Kubernetes resource uses: built from the cluster's own kubeconfig. */
    readonly kubernetes: k8s.Provider;
    readonly kubeconfig: pulumi.Output<string>;
    readonly talosconfig: pulumi.Output<string>;
}

export function defineHomelab(config: StackConfig): Homelab {
    // Every Kubernetes object that holds data, below these components, is kept on delete.
    const retained = { transformations: [retainData] };
    const commandProvider = new command.Provider("command", {});
    const talosProvider = new talos.Provider("talos", {});
    const cluster = new TalosCluster(config.cluster.name, {
        cluster: config.cluster,
        adoptedSecrets: config.secrets.talosSecrets,
        provider: talosProvider,
        commandProvider,
    });

    const kubernetes = new k8s.Provider(
        "kubernetes",
        {
            kubeconfig: cluster.kubeconfig,
            // Server-side apply lets Helm-managed and Pulumi-managed fields coexist.
            enableServerSideApply: true,
        },
        // A Talos upgrade reboots its node and takes the API server with it: nothing is applied
        // to the cluster until every node has rolled (a no-op when no version changed).
        { dependsOn: [cluster.ready, ...Object.values(cluster.upgrades)] },
    );

    const nas = new NasDatasets("nas", {
        nas: config.nas,
        privateKey: config.secrets.nasSshPrivateKey,
        owner: `${pulumi.getProject()}/${config.stack}`,
        commandProvider,
    });

    // Nightly etcd snapshots to the NAS, from inside the cluster (npm run etcd-backup does the
    // same from a laptop); waits for the backup dataset.
    const backups = config.nas.etcdBackups;
    if (backups !== undefined) {
        new EtcdBackupJob(
            "etcd-backup",
            {
                schedule: backups.schedule,
                node: config.cluster.nodes.find(n => n.role === "controlplane")!.address,
                talosVersion: config.cluster.talosVersion,
                storeImage: backups.storeImage,
                nas: config.nas,
                store: { sudo: config.nas.sudo, zfsPath: config.nas.zfsPath, dataset: backups.dataset },
                retention: backups.retention,
                nasPrivateKey: config.secrets.nasSshPrivateKey,
                dataset: nas.datasets[backups.dataset],
                provider: kubernetes,
            },
            retained,
        );
    }

    const platform = new Platform(
        "platform",
        {
            config,
            csiDatasets: nas.csi,
            kubernetes,
            random: new random.Provider("random", {}),
            command: commandProvider,
        },
        retained,
    );

    return {
        talos: cluster,
        nas,
        platform,
        kubernetes,
        kubeconfig: cluster.kubeconfig,
        talosconfig: cluster.talosconfig,
    };
}
