// Every alerting rule through the real `promtool` (built by set-up): the rule file passes
// `promtool check rules`, and `promtool test rules` shows each rule firing on the series that
// should wake someone and staying quiet on the ones that should not.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { alertRuleGroups, alertRules, metricNames, metricSources } from "../components/platform/alerts";
import { alertmanagerConfig, alertmanagerSecret, certManagerValues, monitoringRelease, monitoringValues } from "../components/platform/values";
import { parseStackSettings } from "../stacks/config";
import { clone, rawStackConfig } from "./stackfiles";

interface Case {
    series: Record<string, string>;
    firing: Record<string, string>[];
}

/** Per rule, series sampled every minute and what is firing 90 minutes in (past every `for`). */
const cases: Record<string, { fires: Case; quiet: Case }> = {
    EtcdDatabaseTooLarge: {
        fires: { series: { 'etcd_mvcc_db_total_size_in_bytes{instance="cp1"}': "3e9x120" }, firing: [{ instance: "cp1" }] },
        quiet: { series: { 'etcd_mvcc_db_total_size_in_bytes{instance="cp1"}': "1.5e9x120" }, firing: [] },
    },
    EtcdNoLeader: {
        fires: { series: { 'etcd_server_has_leader{instance="cp1"}': "1x10 0x110" }, firing: [{ instance: "cp1" }] },
        quiet: { series: { 'etcd_server_has_leader{instance="cp1"}': "1x120" }, firing: [] },
    },
    CertificateExpiringSoon: {
        // time() starts at 0 in promtool: an expiry timestamp is seconds from the test's start.
        fires: {
            series: { 'certmanager_certificate_expiration_timestamp_seconds{namespace="traefik",name="wildcard"}': `${20 * 86400}x120` },
            firing: [{ namespace: "traefik", name: "wildcard" }],
        },
        quiet: {
            series: { 'certmanager_certificate_expiration_timestamp_seconds{namespace="traefik",name="wildcard"}': `${60 * 86400}x120` },
            firing: [],
        },
    },
    PodCrashLooping: {
        fires: {
            series: { 'kube_pod_container_status_waiting_reason{namespace="apps",pod="web-1",container="web",reason="CrashLoopBackOff"}': "1x120" },
            firing: [{ namespace: "apps", pod: "web-1", container: "web", reason: "CrashLoopBackOff" }],
        },
        quiet: {
            series: {
                'kube_pod_container_status_waiting_reason{namespace="apps",pod="web-1",container="web",reason="CrashLoopBackOff"}': "1x5 0x115",
            },
            firing: [],
        },
    },
    NodeNotReady: {
        fires: {
            series: { 'kube_node_status_condition{node="sever-it01",condition="Ready",status="true"}': "0x120" },
            firing: [{ node: "sever-it01", condition: "Ready", status: "true" }],
        },
        quiet: { series: { 'kube_node_status_condition{node="sever-it01",condition="Ready",status="true"}': "1x120" }, firing: [] },
    },
    PersistentVolumeFillingUp: {
        fires: {
            series: {
                'kubelet_volume_stats_available_bytes{namespace="monitoring",persistentvolumeclaim="grafana"}': "5e8x120",
                'kubelet_volume_stats_capacity_bytes{namespace="monitoring",persistentvolumeclaim="grafana"}': "1e10x120",
            },
            firing: [{ namespace: "monitoring", persistentvolumeclaim: "grafana" }],
        },
        quiet: {
            series: {
                'kubelet_volume_stats_available_bytes{namespace="monitoring",persistentvolumeclaim="grafana"}': "5e9x120",
                'kubelet_volume_stats_capacity_bytes{namespace="monitoring",persistentvolumeclaim="grafana"}': "1e10x120",
            },
            firing: [],
        },
    },
};

