// What every platform component builds the same way: its namespaces, its Helm releases (the
// chart pinned in config, waiting as the stack's Helm settings say) and Secrets from secret values.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../../stacks/config";

/** A chart as the stack pins it, and how releases wait. */
export interface ReleaseSettings {
    readonly chart: PlatformConfig["charts"][keyof PlatformConfig["charts"]];
    readonly helm: PlatformConfig["helm"];
}

/**
 * Secret contents as `data` (base64), secret end to end. `stringData` is write-only in the API, so
 * a refresh reads back `data` and would see a difference that is not there.
 */
export function secretData(values: Record<string, pulumi.Input<string>>): pulumi.Output<Record<string, string>> {
    return pulumi.secret(
        pulumi.all(values).apply(v => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Buffer.from(x, "utf8").toString("base64")]))),
    );
}

/** A platform namespace, named as it is in the cluster; `labels` for Pod Security levels. */
export function platformNamespace(
    prefix: string,
    name: string,
    opts: pulumi.CustomResourceOptions,
    labels?: Record<string, string>,
): k8s.core.v1.Namespace {
    return new k8s.core.v1.Namespace(`${prefix}-ns-${name}`, { metadata: { name, labels } }, opts);
}

/** A Helm release of a pinned chart into a namespace, named `<prefix>-<release>`. */
export function helmRelease(
    prefix: string,
    releaseName: string,
    settings: ReleaseSettings,
    namespace: k8s.core.v1.Namespace,
    values: pulumi.Input<Record<string, unknown>>,
    opts: pulumi.CustomResourceOptions,
): k8s.helm.v3.Release {
    const { chart, helm } = settings;
    return new k8s.helm.v3.Release(
        `${prefix}-${releaseName}`,
        {
            name: releaseName,
            namespace: namespace.metadata.name,
            chart: chart.chart,
            version: chart.version,
            repositoryOpts: { repo: chart.repo },
            values,
            skipAwait: helm.skipAwait,
            timeout: helm.timeoutSeconds,
            // On a Release this switches off chart hooks, which never finish without a kubelet.
            disableWebhooks: helm.disableHooks,
            atomic: false,
            maxHistory: 5,
        },
        opts,
    );
}
