// Pure builders of the shell scripts the NAS runs. Every name and value was validated by the
// config schema (no shell metacharacters can reach here), and is single-quoted anyway.
import type { DatasetConfig, NasConfig } from "../../stacks/config";

/**
 * The user property that marks a dataset as managed, and by which project and stack. ZFS user
 * properties are inherited, so every child of a managed dataset (democratic-csi's volumes, the old
 * zvol, anything made by hand) reports the parent's value too: only a value whose source is
 * `local` means "managed". It is read and compared that way everywhere (`zfs get -s local`, the
 * source column).
 */
export const managedByProperty = "org.homelab-iac:managed-by";

// This module runs inside the drift sentinel's dynamic provider too, whose code Pulumi serializes
// into the state: a Set or Map loses its internal slots there (`Set.prototype.has called on
// incompatible receiver` on refresh), so lookups below use arrays.

/** Properties that count only where they are set on the dataset itself, never inherited. */
const localOnlyProperties: readonly string[] = [managedByProperty];

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The properties this project owns on a dataset: the configured ones plus the managed-by mark. */
export function managedProperties(dataset: DatasetConfig, owner: string): Record<string, string> {
    return { ...dataset.properties, [managedByProperty]: owner };
}

/** `zfs` as the NAS's user runs it: by absolute path, through sudo for a non-root user. */
export function zfsCommand(nas: Pick<NasConfig, "sudo" | "zfsPath">): string {
    return nas.sudo ? `sudo -n ${shellQuote(nas.zfsPath)}` : shellQuote(nas.zfsPath);
}

/**
 * Creates the dataset if it is missing, otherwise adopts it; then sets every managed property
 * that differs. Refuses, before changing anything, a parent or dataset that is a volume (zvols
 * cannot hold datasets; the seed's `talos-iscsi-share` pitfall). Idempotent: a second run sets
 * nothing. Prints one line per action, so the command's output says what changed.
 */
export function ensureDatasetScript(nas: Pick<NasConfig, "sudo" | "zfsPath" | "pool">, dataset: DatasetConfig, owner: string): string {
    const zfs = zfsCommand(nas);
    const name = shellQuote(dataset.name);
    const props = Object.entries(managedProperties(dataset, owner));
    const createOpts = props.map(([k, v]) => `-o ${shellQuote(`${k}=${v}`)}`).join(" ");
    const lines = [
        "set -eu",
        `zfs() { ${zfs} "$@"; }`,
        `ds=${name}`,
        `parent=\${ds%/*}`,
        // The parent must exist and be a filesystem before anything is created under it.
        `ptype=$(zfs get -H -o value type "$parent" 2>/dev/null) || { echo "parent $parent of $ds does not exist" >&2; exit 3; }`,
        `[ "$ptype" = filesystem ] || { echo "parent $parent of $ds is a $ptype, not a filesystem: datasets cannot live under a zvol" >&2; exit 3; }`,
        `if type=$(zfs get -H -o value type "$ds" 2>/dev/null); then`,
        `  [ "$type" = filesystem ] || { echo "$ds exists as a $type, not a filesystem; refusing to adopt it" >&2; exit 3; }`,
        `  echo "adopted $ds"`,
        "else",
        `  zfs create ${createOpts} "$ds"`,
        `  echo "created $ds"`,
        "fi",
    ];
    for (const [k, v] of props) {
        const kv = shellQuote(`${k}=${v}`);
        // Sizes are compared in bytes (-p): ZFS prints 1024M back as 1G.
        const bytes = sizeProperties.includes(k) ? zfsBytes(v) : undefined;
        // The marker must be set here, not inherited from a managed parent: `-s local` prints
        // nothing for an inherited value, so an inherited marker is set locally like a missing one.
        const current =
            bytes !== undefined
                ? `zfs get -Hp -o value ${shellQuote(k)} "$ds"`
                : localOnlyProperties.includes(k)
                  ? `zfs get -H -s local -o value ${shellQuote(k)} "$ds"`
                  : `zfs get -H -o value ${shellQuote(k)} "$ds"`;
        const want = bytes !== undefined ? shellQuote(String(bytes)) : shellQuote(v);
        lines.push(`[ "$(${current})" = ${want} ] || { zfs set ${kv} "$ds"; echo "set ${k}=${v} on $ds"; }`);
    }
    return lines.join("\n") + "\n";
}

