// Dashboards as code: the repository's dashboards load, and a broken one is refused by name.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadDashboards } from "../components/platform/dashboards";
import { alertRules } from "../components/platform/alerts";

describe("Grafana dashboards as code", () => {
    it("loads the repository's dashboards, etcd first among them", () => {
        const dashboards = loadDashboards();
        assert.ok(dashboards.some(d => d.uid === "homelab-etcd"));
        const etcd = JSON.parse(dashboards.find(d => d.uid === "homelab-etcd")!.json);
        const exprs: string[] = etcd.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
        // The dashboard shows what the etcd alerts watch.
        for (const metric of ["etcd_mvcc_db_total_size_in_bytes", "etcd_server_has_leader"]) {
            assert.ok(
                exprs.some(e => e.includes(metric)),
                metric,
            );
            assert.ok(
                alertRules.some(r => r.expr.includes(metric)),
                metric,
            );
        }
    });

    it("refuses invalid JSON, a missing uid, a duplicate uid and a fixed data source, naming the file", () => {
        const cases: [Record<string, string>, RegExp][] = [
            [{ "a.json": "{" }, /dashboards\/a\.json: not JSON/],
            [{ "a.json": JSON.stringify({ title: "x" }) }, /dashboards\/a\.json: needs a uid/],
            [
                { "a.json": JSON.stringify({ uid: "x", title: "x" }), "b.json": JSON.stringify({ uid: "x", title: "y" }) },
                /dashboards\/b\.json: uid x is already used by dashboards\/a\.json/,
            ],
            [
                { "a.json": JSON.stringify({ uid: "x", title: "x", panels: [{ datasource: { uid: "P1809F7CD0C75ACF3" } }] }) },
                /dashboards\/a\.json: panels must use the \$\{datasource\} variable/,
            ],
        ];
        for (const [files, message] of cases) {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboards-"));
            for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
            assert.throws(() => loadDashboards(dir), message);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