function promtool(...args: string[]): { status: number; out: string } {
    const r = spawnSync("promtool", args, { encoding: "utf8" });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("alerting rules, through promtool @tools", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "alerts-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("pass promtool check rules (expressions and annotation templates)", () => {
        const file = path.join(dir, "rules.yaml");
        fs.writeFileSync(file, yaml.dump(alertRuleGroups()));
        const r = promtool("check", "rules", file);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, new RegExp(`SUCCESS: ${alertRules.length} rules found`));
    });

    it("every rule has a firing and a quiet case", () => {
        assert.deepStrictEqual(Object.keys(cases).sort(), alertRules.map(r => r.alert).sort());
    });

    for (const rule of alertRules) {
        for (const kind of ["fires", "quiet"] as const) {
            it(`${rule.alert} ${kind === "fires" ? "fires" : "stays quiet"}`, () => {
                const c = cases[rule.alert][kind];
                // Annotations are prose (checked above); the test pins expression, duration and labels.
                const groups = alertRuleGroups();
                (groups.groups[0].rules as Record<string, unknown>[]).forEach(r => {
                    delete r.annotations;
                });
                fs.writeFileSync(path.join(dir, `${rule.alert}-rules.yaml`), yaml.dump(groups));
                const test = {
                    rule_files: [`${rule.alert}-rules.yaml`],
                    evaluation_interval: "1m",
                    tests: [
                        {
                            interval: "1m",
                            input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
                            alert_rule_test: [
                                {
                                    eval_time: "90m",
                                    alertname: rule.alert,
                                    exp_alerts: c.firing.map(labels => ({ exp_labels: { ...labels, severity: rule.severity } })),
                                },
                            ],
                        },
                    ],
                };
                const file = path.join(dir, `${rule.alert}-${kind}.test.yaml`);
                fs.writeFileSync(file, yaml.dump(test));
                const r = promtool("test", "rules", file);
                assert.strictEqual(r.status, 0, r.out);
            });
        }
    }

    it("the test harness can fail: a firing case expected to be quiet is reported", () => {
        const groups = alertRuleGroups();
        (groups.groups[0].rules as Record<string, unknown>[]).forEach(r => {
            delete r.annotations;
        });
        fs.writeFileSync(path.join(dir, "wrong-rules.yaml"), yaml.dump(groups));
        const file = path.join(dir, "wrong.test.yaml");
        fs.writeFileSync(
            file,
            yaml.dump({
                rule_files: ["wrong-rules.yaml"],
                tests: [
                    {
                        interval: "1m",
                        input_series: [{ series: 'etcd_server_has_leader{instance="cp1"}', values: "0x120" }],
                        alert_rule_test: [{ eval_time: "20m", alertname: "EtcdNoLeader", exp_alerts: [] }],
                    },
                ],
            }),
        );
        const r = promtool("test", "rules", file);
        assert.strictEqual(r.status, 1, r.out);
        assert.match(r.out, /alertname: EtcdNoLeader/);
    });
});

