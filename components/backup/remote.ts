// How etcd snapshots are stored on the NAS: their names, and the shell the NAS runs to store,
// list and prune them. Shared by the laptop command (tools/etcd-backup.ts, over ssh2) and the
// in-cluster job (components/backup/job.ts, over OpenSSH), so both keep one layout and one
// retention rule. The job ships these functions as code (with the zfs helpers they call).
import { shellQuote, zfsCommand } from "../nas/zfs";

export interface SnapshotStore {
    /** Run privileged commands through `sudo -n` (a non-root NAS user). */
    readonly sudo: boolean;
    readonly zfsPath: string;
    /** The dataset the snapshots live in. */
    readonly dataset: string;
}

export function isSnapshotName(name: string): boolean {
    return /^etcd-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.db$/.test(name);
}

/** When a snapshot was taken, from its name (etcd-2026-11-26T03-00-00Z.db); undefined for other files. */
export function takenAt(name: string): Date | undefined {
    const m = /^etcd-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)Z\.db$/.exec(name);
    return m ? new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : undefined;
}

export function snapshotName(t: Date): string {
    return `etcd-${t.toISOString().slice(0, 19).replace(/:/g, "-")}Z.db`;
}

/** The start of every script: strict mode, and $mp set to the dataset's mountpoint. */
function preamble(store: SnapshotStore): string {
    return `set -eu\nmp=$(${zfsCommand(store)} get -H -o value mountpoint ${shellQuote(store.dataset)})\n`;
}

/**
 * Stores the snapshot on stdin as `name`: written as a hidden .part file and renamed, so a broken
 * transfer never looks like a snapshot. Prints the dataset's listing afterwards.
 */
export function storeScript(store: SnapshotStore, name: string): string {
    if (!isSnapshotName(name)) throw new Error(`${name} is not a snapshot name`);
    const sudo = store.sudo ? "sudo -n " : "";
    const part = `"$mp"/.${name}.part`;
    return (
        preamble(store) +
        [
            `${sudo}/usr/bin/tee ${part} >/dev/null`,
            `[ -s ${part} ] || { ${sudo}/usr/bin/rm -f ${part}; echo "empty snapshot" >&2; exit 1; }`,
            `${sudo}/usr/bin/mv ${part} "$mp"/${name}`,
            `ls -1 "$mp"`,
        ].join("\n")
    );
}

export function listScript(store: SnapshotStore): string {
    return preamble(store) + `ls -1 "$mp"`;
}

export function readScript(store: SnapshotStore, name: string): string {
    if (!isSnapshotName(name)) throw new Error(`${name} is not a snapshot name`);
    return preamble(store) + `cat "$mp"/${name}`;
}

export function pruneScript(store: SnapshotStore, names: readonly string[]): string {
    for (const n of names) if (!isSnapshotName(n)) throw new Error(`${n} is not a snapshot name`);
    const sudo = store.sudo ? "sudo -n " : "";
    // One file per rm: the NAS's sudoers grant (sudoersGrant) allows exactly one snapshot per call.
    return preamble(store) + names.map(n => `${sudo}/usr/bin/rm -f "$mp"/${n}`).join("\n");
}

/** The snapshots in a listing, oldest first. */
export function snapshotsIn(listing: string): string[] {
    return listing
        .split("\n")
        .filter(n => isSnapshotName(n))
        .sort();
}

/**
 * The sudoers line the NAS user needs for this project, and nothing wider: `zfs` for the datasets,
 * and tee, mv and rm of one snapshot file at a time in the backup dataset's mountpoint. The file
 * arguments are regular expressions (sudo 1.9.10 and later, as TrueNAS SCALE 25.04 ships) that
 * cannot match a space or a slash, so no extra argument or other path gets through.
 */
export function sudoersGrant(user: string, zfsPath: string, backupMountpoint?: string): string {
    const commands = [zfsPath];
    if (backupMountpoint !== undefined) {
        // sudoers reads `,` `:` `=` and `\` itself; a regex `.` is written `[.]`.
        const dir = backupMountpoint.replace(/[.]/g, "[.]").replace(/[,:=\\]/g, c => `\\${c}`);
        const name = "etcd-[0-9T-]+Z[.]db";
        commands.push(
            `/usr/bin/tee ^${dir}/[.]${name}[.]part$`,
            `/usr/bin/mv ^${dir}/[.]${name}[.]part ${dir}/${name}$`,
            `/usr/bin/rm ^-f ${dir}/[.]?${name}([.]part)?$`,
        );
    }
    return `${user} ALL=(root) NOPASSWD: ${commands.join(", ")}`;
}
