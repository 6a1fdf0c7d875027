// The homelab's alerting rules, as data: kube-prometheus-stack loads them
// (additionalPrometheusRulesMap) and tests/alerts.test.ts runs each one's firing and quiet case
// through the real `promtool test rules`.
//
// The first rule exists because the homelab once lost its cluster to a 12 GB etcd database:
// etcd's default quota is 2 GiB and a full database stops every write, so 2 GB is the alarm.

export interface AlertRule {
    readonly alert: string;
    readonly expr: string;
    readonly for: string;
    readonly severity: "warning" | "critical";
    readonly summary: string;
    readonly description: string;
}

export const alertRules: readonly AlertRule[] = [
    {
        alert: "EtcdDatabaseTooLarge",
        expr: "etcd_mvcc_db_total_size_in_bytes > 2e9",
        for: "10m",
        severity: "critical",
        summary: "etcd database is over 2 GB",
        description:
            "etcd on {{ $labels.instance }} holds {{ $value | humanize1024 }}B; at the 2 GiB quota it refuses every write. Defragment (talosctl etcd defrag) and find what grows.",
    },
    {
        alert: "EtcdNoLeader",
        expr: "etcd_server_has_leader == 0",
        for: "1m",
        severity: "critical",
        summary: "etcd member has no leader",
        description: "etcd on {{ $labels.instance }} has had no leader for a minute: the API server cannot write.",
    },
    {
        alert: "CertificateExpiringSoon",
        expr: "certmanager_certificate_expiration_timestamp_seconds - time() < 30 * 24 * 3600",
        for: "1h",
        severity: "warning",
        summary: "a certificate expires within 30 days",
        description: "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in {{ $value | humanizeDuration }} and has not been renewed.",
    },
    {
        alert: "PodCrashLooping",
        expr: 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
        for: "15m",
        severity: "warning",
        summary: "a container is crash-looping",
        description: "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) has been in CrashLoopBackOff for 15 minutes.",
    },
    {
        alert: "NodeNotReady",
        expr: 'kube_node_status_condition{condition="Ready",status="true"} == 0',
        for: "5m",
        severity: "critical",
        summary: "a node is not ready",
        description: "Node {{ $labels.node }} has not been Ready for 5 minutes.",
    },
    {
        alert: "PersistentVolumeFillingUp",
        expr: "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.10",
        for: "5m",
        severity: "warning",
        summary: "a persistent volume is over 90% full",
        description: "{{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has {{ $value | humanizePercentage }} free.",
    },
];

/** The rule group in Prometheus's rule-file format (also what PrometheusRule.spec holds). */
export function alertRuleGroups(): { groups: Record<string, unknown>[] } {
    return {
        groups: [
            {
                name: "homelab",
                rules: alertRules.map(r => ({
                    alert: r.alert,
                    expr: r.expr,
                    for: r.for,
                    labels: { severity: r.severity },
                    annotations: { summary: r.summary, description: r.description },
                })),
            },
        ],
    };
}

/**
 * Where the metrics of the alerts come from: the exporter, the ServiceMonitor that scrapes it, and
 * what in the values makes that monitor exist and carry the `release` label the stack's Prometheus
 * selects by (kube-prometheus-stack 79.5.0 templates/prometheus/prometheus.yaml:189-192). A test
 * checks that every metric an alert uses has a source here that the computed values switch on.
 */
export interface MetricSource {
    /** Metric name prefix. */
    readonly prefix: string;
    /** The exporter, and the ServiceMonitor scraping it (upstream template). */
    readonly scrapedBy: string;
    /** Which release's values decide, and the value paths that must hold for the monitor to exist
     * and be selected; `$release` is the monitoring release's name. */
    readonly chart: "kubePrometheusStack" | "certManager";
    readonly requires: Readonly<Record<string, unknown>>;
}

export const metricSources: readonly MetricSource[] = [
    {
        prefix: "etcd_",
        scrapedBy:
            "etcd's metrics port 2381 (Talos patch listen-metrics-urls), kube-prometheus-stack templates/exporters/kube-etcd/servicemonitor.yaml (release label from the chart's labels helper)",
        chart: "kubePrometheusStack",
        requires: { "kubeEtcd.enabled": true, "kubeEtcd.service.enabled": true, "kubeEtcd.service.port": 2381 },
    },
    {
        prefix: "certmanager_",
        scrapedBy:
            "cert-manager v1.19.1 deploy/charts/cert-manager/templates/servicemonitor.yaml: off by default, labels prometheus.servicemonitor.labels (no release label of its own)",
        chart: "certManager",
        requires: { "prometheus.servicemonitor.enabled": true, "prometheus.servicemonitor.labels.release": "$release" },
    },
    {
        prefix: "kube_",
        scrapedBy: "kube-state-metrics 6.4.1 templates/servicemonitor.yaml (kube-prometheus-stack sets releaseLabel: true, values.yaml:2505)",
        chart: "kubePrometheusStack",
        requires: { "kubeStateMetrics.enabled": [true, undefined] },
    },
    {
        prefix: "kubelet_",
        scrapedBy: "kube-prometheus-stack templates/exporters/kubelet/servicemonitor.yaml (kubelet.enabled, default true)",
        chart: "kubePrometheusStack",
        requires: { "kubelet.enabled": [true, undefined] },
    },
];

/** Metric names an expression selects: identifiers that are neither functions, keywords, label
 * names, strings nor durations. */
export function metricNames(expr: string): string[] {
    const keywords = new Set([
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]);
    const bare = expr
        .replace(/"(?:[^"\\]|\\.)*"/g, "")
        .replace(/\{[^}]*\}/g, "")
        .replace(/\[[^\]]*\]/g, "")
        .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
    const names = [...bare.matchAll(/(?<![\w:.])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()/g)].map(m => m[0]).filter(n => !keywords.has(n.toLowerCase()));
    return [...new Set(names)];
}
