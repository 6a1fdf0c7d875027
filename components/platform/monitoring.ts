// Monitoring: kube-prometheus-stack with the homelab's alerts routed to its receiver, Grafana with
// a generated admin password, its dashboards as code and its data on a NAS volume.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ClusterConfig, PlatformConfig } from "../../stacks/config";
import { loadDashboards } from "./dashboards";
import { helmRelease, platformNamespace, ReleaseSettings, secretData } from "./helm";
import * as v from "./values";

export interface MonitoringArgs {
    readonly kubePrometheusStack: ReleaseSettings;
    /** Control planes to scrape (etcd, controller-manager, scheduler). */
    readonly cluster: ClusterConfig;
    /** Alerting receiver, Grafana's volume size, the Helm webhook switch. */
    readonly platform: PlatformConfig;
    /** The StorageClass Grafana's volume is made in (resolves once its driver is installed). */
    readonly grafanaStorageClass: pulumi.Input<string>;
    /** The receiver's webhook URL or SMTP password (secret), unless alerting goes nowhere. */
    readonly alertingSecret?: pulumi.Input<string>;
    readonly random: pulumi.ProviderResource;
    readonly provider: k8s.Provider;
}

export class Monitoring extends pulumi.ComponentResource {
    public readonly release: k8s.helm.v3.Release;
    /** Grafana's generated admin password (secret). */
    public readonly grafanaAdminPassword: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Monitoring", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        // node-exporter reads the host (hostNetwork, hostPID, hostPath), which Talos's default Pod
        // Security level (baseline) refuses: the namespace is privileged.
        const namespace = platformNamespace(name, v.platformNamespaces.monitoring, o, v.privilegedNamespaceLabels);
        const password = new random.RandomPassword(`${name}-grafana-admin`, { length: 32, special: false }, { parent: this, provider: args.random });
        const grafanaSecret = new k8s.core.v1.Secret(
            `${name}-grafana-admin-secret`,
            {
                metadata: { name: "grafana-admin", namespace: namespace.metadata.name },
                data: secretData({ "admin-user": "admin", "admin-password": password.result }),
            },
            o,
        );
        // Alertmanager's receiver credential, mounted as a file (never in the Helm values).
        const receiverSecret =
            args.alertingSecret === undefined
                ? []
                : [
                      new k8s.core.v1.Secret(
                          `${name}-alertmanager-receiver`,
                          {
                              metadata: { name: v.alertmanagerSecret.name, namespace: namespace.metadata.name },
                              data: secretData({ [v.alertmanagerSecret.key]: args.alertingSecret }),
                          },
                          o,
                      ),
                  ];
        const values = pulumi
            .all([grafanaSecret.metadata.name, args.grafanaStorageClass])
            .apply(([adminSecret, storageClass]) => v.monitoringValues(args.cluster, args.platform, { adminSecret, storageClass }));
        this.release = helmRelease(name, v.monitoringRelease, args.kubePrometheusStack, namespace, values, { ...o, dependsOn: receiverSecret });
        // Dashboards as code (dashboards/*.json); the sidecar loads them whenever Grafana runs.
        for (const dashboard of loadDashboards()) {
            new k8s.core.v1.ConfigMap(
                `${name}-dashboard-${dashboard.uid}`,
                {
                    metadata: { name: `dashboard-${dashboard.uid}`, namespace: namespace.metadata.name, labels: { grafana_dashboard: "1" } },
                    data: { [dashboard.file]: dashboard.json },
                },
                o,
            );
        }
        this.grafanaAdminPassword = pulumi.secret(password.result);
        this.registerOutputs({ release: this.release, grafanaAdminPassword: this.grafanaAdminPassword });
    }
}
