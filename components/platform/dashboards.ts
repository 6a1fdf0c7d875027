// Grafana dashboards as code: every dashboards/*.json of the repository becomes a ConfigMap that
// Grafana's sidecar loads (label grafana_dashboard), so a dashboard changes by pull request and
// a rebuilt Grafana comes back with all of them.
import * as fs from "fs";
import * as path from "path";

export const dashboardsDir = path.resolve(__dirname, "../../dashboards");

export interface Dashboard {
    readonly file: string;
    readonly uid: string;
    readonly json: string;
}

/** Reads and checks the dashboards: JSON with a uid and a title, uids unique, data source templated. */
export function loadDashboards(dir = dashboardsDir): Dashboard[] {
    const files = fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter(f => f.endsWith(".json"))
              .sort()
        : [];
    const seen = new Map<string, string>();
    return files.map(file => {
        const text = fs.readFileSync(path.join(dir, file), "utf8");
        let doc: { uid?: unknown; title?: unknown; panels?: { datasource?: { uid?: string } }[] };
        try {
            doc = JSON.parse(text) as typeof doc;
        } catch (e) {
            throw new Error(`dashboards/${file}: not JSON: ${(e as Error).message}`, { cause: e });
        }
        if (typeof doc.uid !== "string" || !/^[a-z0-9-]{1,40}$/.test(doc.uid) || typeof doc.title !== "string") {
            throw new Error(`dashboards/${file}: needs a uid (lowercase letters, digits, '-', at most 40) and a title`);
        }
        if (seen.has(doc.uid)) throw new Error(`dashboards/${file}: uid ${doc.uid} is already used by dashboards/${seen.get(doc.uid)}`);
        seen.set(doc.uid, file);
        const fixed = (doc.panels ?? []).filter(p => p.datasource?.uid !== undefined && p.datasource.uid !== "${datasource}");
        if (fixed.length > 0) throw new Error(`dashboards/${file}: panels must use the \${datasource} variable, not a fixed data source uid`);
        return { file, uid: doc.uid, json: text };
    });
}
