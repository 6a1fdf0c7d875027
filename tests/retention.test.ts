// The etcd snapshot retention rule (7 daily, 4 weekly, 12 monthly), by properties over random
// snapshot histories and over a simulated year of nightly backups.
import * as assert from "assert";
import * as fc from "fast-check";
import { isoWeek, snapshotsToKeep } from "../components/backup/retention";

const dayMs = 86_400_000;
const history = fc
    .uniqueArray(fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }), { minLength: 0, maxLength: 400 })
    .map(ts => ts.map(t => new Date(t)));

describe("etcd snapshot retention", () => {
    it("keeps the newest snapshot, never more than 7 + 4 + 12, and only snapshots that exist", () => {
        fc.assert(
            fc.property(history, taken => {
                const keep = snapshotsToKeep(taken);
                const times = new Set(taken.map(t => t.getTime()));
                assert.ok(keep.size <= 23);
                for (const t of keep) assert.ok(times.has(t));
                if (taken.length > 0) assert.ok(keep.has(Math.max(...times)));
            }),
        );
    });

    it("keeps the newest snapshot of each of the 7 most recent days, 4 weeks and 12 months that have one", () => {
        fc.assert(
            fc.property(history, taken => {
                const keep = snapshotsToKeep(taken);
                for (const [period, count] of [
                    [(t: Date) => t.toISOString().slice(0, 10), 7],
                    [isoWeek, 4],
                    [(t: Date) => t.toISOString().slice(0, 7), 12],
                ] as const) {
                    const newestOf = new Map<string, number>();
                    for (const t of taken) {
                        const p = period(t);
                        newestOf.set(p, Math.max(newestOf.get(p) ?? 0, t.getTime()));
                    }
                    const recent = [...newestOf.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
                    for (const [p, t] of recent) assert.ok(keep.has(t), `${p} keeps its newest`);
                }
            }),
        );
    });

    it("pruning twice is pruning once (the kept set is stable)", () => {
        fc.assert(
            fc.property(history, taken => {
                const once = snapshotsToKeep(taken);
                const twice = snapshotsToKeep([...once].map(t => new Date(t)));
                assert.deepStrictEqual([...twice].sort(), [...once].sort());
            }),
        );
    });

    it("over a simulated year of nightly snapshots, pruned every night, keeps 7 days, 4 weeks, 12 months", () => {
        let kept: Date[] = [];
        const start = Date.UTC(2026, 0, 1, 2); // 02:00 UTC every night of 2026
        for (let n = 0; n < 365; n++) {
            kept.push(new Date(start + n * dayMs));
            const keep = snapshotsToKeep(kept);
            kept = kept.filter(t => keep.has(t.getTime()));
        }
        const days = kept.map(t => t.toISOString().slice(0, 10)).sort();
        // The last 7 nights...
        assert.deepStrictEqual(days.slice(-7), ["2026-12-25", "2026-12-26", "2026-12-27", "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31"]);
        // ...the newest of each of the 4 last ISO weeks, and of each of the 12 months.
        assert.deepStrictEqual(new Set(kept.map(isoWeek)).size >= 4, true);
        for (let m = 1; m <= 12; m++) {
            const last = new Date(Date.UTC(2026, m, 0)).toISOString().slice(0, 10); // last day of month m
            assert.ok(days.includes(last), `month ${m} keeps its last night, ${last}`);
        }
        assert.ok(kept.length <= 23 && kept.length >= 19, `${kept.length} snapshots kept`);
    });

    it("numbers ISO weeks as ISO 8601 does, across year ends", () => {
        assert.strictEqual(isoWeek(new Date("2026-11-26T12:00:00Z")), "2026-W48");
        assert.strictEqual(isoWeek(new Date("2027-01-01T00:00:00Z")), "2026-W53");
        assert.strictEqual(isoWeek(new Date("2024-12-30T00:00:00Z")), "2025-W01");
    });
});
