// ZFS datasets on the NAS, over SSH with @pulumi/command: created or adopted, their properties
// reconciled in place, never destroyed unless a dataset's config says so.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { DatasetConfig, NasConfig } from "../../stacks/config";
import { DriftSentinel, DynamicProvider, SentinelConnection } from "./drift";
import { destroyDatasetScript, ensureDatasetScript, managedProperties, withDriftGeneration } from "./zfs";

export interface NasDatasetsArgs {
    /** The validated nas section of the stack config. */
    readonly nas: NasConfig;
    /** Private key of the NAS SSH user (secret). */
    readonly privateKey: pulumi.Input<string>;
    /** The value of the managed-by property: which project and stack own the datasets. */
    readonly owner: string;
    readonly commandProvider: pulumi.ProviderResource;
}

/** Dataset names democratic-csi provisions under, as the NAS component made them. */
export interface CsiDatasets {
    readonly iscsi: { readonly parent: pulumi.Output<string>; readonly snapshots: pulumi.Output<string> };
    readonly nfs: { readonly parent: pulumi.Output<string>; readonly snapshots: pulumi.Output<string> };
}

export class NasDatasets extends pulumi.ComponentResource {
    /** Each dataset's command, by dataset name; its stdout says what the last run changed. */
    public readonly datasets: Readonly<Record<string, command.remote.Command>>;
    /** The CSI parents, resolving only once those datasets exist (so drivers wait for them). */
    public readonly csi: CsiDatasets;

    constructor(name: string, args: NasDatasetsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:nas:Datasets", name, {}, opts);
        const { nas } = args;
        const privateKey = pulumi.secret(args.privateKey);
        const connection: command.types.input.remote.ConnectionArgs = {
            host: nas.host,
            port: nas.port,
            user: nas.user,
            privateKey,
            // Pinned: without hostKey the provider accepts any key the network presents.
            hostKey: nas.hostKey,
            dialErrorLimit: 3,
            perDialTimeout: 15,
        };
        const sentinelConnection: pulumi.Output<SentinelConnection> = privateKey.apply(key => ({
            host: nas.host,
            port: nas.port,
            user: nas.user,
            hostKey: nas.hostKey,
            privateKey: key,
            sudo: nas.sudo,
            zfsPath: nas.zfsPath,
        }));

        const sentinels = new DynamicProvider(`${name}-drift`, { parent: this });
        const datasets: Record<string, command.remote.Command> = {};
        for (const dataset of nas.datasets) {
            const parent = datasets[parentName(dataset.name)];
            datasets[dataset.name] = this.dataset(name, dataset, args, connection, sentinelConnection, sentinels, parent);
        }
        this.datasets = datasets;

        const made = (datasetName: string) => datasets[datasetName].stdout.apply(() => datasetName);
        this.csi = {
            iscsi: { parent: made(nas.csi.iscsi.parent), snapshots: made(nas.csi.iscsi.snapshots) },
            nfs: { parent: made(nas.csi.nfs.parent), snapshots: made(nas.csi.nfs.snapshots) },
        };
        this.registerOutputs({});
    }

    private dataset(
        prefix: string,
        dataset: DatasetConfig,
        args: NasDatasetsArgs,
        connection: command.types.input.remote.ConnectionArgs,
        sentinelConnection: pulumi.Output<SentinelConnection>,
        sentinels: DynamicProvider,
        parent: command.remote.Command | undefined,
    ): command.remote.Command {
        // The dataset name is the resource name: renaming a dataset in config is a new dataset,
        // and the old one is kept (retainOnDelete) unless it allowed destruction.
        const resourceName = `${prefix}-${dataset.name}`;
        const sentinel = new DriftSentinel(
            `${resourceName}-drift`,
            {
                connection: sentinelConnection,
                dataset: dataset.name,
                desired: managedProperties(dataset, args.owner),
            },
            { parent: this, provider: sentinels },
        );
        const ensure = ensureDatasetScript(args.nas, dataset, args.owner);
        return new command.remote.Command(
            resourceName,
            {
                connection,
                create: ensure,
                // A changed generation (drift found by a refresh) changes the update script, so the
                // ensure script re-runs in place. It travels in the script text: the command provider
                // sends `environment` as SSH env requests, which TrueNAS's sshd (no AcceptEnv) refuses.
                update: sentinel.generation.apply(generation => withDriftGeneration(ensure, generation)),
                delete: dataset.allowDestroy ? destroyDatasetScript(args.nas, dataset) : undefined,
                // The previous output would travel the same way; the scripts do not need it.
                addPreviousOutputInEnv: false,
                logging: command.types.enums.remote.Logging.StdoutAndStderr,
            },
            {
                parent: this,
                provider: args.commandProvider,
                dependsOn: parent ? [parent] : [],
                retainOnDelete: !dataset.allowDestroy,
                // The script is how a dataset converges; changing it must never replace (destroy) it.
                deleteBeforeReplace: false,
            },
        );
    }
}

function parentName(name: string): string {
    return name.slice(0, Math.max(0, name.lastIndexOf("/")));
}
