// The platform as one dependency graph of Helm releases and the resources around them. Each
// piece depends on exactly what it needs, so independent pieces install in parallel:
//   MetalLB ─ pool ─ Traefik          kubelet-csr-approver
//   NAS datasets ─ democratic-csi (iSCSI, NFS) ─ monitoring (Grafana's volume, the monitor CRDs)
//     ─ cert-manager (its ServiceMonitor) ─ issuers
//   ArgoCD (its admin password's mtime) ─ projects, repository credentials ─ root Application
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { CsiDatasets } from "../nas/datasets";
import type { StackConfig } from "../../stacks/config";
import { loadDashboards } from "./dashboards";
import * as v from "./values";

export interface PlatformArgs {
    readonly config: StackConfig;
    /** The datasets democratic-csi provisions under (the drivers wait until they exist). */
    readonly csiDatasets: CsiDatasets;
    readonly kubernetes: k8s.Provider;
    readonly random: pulumi.ProviderResource;
    /** Runs local commands (the moment ArgoCD's admin password was set). */
    readonly command: pulumi.ProviderResource;
}

type ChartName = keyof StackConfig["platform"]["charts"];

/**
 * Secret contents as `data` (base64), secret end to end. `stringData` is write-only in the API, so
 * a refresh reads back `data` and would see a difference that is not there.
 */
export function secretData(values: Record<string, pulumi.Input<string>>): pulumi.Output<Record<string, string>> {
    return pulumi.secret(pulumi.all(values).apply(v =>
        Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Buffer.from(x, "utf8").toString("base64")]))));
}

export class Platform extends pulumi.ComponentResource {
    public readonly releases: Readonly<Record<string, k8s.helm.v3.Release>>;
    /** Grafana's and ArgoCD's generated admin passwords (secret). */
    public readonly grafanaAdminPassword: pulumi.Output<string>;
    public readonly argocdAdminPassword: pulumi.Output<string>;

    private readonly prefix: string;
    private readonly args: PlatformArgs;
    private readonly k8sOpts: pulumi.CustomResourceOptions;

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Platform", name, {}, opts);
        this.prefix = name;
        this.args = args;
        this.k8sOpts = { parent: this, provider: args.kubernetes };
        const { config } = args;
        const ns = v.platformNamespaces;
        const releases: Record<string, k8s.helm.v3.Release> = {};

        // Kubelets rotate their serving certificates (a Talos patch); something must sign the
        // requests, or `kubectl logs` and metrics scraping fail against unsigned kubelets.
        releases.csrApprover = this.release("kubelet-csr-approver", "csrApprover",
            this.namespace(ns.csrApprover), v.csrApproverValues(config.cluster));

        // MetalLB, then its pool and announcement; Traefik's LoadBalancer address comes from it.
        const metallbNs = this.namespace(ns.metallb, v.privilegedNamespaceLabels);
        releases.metallb = this.release("metallb", "metallb", metallbNs, v.metallbValues());
        const pool = new k8s.apiextensions.CustomResource(`${name}-metallb-pool`, {
            apiVersion: "metallb.io/v1beta1",
            kind: "IPAddressPool",
            metadata: { name: "homelab", namespace: metallbNs.metadata.name },
            spec: v.ipAddressPoolSpec(config.network),
        }, { ...this.k8sOpts, dependsOn: [releases.metallb] });
        const l2 = new k8s.apiextensions.CustomResource(`${name}-metallb-l2`, {
            apiVersion: "metallb.io/v1beta1",
            kind: "L2Advertisement",
            metadata: { name: "homelab", namespace: metallbNs.metadata.name },
            spec: { ipAddressPools: [pool.metadata.name] },
        }, { ...this.k8sOpts, dependsOn: [releases.metallb] });

        const traefikNs = this.namespace(ns.traefik);
        releases.traefik = this.release("traefik", "traefik", traefikNs, v.traefikValues(config.network), [pool, l2]);

        // democratic-csi twice, each with its driver config (SSH key, API key) in a Secret.
        const csiNs = this.namespace(ns.democraticCsi, v.privilegedNamespaceLabels);
        for (const protocol of ["iscsi", "nfs"] as const) {
            releases[`democratic-csi-${protocol}`] = this.csiDriver(name, protocol, csiNs);
        }

