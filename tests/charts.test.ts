// The lab's stand-in charts (lab/charts/) against the stack files and the program, without Helm:
// every chart the lab pins from its own repository has a stand-in of that name and version (and no
// stand-in is left over), each names the upstream source it stands for, and every values key the
// program sets is a key the chart declares (a key Helm does not know is silently ignored, so a
// typo would pass unnoticed in the lab and in production alike).
import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import * as v from "../components/platform/values";
import { parseStackSettings, StackSettings } from "../stacks/config";
import { isLoopback } from "../stacks/rules";
import { clone, rawStackConfig, root } from "./stackfiles";

const chartsDir = path.join(root, "lab", "charts");
type Tree = Record<string, unknown>;
type ChartKey = keyof StackSettings["platform"]["charts"];

function readYaml(file: string): Tree {
    return (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as Tree;
}

function isMap(x: unknown): x is Tree {
    return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** Values as Helm coalesces them: a subchart's defaults under its name, the parent's on top. */
function mergeDefaults(under: unknown, over: unknown): unknown {
    if (!isMap(under) || !isMap(over)) return over === undefined ? under : over;
    const out: Tree = { ...under };
    for (const [k, x] of Object.entries(over)) out[k] = mergeDefaults(under[k], x);
    return out;
}

/** A stand-in's declared values: its values.yaml with its subcharts' values.yaml under their names. */
function declaredValues(chart: string): Tree {
    const dir = path.join(chartsDir, chart);
    let defaults: Tree = {};
    const sub = path.join(dir, "charts");
    if (fs.existsSync(sub)) {
        for (const name of fs.readdirSync(sub)) {
            const file = path.join(sub, name, "values.yaml");
            if (fs.existsSync(file)) defaults[name] = readYaml(file);
        }
    }
    defaults = mergeDefaults(defaults, readYaml(path.join(dir, "values.yaml"))) as Tree;
    return defaults;
}

/** Paths whose maps are free-form upstream though the chart ships some keys in them. */
const openPaths: Readonly<Record<string, readonly string[]>> = {
    "kube-prometheus-stack": ["alertmanager.config"],
    "argo-cd": ["configs.params", "configs.cm"],
};

/**
 * The keys of `given` the chart does not declare. A map the chart leaves empty ({}) or null is
 * free-form (labels, annotations, driver config); lists are values, not keys.
 */
function undeclared(given: unknown, declared: unknown, open: readonly string[], at = ""): string[] {
    if (!isMap(given)) return [];
    const out: string[] = [];
    for (const [key, value] of Object.entries(given)) {
        const p = at ? `${at}.${key}` : key;
        if (open.includes(p)) continue;
        if (!isMap(declared) || !(key in declared)) {
            out.push(p);
            continue;
        }
        const d = declared[key];
        if (isMap(value)) {
            if (isMap(d) && Object.keys(d).length > 0) out.push(...undeclared(value, d, open, p));
            else if (d !== null && d !== undefined && !isMap(d)) out.push(`${p} (the chart's default is not a map)`);
        }
    }
    return out;
}

/** The values the program gives each chart, per platform.charts key. */
function programValues(s: StackSettings): Record<ChartKey, Record<string, unknown>[]> {
    return {
        metallb: [v.metallbValues(s.cluster)],
        traefik: [v.traefikValues(s.network)],
        certManager: [v.certManagerValues()],
        democraticCsi: (["iscsi", "nfs"] as const).map(p =>
            v.democraticCsiValues(p, `democratic-csi-${p}-driver-config`, s.platform.democraticCsi.image, s.platform.democraticCsi[p]),
        ),
        kubePrometheusStack: [
            v.monitoringValues(s.cluster, s.platform, { adminSecret: "grafana-admin", storageClass: s.platform.grafana.storageClass }),
        ],
        argocd: [v.argocdValues("$2a$10$stand.in.bcrypt.hash", "2026-01-01T00:00:00Z")],
        csrApprover: [v.csrApproverValues(s.cluster)],
    };
}

describe("lab stand-in charts", () => {
    const lab = parseStackSettings("lab", clone(rawStackConfig("lab")));
    const standIns = fs
        .readdirSync(chartsDir)
        .filter(d => fs.existsSync(path.join(chartsDir, d, "Chart.yaml")))
        .sort();

    it("every chart the lab pins from its loopback repository has a stand-in of that name and version, and none is left over", () => {
        const pinned = Object.values(lab.platform.charts).filter(c => isLoopback(new URL(c.repo).hostname));
        assert.ok(pinned.length > 0, "the lab pins no chart from its own repository");
        for (const c of pinned) {
            const file = path.join(chartsDir, c.chart, "Chart.yaml");
            assert.ok(fs.existsSync(file), `no stand-in lab/charts/${c.chart} for ${c.chart} ${c.version}`);
            const meta = readYaml(file);
            assert.deepStrictEqual([meta.name, String(meta.version)], [c.chart, c.version], file);
        }
        assert.deepStrictEqual(standIns, [...new Set(pinned.map(c => c.chart))].sort(), "stand-ins the lab does not pin");
    });

    it("each stand-in names the upstream repository, tag and path it stands for", () => {
        for (const chart of standIns) {
            const { description } = readYaml(path.join(chartsDir, chart, "Chart.yaml")) as { description?: string };
            assert.strictEqual(typeof description, "string", `lab/charts/${chart}/Chart.yaml has a description`);
            assert.match(description!, /Stands for github\.com\/[\w.-]+\/[\w.-]+ tag \S+, \S+/, `lab/charts/${chart}/Chart.yaml`);
        }
    });

    for (const stack of ["homelab", "lab"]) {
        it(`${stack}: every values key the program sets is one the chart declares`, () => {
            const s = parseStackSettings(stack, clone(rawStackConfig(stack)));
            const values = programValues(s);
            for (const key of Object.keys(values) as ChartKey[]) {
                const chart = s.platform.charts[key].chart;
                const declared = declaredValues(chart);
                for (const given of values[key]) {
                    assert.deepStrictEqual(
                        undeclared(given, declared, openPaths[chart] ?? []),
                        [],
                        `values of ${chart} that lab/charts/${chart} does not declare`,
                    );
                }
            }
        });
    }

    it("a key the chart does not declare is caught (the check can fail)", () => {
        const declared = declaredValues("metallb");
        assert.deepStrictEqual(undeclared({ speaker: { ignoreExcludeLb: true } }, declared, []), ["speaker.ignoreExcludeLb"]);
        assert.deepStrictEqual(
            undeclared(
                { speaker: { image: { tag: "v1" } }, prometheus: { serviceMonitor: { speaker: { additionalLabels: { release: "x" } } } } },
                declared,
                [],
            ),
            [],
        );
        assert.deepStrictEqual(
            undeclared(
                { "kube-state-metrics": { releaseLabel: true, prometheus: { monitor: { enable: true } } } },
                declaredValues("kube-prometheus-stack"),
                [],
            ),
            ["kube-state-metrics.prometheus.monitor.enable"],
        );
    });
});

describe("Grafana's name and Alertmanager's volume, in the values and the stand-in", () => {
    const home = parseStackSettings("homelab", clone(rawStackConfig("homelab")));
    const values = v.monitoringValues(home.cluster, home.platform, { adminSecret: "grafana-admin", storageClass: "truenas-nfs" }) as any;
    const standIn = path.join(chartsDir, "kube-prometheus-stack");

    it("names Grafana's Service grafana, as the owner's port-forward uses it", () => {
        assert.strictEqual(values.grafana.fullnameOverride, "grafana");
        assert.strictEqual(v.grafanaServiceName, "grafana");
    });

    it("the grafana stand-in's fullname takes fullnameOverride first, as upstream's does", () => {
        // grafana/helm-charts tag grafana-10.1.4 (1dcaa30574cd4ce4c54a7d5ca16867f88de7ee16),
        // charts/grafana/templates/_helpers.tpl "grafana.fullname": fullnameOverride | trunc 63 |
        // trimSuffix "-", before and instead of the release-name rule.
        const helpers = fs.readFileSync(path.join(standIn, "charts/grafana/templates/_helpers.tpl"), "utf8");
        const fullname = /define "grafana\.standin\.fullname" -}}([\s\S]*?){{- end -}}\n/.exec(helpers)?.[1] ?? "";
        const branches = fullname.split(/{{-? ?else/);
        assert.match(branches[0], /if \.Values\.fullnameOverride -}}{{ \.Values\.fullnameOverride \| trunc 63 \| trimSuffix "-" }}/);
        assert.match(branches[1], /if contains \$name \.Release\.Name/);
        // Every object of the subchart is named through that helper, none by the release name.
        const templates = fs.readFileSync(path.join(standIn, "charts/grafana/templates/grafana.yaml"), "utf8");
        assert.doesNotMatch(templates, /name: {{ \.Release\.Name }}/);
        assert.match(templates, /{{- \$full := include "grafana\.standin\.fullname" \. }}/);
    });

    it("gives Alertmanager a claim on Grafana's StorageClass", () => {
        assert.deepStrictEqual(values.alertmanager.alertmanagerSpec.storage, {
            volumeClaimTemplate: {
                spec: { storageClassName: "truenas-nfs", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
        });
        assert.deepStrictEqual(
            undeclared(
                { alertmanager: { alertmanagerSpec: { storage: values.alertmanager.alertmanagerSpec.storage } } },
                declaredValues("kube-prometheus-stack"),
                [],
            ),
            [],
        );
    });

    it("the stand-in renders alertmanagerSpec.storage as the Alertmanager's storage, as upstream does", () => {
        // prometheus-community/helm-charts tag kube-prometheus-stack-79.5.0
        // (a064fc60bca54b09eb35aa3be0e71239c1dadce3), templates/alertmanager/alertmanager.yaml:
        // `storage:` from `tpl (toYaml .Values.alertmanager.alertmanagerSpec.storage)` when set;
        // values.yaml's default is {} (no storage field: an emptyDir).
        const template = fs.readFileSync(path.join(standIn, "templates/alertmanager.yaml"), "utf8");
        const kind = template.indexOf("kind: Alertmanager");
        const end = template.indexOf("\n---", kind);
        assert.match(
            template.slice(kind, end),
            /{{- if \$spec\.storage }}\n {2}storage:\n {4}{{- tpl \(toYaml \$spec\.storage\) \. \| nindent 4 }}\n {2}{{- end }}/,
        );
        assert.deepStrictEqual((declaredValues("kube-prometheus-stack") as any).alertmanager.alertmanagerSpec.storage, {});
    });
});
