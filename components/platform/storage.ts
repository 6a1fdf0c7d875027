// Storage: democratic-csi twice over the NAS's SSH drivers, iSCSI block volumes and NFS shares,
// each provisioning under the datasets the NAS component made, each with its driver config (SSH
// key, API key) in a Secret.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { NasConfig, PlatformConfig } from "../../stacks/config";
import type { CsiDatasets } from "../nas/datasets";
import { helmRelease, platformNamespace, ReleaseSettings, secretData } from "./helm";
import * as v from "./values";

export interface StorageArgs {
    readonly democraticCsi: ReleaseSettings;
    /** The driver image, pinned (the chart's default is `latest`). */
    readonly image: PlatformConfig["democraticCsi"]["image"];
    /** Each driver's CSI name and StorageClass, as the cluster's volumes already know them. */
    /** Each driver's names and its target, extent or share settings (platform.democraticCsi). */
    readonly names: Pick<PlatformConfig["democraticCsi"], v.CsiProtocol>;
    readonly nas: NasConfig;
    /** The datasets democratic-csi provisions under (the drivers wait until they exist). */
    readonly datasets: CsiDatasets;
    /** The NAS user's private key and a TrueNAS API key (secrets). */
    readonly nasSshPrivateKey: pulumi.Input<string>;
    readonly truenasApiKey: pulumi.Input<string>;
    readonly provider: k8s.Provider;
}

export class Storage extends pulumi.ComponentResource {
    /** One release per protocol. */
    public readonly drivers: Readonly<Record<v.CsiProtocol, k8s.helm.v3.Release>>;
    /** The StorageClass names, resolving once their driver is installed. */
    public readonly storageClasses: Readonly<Record<v.CsiProtocol, pulumi.Output<string>>>;

    constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Storage", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        // The node plugin mounts the host's devices and filesystems: a privileged namespace.
        const namespace = platformNamespace(name, v.platformNamespaces.democraticCsi, o, v.privilegedNamespaceLabels);
        const driver = (protocol: v.CsiProtocol) => {
            const datasets = args.datasets[protocol];
            const driverConfig = pulumi
                .all([args.nasSshPrivateKey, args.truenasApiKey, datasets.parent, datasets.snapshots])
                .apply(([privateKey, apiKey, parent, snapshots]) =>
                    JSON.stringify(
                        v.driverConfig({
                            protocol,
                            nasHost: args.nas.host,
                            nasPort: args.nas.port,
                            nasUser: args.nas.user,
                            sudo: args.nas.sudo,
                            zfsPath: args.nas.zfsPath,
                            datasetParent: parent,
                            snapshotParent: snapshots,
                            privateKey,
                            apiKey,
                            iscsi: args.names.iscsi,
                            nfs: args.names.nfs,
                        }),
                    ),
                );
            const secret = new k8s.core.v1.Secret(
                `${name}-csi-${protocol}-config`,
                {
                    metadata: { name: `democratic-csi-${protocol}-driver-config`, namespace: namespace.metadata.name },
                    // JSON is YAML: the driver reads this key as its config file.
                    data: secretData({ "driver-config-file.yaml": driverConfig }),
                },
                o,
            );
            return helmRelease(
                name,
                `democratic-csi-${protocol}`,
                args.democraticCsi,
                namespace,
                secret.metadata.name.apply(secretName => v.democraticCsiValues(protocol, secretName, args.image, args.names[protocol])),
                o,
            );
        };
        this.drivers = { iscsi: driver("iscsi"), nfs: driver("nfs") };
        const classOf = (protocol: v.CsiProtocol) => this.drivers[protocol].status.apply(() => args.names[protocol].storageClass);
        this.storageClasses = { iscsi: classOf("iscsi"), nfs: classOf("nfs") };
        this.registerOutputs({ drivers: this.drivers, storageClasses: this.storageClasses });
    }
}
