// Helm values and custom resources of the platform, as pure functions of the typed config. The
// components only wire these to releases; tests check them without an engine.
import type { ClusterConfig, NetworkConfig, PlatformConfig } from "../../stacks/config";
import { alertRuleGroups } from "./alerts";

/** Namespaces of the platform pieces: ArgoCD may deploy into none of them. */
export const platformNamespaces = {
    metallb: "metallb-system",
    traefik: "traefik",
    certManager: "cert-manager",
    democraticCsi: "democratic-csi",
    monitoring: "monitoring",
    argocd: "argocd",
    csrApprover: "kubelet-csr-approver",
} as const;

/** The kube-prometheus-stack release: its Prometheus selects monitors labelled `release: <this>`. */
export const monitoringRelease = "kube-prometheus-stack";

/** The label that puts a ServiceMonitor or PodMonitor in front of the stack's Prometheus. */
export const scrapedByPrometheus = { release: monitoringRelease } as const;

/** Pod Security labels for namespaces whose pods need the host (speaker, CSI node plugin). */
export const privilegedNamespaceLabels = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
};

export function metallbValues(cluster: ClusterConfig): Record<string, unknown> {
    // Talos labels control planes as excluded from external load balancers; on a cluster with no
    // worker the speaker must announce from a control plane anyway. With workers, the label
    // holds again: this single-node workaround follows the node set.
    const workers = cluster.nodes.some(n => n.role === "worker");
    return { speaker: { ignoreExcludeLB: !workers } };
}

export function ipAddressPoolSpec(network: NetworkConfig): Record<string, unknown> {
    return { addresses: [...network.metallbAddresses], autoAssign: true };
}

export function traefikValues(network: NetworkConfig): Record<string, unknown> {
    return {
        service: {
            type: "LoadBalancer",
            // MetalLB assigns exactly this address from its pool.
            annotations: { "metallb.io/loadBalancerIPs": network.ingressAddress },
        },
        ingressClass: { enabled: true, isDefaultClass: true },
        ports: { web: { redirections: { entryPoint: { to: "websecure", scheme: "https" } } } },
    };
}

export function certManagerValues(): Record<string, unknown> {
    return {
        crds: { enabled: true, keep: true },
        // Certificate expiry (certmanager_certificate_expiration_timestamp_seconds) is an alert:
        // the chart's ServiceMonitor is off by default and carries no `release` label.
        prometheus: { servicemonitor: { enabled: true, labels: { ...scrapedByPrometheus } } },
    };
}

/**
 * kubelet-csr-approver signs the kubelets' serving-certificate requests (the Talos patch turns
 * rotation on), and only for the cluster's own node names. Nodes have no DNS names in the homelab,
 * so names are not resolved.
 */
export function csrApproverValues(cluster: ClusterConfig): Record<string, unknown> {
    // Node names are hostnames (letters, digits, -): nothing to escape in the expression.
    const names = cluster.nodes.map(n => n.name);
    return { providerRegex: `^(${names.join("|")})$`, bypassDnsResolution: true };
}

export const letsEncryptServers = {
    staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
    production: "https://acme-v02.api.letsencrypt.org/directory",
} as const;

/** A Let's Encrypt ClusterIssuer solving DNS-01 through Cloudflare for the homelab's zone. */
export function clusterIssuerSpec(
    environment: keyof typeof letsEncryptServers,
    email: string,
    network: NetworkConfig,
    tokenSecret: string,
): Record<string, unknown> {
    return {
        acme: {
            server: letsEncryptServers[environment],
            email,
            privateKeySecretRef: { name: `letsencrypt-${environment}-account` },
            solvers: [
                {
                    selector: { dnsZones: [network.domain] },
                    dns01: { cloudflare: { apiTokenSecretRef: { name: tokenSecret, key: "api-token" } } },
                },
            ],
        },
    };
}

export type CsiProtocol = "iscsi" | "nfs";

/** The democratic-csi SSH drivers, as the homelab runs them (its notes: the API drivers are
 * experimental). Both still ask TrueNAS's API whether it is SCALE for NFS shares, and releases up
 * to v1.9.4 misread 25.04 (see stacks/provenance.ts). */
export const csiDrivers: Readonly<Record<CsiProtocol, { driver: string; fsType: string }>> = {
    iscsi: { driver: "freenas-iscsi", fsType: "ext4" },
    nfs: { driver: "freenas-nfs", fsType: "nfs" },
};

/** A driver's names as the stack's config carries them (the ones its volumes already have). */
export type CsiNames = Pick<PlatformConfig["democraticCsi"]["iscsi"], "csiDriverName" | "storageClass" | "reclaimPolicy" | "defaultClass">;