        // Monitoring: Grafana's admin password generated, its dashboards on an iSCSI volume.
        // node-exporter reads the host (hostNetwork, hostPID, hostPath), which Talos's default Pod
        // Security level (baseline) refuses: the namespace is privileged.
        const monNs = this.namespace(ns.monitoring, v.privilegedNamespaceLabels);
        const grafanaPassword = new random.RandomPassword(`${name}-grafana-admin`, { length: 32, special: false }, {
            parent: this, provider: args.random,
        });
        const grafanaSecret = new k8s.core.v1.Secret(`${name}-grafana-admin-secret`, {
            metadata: { name: "grafana-admin", namespace: monNs.metadata.name },
            data: secretData({ "admin-user": "admin", "admin-password": grafanaPassword.result }),
        }, this.k8sOpts);
        const storage = config.platform.grafana.storageClass === "truenas-nfs"
            ? releases["democratic-csi-nfs"] : releases["democratic-csi-iscsi"];
        // Alertmanager's receiver credential, mounted as a file (never in the Helm values).
        const receiverSecret = config.secrets.alertingSecret === undefined ? [] : [new k8s.core.v1.Secret(`${name}-alertmanager-receiver`, {
            metadata: { name: v.alertmanagerSecret.name, namespace: monNs.metadata.name },
            data: secretData({ [v.alertmanagerSecret.key]: config.secrets.alertingSecret }),
        }, this.k8sOpts)];
        releases.monitoring = this.release(v.monitoringRelease, "kubePrometheusStack", monNs,
            v.monitoringValues(config.cluster, config.platform, "grafana-admin"), [grafanaSecret, storage, ...receiverSecret]);

        // cert-manager with the Cloudflare token in a Secret; issuers for staging and production.
        // Its ServiceMonitor (certificate expiry is alerted on) needs the monitoring CRDs first.
        const certNs = this.namespace(ns.certManager);
        releases.certManager = this.release("cert-manager", "certManager", certNs, v.certManagerValues(), [releases.monitoring]);
        const token = new k8s.core.v1.Secret(`${name}-cloudflare-token`, {
            metadata: { name: "cloudflare-api-token", namespace: certNs.metadata.name },
            data: secretData({ "api-token": config.secrets.cloudflareApiToken }),
        }, this.k8sOpts);
        for (const env of ["staging", "production"] as const) {
            new k8s.apiextensions.CustomResource(`${name}-issuer-${env}`, {
                apiVersion: "cert-manager.io/v1",
                kind: "ClusterIssuer",
                metadata: { name: `letsencrypt-${env}` },
                spec: v.clusterIssuerSpec(env, config.platform, config.network, "cloudflare-api-token"),
            }, { ...this.k8sOpts, dependsOn: [releases.certManager, token] });
        }

        // Dashboards as code (dashboards/*.json); the sidecar loads them whenever Grafana runs.
        for (const dashboard of loadDashboards()) {
            new k8s.core.v1.ConfigMap(`${name}-dashboard-${dashboard.uid}`, {
                metadata: { name: `dashboard-${dashboard.uid}`, namespace: monNs.metadata.name, labels: { grafana_dashboard: "1" } },
                data: { [dashboard.file]: dashboard.json },
            }, this.k8sOpts);
        }

