// Drift detection for datasets. @pulumi/command runs scripts but never reads the remote side back,
// so a property changed by hand on the NAS would go unnoticed. Each dataset therefore has a
// sentinel: a dynamic resource that opens no SSH session except on refresh, when it reads the
// dataset's managed properties (read-only). Its diff compares them with the desired values; when
// they differ, its update bumps a generation number that the dataset's command takes as input,
// so `up --refresh` re-runs that one dataset's ensure script and restores it. A no-op `up`
// (without refresh) makes no SSH connection at all.
import * as pulumi from "@pulumi/pulumi";
import { sshRun } from "./ssh";
import { driftedProperties, parseProperties, readPropertiesScript } from "./zfs";

/** How the sentinel reaches the NAS: the same pinned host key and user as the commands. */
export interface SentinelConnection {
    host: string;
    port: number;
    user: string;
    /** `<type> <base64>`; the connection fails unless the NAS presents exactly this key. */
    hostKey: string;
    privateKey: string;
    sudo: boolean;
    zfsPath: string;
}

interface SentinelState extends SentinelConnection {
    dataset: string;
    desired: Record<string, string>;
    /** What the NAS had at the last refresh; the desired values until the first refresh. */
    observed: Record<string, string> | null;
    /** Bumped on every update that found drift; the dataset's command re-runs when it changes. */
    generation: number;
}

/** Reads the dataset's managed properties over one read-only SSH session (null: no dataset). */
export async function observe(s: SentinelConnection & Pick<SentinelState, "dataset" | "desired">): Promise<Record<string, string> | null> {
    const script = readPropertiesScript({ sudo: s.sudo, zfsPath: s.zfsPath }, s.dataset, Object.keys(s.desired));
    const props = parseProperties((await sshRun(s, s.privateKey, script)).toString());
    if (props === undefined) {
        return null;
    }
    const { type, ...managed } = props;
    return type === "filesystem" ? managed : { ...managed, type };
}

export const sentinelProvider: pulumi.dynamic.ResourceProvider = {
    create(inputs: SentinelState) {
        // The dataset's command is about to make the NAS match: record the desired values.
        return Promise.resolve({ id: inputs.dataset, outs: { ...inputs, observed: inputs.desired, generation: 0 } });
    },
    async read(id: string, props: SentinelState) {
        return { id, props: { ...props, observed: await observe(props) } };
    },
    diff(_id: string, olds: SentinelState, news: SentinelState) {
        const drift = driftedProperties(news.desired, olds.observed ?? undefined);
        const connectionChanged = (["host", "port", "user", "hostKey", "privateKey", "sudo", "zfsPath"] as const).some(k => olds[k] !== news[k]);
        return Promise.resolve({
            changes: drift.length > 0 || connectionChanged,
            replaces: olds.dataset !== news.dataset ? ["dataset"] : [],
            deleteBeforeReplace: false,
        });
    },
    update(_id: string, olds: SentinelState, news: SentinelState) {
        const drifted = driftedProperties(news.desired, olds.observed ?? undefined).length > 0;
        return Promise.resolve({ outs: { ...news, observed: news.desired, generation: olds.generation + (drifted ? 1 : 0) } });
    },
    delete() {
        // Nothing on the NAS belongs to the sentinel.
        return Promise.resolve();
    },
};

/**
 * An explicit instance of the engine's Node.js dynamic-resource provider. The stack disables every
 * default provider (`pulumi:disable-default-providers: ["*"]`), dynamic ones included, so the
 * sentinels name theirs like every other resource does.
 */
export class DynamicProvider extends pulumi.ProviderResource {
    constructor(name: string, opts?: pulumi.ResourceOptions) {
        super("pulumi-nodejs", name, {}, opts);
    }
}

export interface DriftSentinelArgs {
    readonly connection: pulumi.Input<SentinelConnection>;
    readonly dataset: string;
    readonly desired: Record<string, string>;
}

export class DriftSentinel extends pulumi.dynamic.Resource {
    // `declare`: a class field would overwrite, after super(), the outputs the SDK just set.
    declare public readonly generation: pulumi.Output<number>;
    declare public readonly observed: pulumi.Output<Record<string, string> | null>;

    constructor(name: string, args: DriftSentinelArgs, opts?: pulumi.CustomResourceOptions) {
        const connection = pulumi.output(args.connection);
        super(
            sentinelProvider,
            name,
            {
                host: connection.host,
                port: connection.port,
                user: connection.user,
                hostKey: connection.hostKey,
                privateKey: pulumi.secret(connection.privateKey),
                sudo: connection.sudo,
                zfsPath: connection.zfsPath,
                dataset: args.dataset,
                desired: args.desired,
                observed: undefined,
                generation: undefined,
            },
            { ...opts, additionalSecretOutputs: ["privateKey"] },
            "homelab-nas-drift",
            "DriftSentinel",
        );
    }
}
