// Which etcd snapshots to keep: 7 daily, 4 weekly, 12 monthly, the rule the homelab's owner asked
// for. Pure, so the backup job, the laptop command and the tests share one definition.
//
// Each tier keeps the newest snapshot of each of its most recent periods that have a snapshot:
// the last 7 days with a snapshot, the last 4 ISO weeks, the last 12 months (UTC). A snapshot
// kept by any tier stays; everything else may be deleted. A gap (the NAS was off for a week)
// therefore never empties a tier: older periods move up.

export interface RetentionPolicy {
    readonly daily: number;
    readonly weekly: number;
    readonly monthly: number;
}

export const defaultRetention: RetentionPolicy = { daily: 7, weekly: 4, monthly: 12 };

const day = (t: Date) => t.toISOString().slice(0, 10);
const month = (t: Date) => t.toISOString().slice(0, 7);
/** ISO 8601 week, e.g. 2026-W48 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(t: Date): string {
    const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
    const weekday = d.getUTCDay() || 7;
    d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
    return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** The snapshots to keep, by the times they were taken (any order; duplicates are one snapshot). */
export function snapshotsToKeep(taken: readonly Date[], policy: RetentionPolicy = defaultRetention): Set<number> {
    const newestFirst = [...new Set(taken.map(t => t.getTime()))].sort((a, b) => b - a);
    const keep = new Set<number>();
    const tiers: [(t: Date) => string, number][] = [
        [day, policy.daily],
        [isoWeek, policy.weekly],
        [month, policy.monthly],
    ];
    for (const [period, count] of tiers) {
        const seen = new Set<string>();
        for (const t of newestFirst) {
            const p = period(new Date(t));
            if (seen.has(p)) continue;
            if (seen.size === count) break;
            seen.add(p);
            keep.add(t); // newest first: the first snapshot met in a period is its newest
        }
    }
    return keep;
}