/** The ensure script marked with the drift generation that last re-ran it (a comment: inert). */
export function withDriftGeneration(script: string, generation: number): string {
    return `# drift generation ${generation}\n${script}`;
}

/**
 * Destroys the dataset, never recursively: children or snapshots make it fail, losing nothing.
 * A just-used mount can be briefly busy (zfs-fuse, and real ZFS under load): a few retries.
 */
export function destroyDatasetScript(nas: Pick<NasConfig, "sudo" | "zfsPath">, dataset: DatasetConfig): string {
    const zfs = zfsCommand(nas);
    const name = shellQuote(dataset.name);
    return (
        [
            "set -eu",
            `${zfs} get -H -o value type ${name} >/dev/null 2>&1 || exit 0`,
            "for attempt in 1 2 3 4 5; do",
            `  if ${zfs} destroy ${name}; then echo "destroyed ${dataset.name}"; exit 0; fi`,
            "  sleep 1",
            "done",
            "exit 1",
        ].join("\n") + "\n"
    );
}

/**
 * Reads the managed properties of a dataset as `property<TAB>value<TAB>source` lines; prints
 * nothing (and succeeds) when the dataset does not exist. Read-only.
 */
export function readPropertiesScript(nas: Pick<NasConfig, "sudo" | "zfsPath">, name: string, properties: readonly string[]): string {
    const zfs = zfsCommand(nas);
    const list = shellQuote(["type", ...properties].join(","));
    return `${zfs} get -H -o property,value,source ${list} ${shellQuote(name)} 2>/dev/null || true\n`;
}

/**
 * Parses the output of readPropertiesScript; undefined means the dataset does not exist. The
 * managed-by marker counts only when set locally: an inherited one is left out, as if unset.
 */
export function parseProperties(output: string): Record<string, string> | undefined {
    const props: Record<string, string> = {};
    let lines = 0;
    for (const line of output.split("\n")) {
        const [property, value, source] = line.split("\t");
        if (property && value !== undefined) {
            lines++;
            if (!localOnlyProperties.includes(property) || source === "local") {
                props[property] = value;
            }
        }
    }
    return lines === 0 ? undefined : props;
}

/** Managed properties whose observed value differs from the desired one ("missing" if absent). */
export function driftedProperties(desired: Readonly<Record<string, string>>, observed: Readonly<Record<string, string>> | undefined): string[] {
    if (observed === undefined) {
        return ["(dataset missing)"];
    }
    return Object.keys(desired)
        .filter(k => !sameZfsValue(k, desired[k], observed[k]))
        .sort();
}

/** ZFS prints sizes its own way (50G as 50G, 1024M as 1G); compare sizes by bytes. */
function sameZfsValue(property: string, desired: string, observed: string | undefined): boolean {
    if (observed === undefined) {
        return false;
    }
    if (desired === observed) {
        return true;
    }
    const a = zfsBytes(desired);
    const b = zfsBytes(observed);
    return a !== undefined && a === b && sizeProperties.includes(property);
}

/** Properties whose values are sizes. */
const sizeProperties: readonly string[] = ["quota", "refquota", "reservation", "refreservation", "recordsize"];

/** A ZFS size in bytes (`none` is 0), or undefined when the value is not a size. */
export function zfsBytes(v: string): number | undefined {
    if (v === "none") {
        return 0;
    }
    const m = /^(\d+(?:\.\d+)?)([KMGTPE]?)B?$/i.exec(v);
    if (!m) {
        return undefined;
    }
    return Math.round(Number(m[1]) * 1024 ** " KMGTPE".indexOf(m[2].toUpperCase() || " "));
}
