// A Talos cluster's identity (CAs, tokens, keys) taken over from a running cluster instead of
// generated: the secrets bundle `talosctl gen secrets` writes, turned into the shapes the Talos
// provider takes, as its machine_secrets resource makes them from a bundle on import
// (siderolabs/terraform-provider-talos v0.7.1, pkg/talos/util.go secretsBundleTomachineSecrets).
// The admin client certificate is issued from the bundle's OS CA by `talos-ops talosconfig`.
import * as yaml from "js-yaml";

/** The secrets bundle as `talosctl gen secrets` writes it (PEM blocks base64-encoded). */
export interface SecretsBundle {
    cluster: { id: string; secret: string };
    secrets: { bootstraptoken: string; secretboxencryptionsecret?: string; aescbcencryptionsecret?: string };
    trustdinfo: { token: string };
    certs: {
        etcd: { crt: string; key: string };
        k8s: { crt: string; key: string };
        k8saggregator?: { crt: string; key: string };
        k8sserviceaccount: { key: string };
        os: { crt: string; key: string };
    };
}

/** The provider's `machineSecrets` (camelCase, as the Pulumi SDK names its fields). */
export interface MachineSecrets {
    cluster: { id: string; secret: string };
    secrets: { bootstrapToken: string; secretboxEncryptionSecret: string; aescbcEncryptionSecret?: string };
    trustdinfo: { token: string };
    certs: {
        etcd: { cert: string; key: string };
        k8s: { cert: string; key: string };
        k8sAggregator: { cert: string; key: string };
        k8sServiceaccount: { key: string };
        os: { cert: string; key: string };
    };
}

/** The provider's `clientConfiguration`: the admin client of the Talos API. */
export interface ClientConfiguration {
    caCertificate: string;
    clientCertificate: string;
    clientKey: string;
}

/** What `homelab:talosSecrets` holds for a cluster taken over (secret config, JSON). */
export interface AdoptedSecrets {
    machineSecrets: MachineSecrets;
    clientConfiguration: ClientConfiguration;
}

export function parseSecretsBundle(text: string): SecretsBundle {
    const bundle = yaml.load(text) as SecretsBundle | undefined;
    const missing = [
        "cluster.id",
        "cluster.secret",
        "secrets.bootstraptoken",
        "trustdinfo.token",
        "certs.os.crt",
        "certs.os.key",
        "certs.k8s.crt",
        "certs.etcd.crt",
    ].filter(path => path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], bundle) === undefined);
    if (missing.length > 0) throw new Error(`not a Talos secrets bundle: no ${missing.join(", ")}`);
    return bundle!;
}

/** The bundle in the provider's shape, field for field as the provider's own import makes it. */
export function machineSecretsOf(bundle: SecretsBundle): MachineSecrets {
    return {
        cluster: { id: bundle.cluster.id, secret: bundle.cluster.secret },
        secrets: {
            bootstrapToken: bundle.secrets.bootstraptoken,
            secretboxEncryptionSecret: bundle.secrets.secretboxencryptionsecret ?? "",
            ...(bundle.secrets.aescbcencryptionsecret ? { aescbcEncryptionSecret: bundle.secrets.aescbcencryptionsecret } : {}),
        },
        trustdinfo: { token: bundle.trustdinfo.token },
        certs: {
            etcd: { cert: bundle.certs.etcd.crt, key: bundle.certs.etcd.key },
            k8s: { cert: bundle.certs.k8s.crt, key: bundle.certs.k8s.key },
            k8sAggregator: { cert: bundle.certs.k8saggregator?.crt ?? "", key: bundle.certs.k8saggregator?.key ?? "" },
            k8sServiceaccount: { key: bundle.certs.k8sserviceaccount.key },
            os: { cert: bundle.certs.os.crt, key: bundle.certs.os.key },
        },
    };
}

/** The admin client of a talosconfig's current context. */
export function clientConfigurationOf(talosconfig: string): ClientConfiguration {
    const doc = yaml.load(talosconfig) as { context: string; contexts: Record<string, { ca: string; crt: string; key: string }> };
    const ctx = doc.contexts?.[doc.context];
    if (!ctx?.ca || !ctx.crt || !ctx.key) throw new Error("the talosconfig's current context has no ca, crt and key");
    return { caCertificate: ctx.ca, clientCertificate: ctx.crt, clientKey: ctx.key };
}
