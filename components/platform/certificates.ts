// Certificates: cert-manager with Let's Encrypt issuers solving DNS-01 through Cloudflare, and
// the approver of the kubelets' serving-certificate requests (the Talos patch rotates them).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig, NetworkConfig, PlatformConfig } from "../../stacks/config";
import { helmRelease, platformNamespace, ReleaseSettings, secretData } from "./helm";
import * as v from "./values";

export interface CertificatesArgs {
    readonly certManager: ReleaseSettings;
    readonly letsEncrypt: PlatformConfig["letsEncrypt"];
    /** The DNS zone certificates are issued for. */
    readonly network: NetworkConfig;
    /** A Cloudflare API token with DNS edit rights (secret). */
    readonly cloudflareApiToken: pulumi.Input<string>;
    /** The release that brings the ServiceMonitor CRD cert-manager's monitor needs. */
    readonly monitoring: pulumi.Resource;
    readonly provider: k8s.Provider;
}

export class Certificates extends pulumi.ComponentResource {
    public readonly certManager: k8s.helm.v3.Release;
    /** ClusterIssuer names, staging and production. */
    public readonly issuers: Readonly<Record<"staging" | "production", pulumi.Output<string>>>;

    constructor(name: string, args: CertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Certificates", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        const namespace = platformNamespace(name, v.platformNamespaces.certManager, o);
        // Its ServiceMonitor (certificate expiry is alerted on) needs the monitoring CRDs first.
        this.certManager = helmRelease(name, "cert-manager", args.certManager, namespace, v.certManagerValues(), {
            ...o,
            dependsOn: [args.monitoring],
        });
        const token = new k8s.core.v1.Secret(
            `${name}-cloudflare-token`,
            {
                metadata: { name: "cloudflare-api-token", namespace: namespace.metadata.name },
                data: secretData({ "api-token": args.cloudflareApiToken }),
            },
            o,
        );
        const issuer = (env: "staging" | "production") =>
            new k8s.apiextensions.CustomResource(
                `${name}-issuer-${env}`,
                {
                    apiVersion: "cert-manager.io/v1",
                    kind: "ClusterIssuer",
                    metadata: { name: `letsencrypt-${env}` },
                    spec: token.metadata.name.apply(secret => v.clusterIssuerSpec(env, args.letsEncrypt.email, args.network, secret)),
                },
                { ...o, dependsOn: [this.certManager] },
            ).metadata.name;
        this.issuers = { staging: issuer("staging"), production: issuer("production") };
        this.registerOutputs({ certManager: this.certManager, issuers: this.issuers });
    }
}

export interface KubeletCertificatesArgs {
    readonly csrApprover: ReleaseSettings;
    /** The nodes whose serving-certificate requests are approved. */
    readonly cluster: ClusterConfig;
    readonly provider: k8s.Provider;
}

/** Without an approver, kubelets' rotated serving certificates stay unsigned and `kubectl logs`
 * and metrics scraping fail against them. */
export class KubeletCertificates extends pulumi.ComponentResource {
    public readonly approver: k8s.helm.v3.Release;

    constructor(name: string, args: KubeletCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:KubeletCertificates", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        const namespace = platformNamespace(name, v.platformNamespaces.csrApprover, o);
        this.approver = helmRelease(name, "kubelet-csr-approver", args.csrApprover, namespace, v.csrApproverValues(args.cluster), o);
        this.registerOutputs({ approver: this.approver });
    }
}
