// The platform, composed by concern. Each piece depends on exactly what it needs, so independent
// pieces install in parallel:
//   Ingress:       MetalLB ─ pool, L2 announcement ─ Traefik
//   Kubelets:      kubelet-csr-approver
//   Storage:       NAS datasets ─ democratic-csi (iSCSI, NFS)
//   Monitoring:    storage class ─ kube-prometheus-stack (Grafana's volume; the monitor CRDs)
//   Certificates:  monitoring ─ cert-manager (its ServiceMonitor) ─ issuers
//   GitOps:        ArgoCD (its admin password's mtime) ─ projects, repository credentials ─ root Application
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../stacks/config";
import type { CsiDatasets } from "../nas/datasets";
import { Certificates, KubeletCertificates } from "./certificates";
import { GitOps } from "./gitops";
import type { ReleaseSettings } from "./helm";
import { Ingress } from "./ingress";
import { Monitoring } from "./monitoring";
import { Storage } from "./storage";

export { secretData } from "./helm";

export interface PlatformArgs {
    readonly config: StackConfig;
    /** The datasets democratic-csi provisions under (the drivers wait until they exist). */
    readonly csiDatasets: CsiDatasets;
    readonly kubernetes: k8s.Provider;
    readonly random: pulumi.ProviderResource;
    /** Runs local commands (the moment ArgoCD's admin password was set). */
    readonly command: pulumi.ProviderResource;
}

export class Platform extends pulumi.ComponentResource {
    public readonly ingress: Ingress;
    public readonly kubelets: KubeletCertificates;
    public readonly storage: Storage;
    public readonly monitoring: Monitoring;
    public readonly certificates: Certificates;
    public readonly gitops: GitOps;
    /** Every Helm release, by piece. */
    public readonly releases: Readonly<Record<string, k8s.helm.v3.Release>>;
    /** Grafana's and ArgoCD's generated admin passwords (secret). */
    public readonly grafanaAdminPassword: pulumi.Output<string>;
    public readonly argocdAdminPassword: pulumi.Output<string>;

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Platform", name, {}, opts);
        const { config, kubernetes: provider } = args;
        const { platform } = config;
        const child = { parent: this };
        const chart = (piece: keyof StackConfig["platform"]["charts"]): ReleaseSettings => ({ chart: platform.charts[piece], helm: platform.helm });

        this.ingress = new Ingress(
            name,
            { network: config.network, cluster: config.cluster, metallb: chart("metallb"), traefik: chart("traefik"), provider },
            child,
        );
        this.kubelets = new KubeletCertificates(name, { csrApprover: chart("csrApprover"), cluster: config.cluster, provider }, child);
        this.storage = new Storage(
            name,
            {
                democraticCsi: chart("democraticCsi"),
                image: platform.democraticCsi.image,
                names: { iscsi: platform.democraticCsi.iscsi, nfs: platform.democraticCsi.nfs },
                nas: config.nas,
                datasets: args.csiDatasets,
                nasSshPrivateKey: config.secrets.nasSshPrivateKey,
                truenasApiKey: config.secrets.truenasApiKey,
                provider,
            },
            child,
        );
        this.monitoring = new Monitoring(
            name,
            {
                kubePrometheusStack: chart("kubePrometheusStack"),
                cluster: config.cluster,
                platform,
                grafanaStorageClass:
                    this.storage.storageClasses[platform.grafana.storageClass === platform.democraticCsi.nfs.storageClass ? "nfs" : "iscsi"],
                alertingSecret: config.secrets.alertingSecret,
                random: args.random,
                provider,
            },
            child,
        );
        this.certificates = new Certificates(
            name,
            {
                certManager: chart("certManager"),
                letsEncrypt: platform.letsEncrypt,
                network: config.network,
                cloudflareApiToken: config.secrets.cloudflareApiToken,
                monitoring: this.monitoring.release,
                provider,
            },
            child,
        );
        this.gitops = new GitOps(
            name,
            {
                argocd: chart("argocd"),
                settings: platform.argocd,
                gitToken: config.secrets.gitToken,
                random: args.random,
                command: args.command,
                provider,
            },
            child,
        );

        this.releases = {
            metallb: this.ingress.metallb,
            traefik: this.ingress.traefik,
            csrApprover: this.kubelets.approver,
            "democratic-csi-iscsi": this.storage.drivers.iscsi,
            "democratic-csi-nfs": this.storage.drivers.nfs,
            monitoring: this.monitoring.release,
            certManager: this.certificates.certManager,
            argocd: this.gitops.argocd,
        };
        this.grafanaAdminPassword = this.monitoring.grafanaAdminPassword;
        this.argocdAdminPassword = this.gitops.adminPassword;
        this.registerOutputs({
            grafanaAdminPassword: this.grafanaAdminPassword,
            argocdAdminPassword: this.argocdAdminPassword,
            ingressAddress: this.ingress.address,
            rootApplication: this.gitops.rootApplication,
        });
    }
}