export interface DriverConfigInputs {
    readonly protocol: CsiProtocol;
    readonly nasHost: string;
    readonly nasPort: number;
    readonly nasUser: string;
    readonly sudo: boolean;
    readonly zfsPath: string;
    readonly datasetParent: string;
    readonly snapshotParent: string;
    readonly privateKey: string;
    readonly apiKey: string;
    /** The owner's target, extent and share settings (platform.democraticCsi.{iscsi,nfs}). */
    readonly iscsi: Pick<PlatformConfig["democraticCsi"]["iscsi"], "namePrefix" | "nameSuffix" | "targetGroups" | "extent">;
    readonly nfs: Pick<PlatformConfig["democraticCsi"]["nfs"], "share">;
}

/** The driver config file (secret: it holds the SSH key and API key) for one driver. */
export function driverConfig(i: DriverConfigInputs): Record<string, unknown> {
    const zfsBin = i.zfsPath.replace(/\/zfs$/, "");
    const shared = {
        driver: csiDrivers[i.protocol].driver,
        httpConnection: { protocol: "https", host: i.nasHost, port: 443, apiKey: i.apiKey, allowInsecure: true },
        sshConnection: { host: i.nasHost, port: i.nasPort, username: i.nasUser, privateKey: i.privateKey },
        zfs: {
            cli: {
                sudoEnabled: i.sudo,
                paths: { zfs: `${zfsBin}/zfs`, zpool: `${zfsBin}/zpool`, sudo: "/usr/bin/sudo", chroot: "/usr/sbin/chroot" },
            },
            datasetParentName: i.datasetParent,
            detachedSnapshotsDatasetParentName: i.snapshotParent,
            datasetEnableQuotas: true,
            datasetEnableReservation: false,
            datasetPermissionsMode: "0777",
            datasetPermissionsUser: 0,
            datasetPermissionsGroup: 0,
        },
    };
    if (i.protocol === "iscsi") {
        return {
            ...shared,
            zfs: { ...shared.zfs, zvolCompression: "", zvolDedup: "", zvolEnableReservation: false, zvolBlocksize: "" },
            iscsi: {
                targetPortal: `${i.nasHost}:3260`,
                namePrefix: i.iscsi.namePrefix,
                nameSuffix: i.iscsi.nameSuffix,
                // The portal and initiator group pre-exist on TrueNAS; the driver takes their ids.
                targetGroups: i.iscsi.targetGroups.map(g => ({
                    targetGroupPortalGroup: g.portalGroup,
                    targetGroupInitiatorGroup: g.initiatorGroup,
                    targetGroupAuthType: g.authType,
                })),
                extentInsecureTpc: i.iscsi.extent.insecureTpc,
                extentXenCompat: i.iscsi.extent.xenCompat,
                extentDisablePhysicalBlocksize: i.iscsi.extent.disablePhysicalBlocksize,
                extentBlocksize: i.iscsi.extent.blocksize,
                extentRpm: i.iscsi.extent.rpm,
                extentAvailThreshold: i.iscsi.extent.availThreshold,
            },
        };
    }
    return {
        ...shared,
        nfs: {
            shareHost: i.nasHost,
            shareAlldirs: i.nfs.share.alldirs,
            shareAllowedHosts: [...i.nfs.share.allowedHosts],
            shareAllowedNetworks: [...i.nfs.share.allowedNetworks],
            shareMaprootUser: i.nfs.share.maprootUser,
            shareMaprootGroup: i.nfs.share.maprootGroup,
        },
    };
}

/** The chart's image values: `registry` and `tag` (it renders `<registry>:<tag>`; a digest
 * `repo@sha256:<hex>` renders the same way). */
export function chartImage(reference: string): { registry: string; tag: string } {
    const at = reference.lastIndexOf(":");
    return { registry: reference.slice(0, at), tag: reference.slice(at + 1) };
}

/** Chart values of one democratic-csi install, with the Talos-specific node settings. */
export function democraticCsiValues(protocol: CsiProtocol, configSecret: string, image: string, names: CsiNames): Record<string, unknown> {
    const d = csiDrivers[protocol];
    const driverImage = chartImage(image);
    return {
        csiDriver: { name: names.csiDriverName },
        // The chart decides mounts from driver.config.driver; the config itself is a Secret.
        driver: { existingConfigSecret: configSecret, config: { driver: d.driver } },
        storageClasses: [
            {
                name: names.storageClass,
                defaultClass: names.defaultClass ?? protocol === "iscsi",
                reclaimPolicy: names.reclaimPolicy,
                volumeBindingMode: "Immediate",
                allowVolumeExpansion: true,
                parameters: { fsType: d.fsType },
            },
        ],
        volumeSnapshotClasses: [],
        controller: {
            driver: { image: driverImage },
            // No VolumeSnapshot API is installed: the snapshotter sidecar would only fail.
            externalSnapshotter: { enabled: false },
        },
        node: {
            // Talos has no iscsiadm on the host PATH: run the extension's binary in the host's
            // namespaces (where it uses /etc/iscsi and /var/lib/iscsi). The chart still mounts an
            // iSCSI directory: its default /etc/iscsi is read-only on Talos, and the
            // /usr/local/etc/iscsi of democratic-csi's Talos guide cannot be created on Talos >= 1.10
            // (democratic-csi#461), so a writable directory under /var, created if missing.
            hostPID: true,
            driver: {
                image: driverImage,
                extraEnv:
                    protocol === "iscsi"
                        ? [
                              { name: "ISCSIADM_HOST_STRATEGY", value: "nsenter" },
                              { name: "ISCSIADM_HOST_PATH", value: "/usr/local/sbin/iscsiadm" },
                          ]
                        : [],
                iscsiDirHostPath: "/var/iscsi",
                iscsiDirHostPathType: "DirectoryOrCreate",
            },
        },
    };
}