describe("Alertmanager routes and receivers @tools", () => {
    const platform = (alerting: Record<string, unknown>) => {
        const raw = clone(rawStackConfig("lab")) as any;
        raw.platform.alerting = alerting;
        return parseStackSettings("lab", raw).platform;
    };
    const credentialFile = `/etc/alertmanager/secrets/${alertmanagerSecret.name}/${alertmanagerSecret.key}`;

    it("sends to Discord, Slack or email with the credential read from a mounted Secret, never from values", () => {
        const receiver = (alerting: Record<string, unknown>) =>
            (alertmanagerConfig(platform(alerting)).receivers as any[]).find(r => r.name === "homelab");
        assert.deepStrictEqual(receiver({ receiver: "discord" }).discord_configs, [{ webhook_url_file: credentialFile, send_resolved: true }]);
        assert.deepStrictEqual(receiver({ receiver: "slack", slackChannel: "#homelab" }).slack_configs, [
            { api_url_file: credentialFile, send_resolved: true, channel: "#homelab" },
        ]);
        assert.deepStrictEqual(
            receiver({ receiver: "email", email: { to: "me@example.com", from: "am@example.com", smarthost: "smtp.example.com:587" } }).email_configs,
            [
                {
                    to: "me@example.com",
                    from: "am@example.com",
                    smarthost: "smtp.example.com:587",
                    auth_username: "am@example.com",
                    auth_password_file: credentialFile,
                    send_resolved: true,
                },
            ],
        );
        const values = monitoringValues(parseStackSettings("lab", rawStackConfig("lab")).cluster, platform({ receiver: "discord" }), {
            adminSecret: "grafana-admin",
            storageClass: "truenas-iscsi",
        }) as any;
        assert.deepStrictEqual(values.alertmanager.alertmanagerSpec.secrets, [alertmanagerSecret.name]);
        assert.ok(!JSON.stringify(values).includes("webhooks/"), "no webhook URL in the values");
    });

    it("routes critical alerts every hour, silences the heartbeat, and with no receiver sends nowhere", () => {
        const config = alertmanagerConfig(platform({ receiver: "discord" })) as any;
        assert.deepStrictEqual(
            config.route.routes.map((r: any) => [r.matchers[0], r.receiver, r.repeat_interval]),
            [
                ['alertname=~"Watchdog|InfoInhibitor"', "null", undefined],
                ['severity="critical"', "homelab", "1h"],
            ],
        );
        const none = alertmanagerConfig(platform({})) as any;
        assert.deepStrictEqual([none.route.receiver, none.receivers], ["null", [{ name: "null" }]]);
    });

    it("each receiver's configuration passes the real amtool check-config", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "alertmanager-"));
        try {
            const cases: Record<string, Record<string, unknown>> = {
                none: {},
                discord: { receiver: "discord" },
                slack: { receiver: "slack", slackChannel: "#homelab" },
                email: { receiver: "email", email: { to: "me@example.com", from: "am@example.com", smarthost: "smtp.example.com:587" } },
            };
            for (const [name, alerting] of Object.entries(cases)) {
                const file = path.join(dir, `${name}.yaml`);
                fs.writeFileSync(file, yaml.dump(alertmanagerConfig(platform(alerting))));
                const r = spawnSync("amtool", ["check-config", file], { encoding: "utf8" });
                assert.strictEqual(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
                assert.match(r.stdout, /SUCCESS/);
            }
            // The check can fail: a route to a receiver that does not exist.
            const broken = alertmanagerConfig(platform({ receiver: "discord" })) as any;
            broken.route.receiver = "nobody";
            fs.writeFileSync(path.join(dir, "broken.yaml"), yaml.dump(broken));
            const r = spawnSync("amtool", ["check-config", path.join(dir, "broken.yaml")], { encoding: "utf8" });
            assert.strictEqual(r.status, 1, r.stdout);
            assert.match(`${r.stdout}${r.stderr}`, /undefined receiver "nobody"/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("refuses an email receiver without its server, and email settings on another receiver, naming the key", () => {
        assert.throws(() => platform({ receiver: "email" }), /homelab:platform\.alerting\.email: is required with receiver email/);
        assert.throws(
            () => platform({ receiver: "slack", email: { to: "a@b.cd", from: "a@b.cd", smarthost: "s.b.cd:25" } }),
            /homelab:platform\.alerting\.email: is only used with receiver email, not slack/,
        );
    });
});

describe("every alert can fire: its metrics are scraped", () => {
    /** The value at a dotted path of the computed values. */
    const at = (values: unknown, dotted: string): unknown =>
        dotted.split(".").reduce<unknown>((v, k) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), values);

    it("reads metric names out of expressions, not functions, labels or keywords", () => {
        assert.deepStrictEqual(metricNames('max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1'), [
            "kube_pod_container_status_waiting_reason",
        ]);
        assert.deepStrictEqual(metricNames("certmanager_certificate_expiration_timestamp_seconds - time() < 30 * 24 * 3600"), [
            "certmanager_certificate_expiration_timestamp_seconds",
        ]);
        assert.deepStrictEqual(metricNames('sum by (job) (up{job="kube-etcd"}) and on (job) etcd_server_has_leader'), [
            "up",
            "etcd_server_has_leader",
        ]);
        assert.deepStrictEqual(metricNames("etcd_mvcc_db_total_size_in_bytes > 2e9"), ["etcd_mvcc_db_total_size_in_bytes"]);
    });

    for (const stack of ["homelab", "lab"]) {
        it(`${stack}: each metric of each alert comes from a monitor the computed values switch on and Prometheus selects`, () => {
            const settings = parseStackSettings(stack, clone(rawStackConfig(stack)));
            const values = {
                kubePrometheusStack: monitoringValues(settings.cluster, settings.platform, {
                    adminSecret: "grafana-admin",
                    storageClass: "truenas-iscsi",
                }),
                certManager: certManagerValues(),
            };
            for (const rule of alertRules) {
                for (const metric of metricNames(rule.expr)) {
                    const source = metricSources.find(s => metric.startsWith(s.prefix));
                    assert.ok(source, `${rule.alert}: nothing the stack installs exports ${metric}`);
                    for (const [key, wanted] of Object.entries(source.requires)) {
                        const got = at(values[source.chart], key);
                        const allowed = (Array.isArray(wanted) ? wanted : [wanted]).map(w => (w === "$release" ? monitoringRelease : w));
                        assert.ok(
                            allowed.includes(got),
                            `${rule.alert}: ${metric} is scraped by ${source.scrapedBy} only with ` +
                                `${source.chart} values ${key} = ${allowed.map(String).join(" or ")}, got ${JSON.stringify(got)}`,
                        );
                    }
                }
            }
        });
    }

    it("would have caught the cert-manager expiry alert that could never fire", () => {
        const source = metricSources.find(s => s.prefix === "certmanager_")!;
        const without = { crds: { enabled: true, keep: true } };
        assert.ok(
            Object.entries(source.requires).some(([k, w]) => at(without, k) !== w),
            "the chart's defaults do not scrape cert-manager",
        );
    });
});