        // ArgoCD: generated admin password (bcrypt in the chart), repository credentials, and the
        // root Application in a project that may only create Applications.
        const argoNs = this.namespace(ns.argocd);
        const argoPassword = new random.RandomPassword(`${name}-argocd-admin`, { length: 32, special: false }, {
            parent: this, provider: args.random,
        });
        // When the password was set: a new one logs sessions out, an upgrade does not.
        const argoPasswordSet = new command.local.Command(`${name}-argocd-admin-mtime`, {
            create: "date -u +%Y-%m-%dT%H:%M:%SZ",
            triggers: [argoPassword.bcryptHash],
            addPreviousOutputInEnv: false,
        }, { parent: this, provider: args.command });
        releases.argocd = this.release("argo-cd", "argocd", argoNs,
            pulumi.all([argoPassword.bcryptHash, argoPasswordSet.stdout]).apply(([hash, mtime]) => v.argocdValues(hash, mtime)));
        new k8s.core.v1.Secret(`${name}-argocd-repo`, {
            metadata: {
                name: "gitops-repository",
                namespace: argoNs.metadata.name,
                labels: { "argocd.argoproj.io/secret-type": "repository" },
            },
            data: secretData({
                type: "git",
                url: config.platform.argocd.repoURL,
                ...(config.platform.argocd.username ? { username: config.platform.argocd.username } : {}),
                password: config.secrets.gitToken,
            }),
        }, this.k8sOpts);
        const projectOpts = { ...this.k8sOpts, dependsOn: [releases.argocd] };
        new k8s.apiextensions.CustomResource(`${name}-argocd-workloads`, {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "AppProject",
            metadata: { name: "workloads", namespace: argoNs.metadata.name },
            spec: v.workloadsProjectSpec(config.platform),
        }, projectOpts);
        const rootProject = new k8s.apiextensions.CustomResource(`${name}-argocd-apps-of-apps`, {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "AppProject",
            metadata: { name: "apps-of-apps", namespace: argoNs.metadata.name },
            spec: v.appsOfAppsProjectSpec(config.platform),
        }, projectOpts);
        new k8s.apiextensions.CustomResource(`${name}-argocd-root`, {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: { name: "root", namespace: argoNs.metadata.name },
            spec: v.rootApplicationSpec(config.platform, "apps-of-apps"),
        }, { ...this.k8sOpts, dependsOn: [releases.argocd, rootProject] });

        this.releases = releases;
        this.grafanaAdminPassword = pulumi.secret(grafanaPassword.result);
        this.argocdAdminPassword = pulumi.secret(argoPassword.result);
        this.registerOutputs({});
    }

    private namespace(name: string, labels?: Record<string, string>): k8s.core.v1.Namespace {
        return new k8s.core.v1.Namespace(`${this.prefix}-ns-${name}`, { metadata: { name, labels } }, this.k8sOpts);
    }

    private release(
        releaseName: string, chart: ChartName, namespace: k8s.core.v1.Namespace,
        values: pulumi.Input<Record<string, unknown>>, dependsOn: pulumi.Resource[] = [],
    ): k8s.helm.v3.Release {
        const c = this.args.config.platform.charts[chart];
        const helm = this.args.config.platform.helm;
        return new k8s.helm.v3.Release(`${this.prefix}-${releaseName}`, {
            name: releaseName,
            namespace: namespace.metadata.name,
            chart: c.chart,
            version: c.version,
            repositoryOpts: { repo: c.repo },
            values,
            skipAwait: helm.skipAwait,
            timeout: helm.timeoutSeconds,
            // On a Release this switches off chart hooks, which never finish without a kubelet.
            disableWebhooks: helm.disableHooks,
            atomic: false,
            maxHistory: 5,
        }, { ...this.k8sOpts, dependsOn });
    }

    private csiDriver(name: string, protocol: v.CsiProtocol, namespace: k8s.core.v1.Namespace): k8s.helm.v3.Release {
        const { config, csiDatasets } = this.args;
        const datasets = csiDatasets[protocol];
        const driverConfig = pulumi.all([
            config.secrets.nasSshPrivateKey, config.secrets.truenasApiKey, datasets.parent, datasets.snapshots,
        ]).apply(([privateKey, apiKey, parent, snapshots]) => JSON.stringify(v.driverConfig({
            protocol, nasHost: config.nas.host, nasPort: config.nas.port, nasUser: config.nas.user,
            sudo: config.nas.sudo, zfsPath: config.nas.zfsPath, datasetParent: parent, snapshotParent: snapshots,
            privateKey, apiKey,
        })));
        const secretName = `democratic-csi-${protocol}-driver-config`;
        const secret = new k8s.core.v1.Secret(`${name}-csi-${protocol}-config`, {
            metadata: { name: secretName, namespace: namespace.metadata.name },
            // JSON is YAML: the driver reads this key as its config file.
            data: secretData({ "driver-config-file.yaml": driverConfig }),
        }, this.k8sOpts);
        return this.release(`democratic-csi-${protocol}`, "democraticCsi", namespace,
            v.democraticCsiValues(protocol, secretName, config.platform.democraticCsi.image), [secret]);
    }
}