/** The Secret (in the monitoring namespace) holding the receiver's credential, and its key. */
export const alertmanagerSecret = { name: "alertmanager-receiver", key: "credential" } as const;

/**
 * Alertmanager's routes and receivers. The credential (webhook URL or SMTP password) never enters
 * Helm values: Alertmanager reads it from the Secret it mounts (the *_file settings).
 */
export function alertmanagerConfig(platform: PlatformConfig): Record<string, unknown> {
    const { alerting } = platform;
    const file = `/etc/alertmanager/secrets/${alertmanagerSecret.name}/${alertmanagerSecret.key}`;
    const receiver: Record<string, unknown> = { name: "homelab" };
    switch (alerting.receiver) {
        case "discord":
            receiver.discord_configs = [{ webhook_url_file: file, send_resolved: true }];
            break;
        case "slack":
            receiver.slack_configs = [
                { api_url_file: file, send_resolved: true, ...(alerting.slackChannel ? { channel: alerting.slackChannel } : {}) },
            ];
            break;
        case "email":
            receiver.email_configs = [
                {
                    to: alerting.email!.to,
                    from: alerting.email!.from,
                    smarthost: alerting.email!.smarthost,
                    auth_username: alerting.email!.username ?? alerting.email!.from,
                    auth_password_file: file,
                    send_resolved: true,
                },
            ];
            break;
        case "none":
            break;
    }
    const target = alerting.receiver === "none" ? "null" : "homelab";
    return {
        route: {
            receiver: target,
            group_by: ["alertname", "namespace"],
            group_wait: "30s",
            group_interval: "5m",
            repeat_interval: "4h",
            routes: [
                // The chart's always-firing heartbeat and its inhibition helper page nobody.
                { matchers: ['alertname=~"Watchdog|InfoInhibitor"'], receiver: "null" },
                { matchers: ['severity="critical"'], receiver: target, repeat_interval: "1h" },
            ],
        },
        inhibit_rules: [
            // A node that is down explains every other alert about it.
            { source_matchers: ['alertname="NodeNotReady"'], target_matchers: ['severity="warning"'], equal: ["node"] },
        ],
        receivers: [{ name: "null" }, ...(alerting.receiver === "none" ? [] : [receiver])],
    };
}

/** Grafana's Service name in the monitoring namespace (the grafana chart's fullnameOverride). */
export const grafanaServiceName = "grafana";

/** Where Grafana's admin credentials and its volume come from. */
export interface GrafanaWiring {
    /** The Secret holding admin-user and admin-password. */
    readonly adminSecret: string;
    /** The StorageClass of its volume (the storage driver's). */
    readonly storageClass: string;
}

export function monitoringValues(cluster: ClusterConfig, platform: PlatformConfig, grafana: GrafanaWiring): Record<string, unknown> {
    const controlPlanes = cluster.nodes.filter(n => n.role === "controlplane").map(n => n.metricsAddress ?? n.address);
    return {
        alertmanager: {
            config: alertmanagerConfig(platform),
            alertmanagerSpec: {
                ...(platform.alerting.receiver === "none" ? {} : { secrets: [alertmanagerSecret.name] }),
                // Silences and the notification log survive a restart (the owner's notes: a PVC for
                // alert state), on the same StorageClass as Grafana's volume.
                storage: {
                    volumeClaimTemplate: {
                        spec: {
                            storageClassName: grafana.storageClass,
                            accessModes: ["ReadWriteOnce"],
                            resources: { requests: { storage: platform.alerting.storageSize } },
                        },
                    },
                },
            },
        },
        kubeEtcd: { enabled: true, endpoints: controlPlanes, service: { enabled: true, port: 2381, targetPort: 2381 } },
        kubeControllerManager: {
            enabled: true,
            endpoints: controlPlanes,
            service: { enabled: true, port: 10257, targetPort: 10257 },
            serviceMonitor: { https: true, insecureSkipVerify: true },
        },
        kubeScheduler: {
            enabled: true,
            endpoints: controlPlanes,
            service: { enabled: true, port: 10259, targetPort: 10259 },
            serviceMonitor: { https: true, insecureSkipVerify: true },
        },
        // Talos runs no kube-proxy metrics endpoint by default.
        kubeProxy: { enabled: false },
        prometheusOperator: { admissionWebhooks: { enabled: platform.helm.webhooks } },
        // The homelab's own alerts (components/platform/alerts.ts), beside the chart's defaults.
        additionalPrometheusRulesMap: { homelab: alertRuleGroups() },
        grafana: {
            // Service (and Deployment, PVC) "grafana", as the owner's runbooks use it:
            // kubectl port-forward -n monitoring svc/grafana 3000:80.
            fullnameOverride: grafanaServiceName,
            // The subchart's ServiceMonitor lacks the `release` label Prometheus selects by.
            serviceMonitor: { labels: { ...scrapedByPrometheus } },
            admin: { existingSecret: grafana.adminSecret, userKey: "admin-user", passwordKey: "admin-password" },
            persistence: { enabled: true, storageClassName: grafana.storageClass, size: platform.grafana.storageSize },
            sidecar: { dashboards: { enabled: true, searchNamespace: "ALL" } },
        },
    };
}

export function argocdValues(adminPasswordBcrypt: string, adminPasswordMtime: string): Record<string, unknown> {
    return {
        configs: {
            // Without a fixed mtime the chart stamps "now" on every upgrade, logging every admin out.
            secret: { argocdServerAdminPassword: adminPasswordBcrypt, argocdServerAdminPasswordMtime: adminPasswordMtime },
            params: { "server.insecure": true },
        },
    };
}

/** The project workloads live in: any namespace but the platform's, no cluster-scoped objects. */
export function workloadsProjectSpec(repoURL: string): Record<string, unknown> {
    return {
        description: "Workloads managed by GitOps; the platform belongs to Pulumi.",
        sourceRepos: [repoURL],
        destinations: [
            ...Object.values(platformNamespaces).map(ns => ({ server: "https://kubernetes.default.svc", namespace: `!${ns}` })),
            { server: "https://kubernetes.default.svc", namespace: "!kube-system" },
            { server: "https://kubernetes.default.svc", namespace: "*" },
        ],
        // No cluster-scoped kind, Namespace included: ArgoCD checks cluster-scoped objects by kind
        // alone, so a whitelisted Namespace would let a workload take over (and prune) `traefik`
        // or `kube-system`. Workload namespaces come from the stack (platform.argocd.namespaces).
        clusterResourceWhitelist: [],
    };
}

/** The root app's project: it may only create Applications, in ArgoCD's own namespace. */
export function appsOfAppsProjectSpec(repoURL: string): Record<string, unknown> {
    return {
        description: "The root Application: child Applications only.",
        sourceRepos: [repoURL],
        destinations: [{ server: "https://kubernetes.default.svc", namespace: platformNamespaces.argocd }],
        clusterResourceWhitelist: [],
        namespaceResourceWhitelist: [{ group: "argoproj.io", kind: "Application" }],
    };
}

/** ArgoCD's own `default` project, locked: an Application that names it (or names no project)
 * may deploy nothing, so every child of the root app has to pick `workloads`, whose rules keep it
 * out of the platform's namespaces. */
export function lockedDefaultProjectSpec(): Record<string, unknown> {
    return {
        description: "Locked by the platform stack: use the workloads project.",
        sourceRepos: [],
        destinations: [],
        clusterResourceWhitelist: [],
        namespaceResourceWhitelist: [],
    };
}

/** `directory.exclude` for the given globs. ArgoCD matches one pattern (gobwas/glob, no path
 * separators, so `*` crosses directories) against each file's path under the source path;
 * several become one brace alternative. */
export function directoryExclude(globs: readonly string[]): string | undefined {
    if (globs.length === 0) return undefined;
    return globs.length === 1 ? globs[0] : `{${globs.join(",")}}`;
}

/** The root Application (app of apps): every child Application lives under the configured path;
 * the excluded files (SOPS files, the platform's own Applications) are never applied. */
export function rootApplicationSpec(argocd: PlatformConfig["argocd"], project: string): Record<string, unknown> {
    const exclude = directoryExclude(argocd.exclude);
    return {
        project,
        source: {
            repoURL: argocd.repoURL,
            path: argocd.path,
            targetRevision: argocd.targetRevision,
            directory: { recurse: true, ...(exclude ? { exclude } : {}) },
        },
        destination: { server: "https://kubernetes.default.svc", namespace: platformNamespaces.argocd },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
    };
}
