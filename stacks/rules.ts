// Pure rules about addresses, versions and ZFS names. They take plain data and return plain data,
// so the config schema, the components and the property tests share one definition of each.

/** Parses a dotted-quad IPv4 address into a 32-bit unsigned integer, or undefined. */
export function parseIPv4(text: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    if (!m) {
        return undefined;
    }
    const octets = m.slice(1).map(Number);
    if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) {
        return undefined;
    }
    return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

export function formatIPv4(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function isLoopback(address: string): boolean {
    const n = parseIPv4(address);
    return n !== undefined && n >>> 24 === 127;
}

/** An inclusive IPv4 range, written `a.b.c.d-e.f.g.h` or as a single address. */
export interface IPv4Range {
    readonly start: number;
    readonly end: number;
}

/** Parses `start-end` (or one address). Throws a message that says which half is wrong. */
export function parseIPv4Range(text: string): IPv4Range {
    const parts = text.split("-").map(s => s.trim());
    if (parts.length > 2) {
        throw new Error(`"${text}" is not a range: expected "<first address>-<last address>"`);
    }
    const start = parseIPv4(parts[0]);
    if (start === undefined) {
        throw new Error(`"${parts[0]}" is not an IPv4 address`);
    }
    const end = parts.length === 2 ? parseIPv4(parts[1]) : start;
    if (end === undefined) {
        throw new Error(`"${parts[1]}" is not an IPv4 address`);
    }
    if (end < start) {
        throw new Error(`range "${text}" ends (${parts[1]}) before it starts (${parts[0]})`);
    }
    return { start, end };
}

export function rangeContains(range: IPv4Range, address: number): boolean {
    return address >= range.start && address <= range.end;
}

export function rangesOverlap(a: IPv4Range, b: IPv4Range): boolean {
    return a.start <= b.end && b.start <= a.end;
}

/** A pinned release version such as v1.11.5 (Talos, Kubernetes): no ranges, no "latest". */
export const pinnedVersionPattern = /^v\d+\.\d+\.\d+$/;

/** A pinned chart version: exact semver, with or without a leading v, optional pre-release. */
export const chartVersionPattern = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/**
 * ZFS dataset names: a pool name then `/`-separated components of letters, digits, `_ - . :`.
 * The allowed set is also what keeps a name from breaking out of a remote shell command.
 */
export function zfsDatasetNameProblem(name: string): string | undefined {
    if (name.length === 0) {
        return "is empty";
    }
    if (name.length > 255) {
        return "is longer than ZFS's 255 characters";
    }
    if (/\s/.test(name)) {
        return "contains a space";
    }
    if (/[@#]/.test(name)) {
        return "names a snapshot or bookmark (contains @ or #), not a dataset";
    }
    const components = name.split("/");
    if (components.some(c => c.length === 0)) {
        return "has an empty component (leading, trailing or doubled /)";
    }
    const bad = components.find(c => !/^[A-Za-z0-9_.:-]+$/.test(c));
    if (bad !== undefined) {
        return `has the component "${bad}" with a character ZFS does not allow (letters, digits, _ - . : only)`;
    }
    if (components.some(c => c === "." || c === "..")) {
        return 'has a "." or ".." component';
    }
    if (!/^[A-Za-z]/.test(components[0])) {
        return `starts with pool name "${components[0]}", which must begin with a letter`;
    }
    if (/^(mirror|raidz|draid|spare|log)/.test(components[0])) {
        return `starts with pool name "${components[0]}", which ZFS reserves`;
    }
    return undefined;
}

export function parentDataset(name: string): string | undefined {
    const i = name.lastIndexOf("/");
    return i < 0 ? undefined : name.slice(0, i);
}

/** ZFS size values: `none` or a number with an optional K/M/G/T/P/E suffix (optionally B). */
export const zfsSizePattern = /^(none|\d+(\.\d+)?[KMGTPE]?B?)$/i;

/**
 * The ZFS properties this project sets, each with the values ZFS accepts. A user property
 * (`module:name`) takes any value made of safe characters.
 */
const recordSizes = Array.from({ length: 16 }, (_, i) => 512 * 2 ** i);
export const zfsPropertyRules: Readonly<Record<string, { describe: string; test: (v: string) => boolean }>> = {
    compression: {
        describe: "on, off, gzip, gzip-1..9, zle, lzjb, lz4, zstd, zstd-1..19",
        test: v => /^(on|off|gzip|gzip-[1-9]|zle|lzjb|lz4|zstd|zstd-([1-9]|1[0-9])|zstd-fast)$/.test(v),
    },
    quota: { describe: "none or a size such as 50G", test: v => zfsSizePattern.test(v) },
    refquota: { describe: "none or a size such as 50G", test: v => zfsSizePattern.test(v) },
    reservation: { describe: "none or a size such as 10G", test: v => zfsSizePattern.test(v) },
    refreservation: { describe: "none or a size such as 10G", test: v => zfsSizePattern.test(v) },
    recordsize: {
        describe: "a power of two from 512 to 16M, such as 128K",
        test: v => {
            const m = /^(\d+)([KM]?)$/i.exec(v);
            if (!m) {
                return false;
            }
            const n = Number(m[1]) * ({ "": 1, K: 1024, M: 1024 * 1024 }[m[2].toUpperCase()] ?? 1);
            return recordSizes.includes(n);
        },
    },
    atime: { describe: "on or off", test: v => /^(on|off)$/.test(v) },
    relatime: { describe: "on or off", test: v => /^(on|off)$/.test(v) },
    readonly: { describe: "on or off", test: v => /^(on|off)$/.test(v) },
    exec: { describe: "on or off", test: v => /^(on|off)$/.test(v) },
    setuid: { describe: "on or off", test: v => /^(on|off)$/.test(v) },
    sync: { describe: "standard, always or disabled", test: v => /^(standard|always|disabled)$/.test(v) },
    snapdir: { describe: "hidden or visible", test: v => /^(hidden|visible)$/.test(v) },
    xattr: { describe: "on, off or sa", test: v => /^(on|off|sa|dir)$/.test(v) },
    acltype: { describe: "off, posix or nfsv4", test: v => /^(off|noacl|posix|posixacl|nfsv4)$/.test(v) },
    canmount: { describe: "on, off or noauto", test: v => /^(on|off|noauto)$/.test(v) },
    copies: { describe: "1, 2 or 3", test: v => /^[123]$/.test(v) },
    mountpoint: { describe: "an absolute path, none or legacy", test: v => /^(none|legacy|\/[A-Za-z0-9_./-]*)$/.test(v) },
};

export const userPropertyPattern = /^[a-z0-9_.-]+:[a-z0-9_.:-]+$/;
export const safeUserPropertyValue = /^[A-Za-z0-9_.:/,=@+-]*$/;

// --- SSH host keys ----------------------------------------------------------------------------

/**
 * Host-key types a pin may have: each works with the command provider (which offers only the
 * pinned type, as upstream's does) and with the drift sentinel (ssh2, limited the same way).
 * `ssh-rsa` is not one: upstream offers an RSA pin only the SHA-1 `ssh-rsa` signature, which
 * OpenSSH 8.8 and later refuse, TrueNAS SCALE's included.
 */
export const pinnableHostKeyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"] as const;

/** The public point's length in the key blob, per type (RFC 8709, RFC 5656). */
const hostKeyPointLength: Readonly<Record<string, number>> = {
    "ssh-ed25519": 32,
    "ecdsa-sha2-nistp256": 65,
    "ecdsa-sha2-nistp384": 97,
    "ecdsa-sha2-nistp521": 133,
};

/** Reads the length-prefixed strings of an SSH wire-format blob; undefined if it is malformed. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
    const parts: Buffer[] = [];
    for (let at = 0; at < blob.length;) {
        if (at + 4 > blob.length) return undefined;
        const length = blob.readUInt32BE(at);
        if (at + 4 + length > blob.length) return undefined;
        parts.push(blob.subarray(at + 4, at + 4 + length));
        at += 4 + length;
    }
    return parts;
}

/**
 * What is wrong with a pinned host key `<type> <base64>` (as `ssh-keyscan` prints it, comment
 * dropped), or undefined when it is a well-formed key of a pinnable type.
 */
export function hostKeyProblem(line: string): string | undefined {
    const [type, base64, ...rest] = line.trim().split(/\s+/);
    if (rest.length > 0 || base64 === undefined) {
        return 'is not `<type> <base64>` such as "ssh-ed25519 AAAA..." (ssh-keyscan -t ed25519 <host> prints it)';
    }
    if (type === "ssh-rsa") {
        return (
            "is an RSA key: the command provider offers only the ssh-rsa (SHA-1) signature for it, which OpenSSH 8.8 and later " +
            "(TrueNAS SCALE's included) refuse; pin the NAS's ed25519 key (ssh-keyscan -t ed25519 <host>)"
        );
    }
    if (!(pinnableHostKeyTypes as readonly string[]).includes(type)) {
        return `has type "${type}", not one of ${pinnableHostKeyTypes.join(", ")}`;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
        return "is not valid base64";
    }
    const blob = Buffer.from(base64, "base64");
    const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : Infinity;
    const named = 4 + nameLength <= blob.length ? blob.subarray(4, 4 + nameLength).toString("latin1") : undefined;
    if (named !== type) {
        return `is not a ${type} key: its base64 holds ${named === undefined ? "no key blob" : `a "${named}" key`}`;
    }
    // ed25519: type, point; ECDSA: type, curve, point.
    const parts = sshStrings(blob);
    const curve = type.startsWith("ecdsa-") ? type.slice("ecdsa-sha2-".length) : undefined;
    const expected = curve === undefined ? 2 : 3;
    if (
        parts === undefined ||
        parts.length !== expected ||
        (curve !== undefined && parts[1].toString("latin1") !== curve) ||
        parts[expected - 1].length !== hostKeyPointLength[type]
    ) {
        return `is not a well-formed ${type} key blob`;
    }
    return undefined;
}

/** The pinned key's algorithm and its blob, as an SSH client compares them. */
export function pinnedHostKey(line: string): { readonly algorithm: string; readonly blob: Buffer } {
    const [algorithm, base64] = line.trim().split(/\s+/);
    return { algorithm, blob: Buffer.from(base64 ?? "", "base64") };
}

/** Parses `a.b.c.d/n` into its network range; throws a message that says what is wrong. */
export function parseIPv4Cidr(text: string): IPv4Range {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
    const address = m ? parseIPv4(m[1]) : undefined;
    const bits = m ? Number(m[2]) : NaN;
    if (address === undefined || !(bits >= 0 && bits <= 32)) {
        throw new Error(`"${text}" is not a subnet such as 192.168.2.0/24`);
    }
    const size = 2 ** (32 - bits);
    const start = address - (address % size);
    if (start !== address) {
        throw new Error(`"${text}" has host bits set: the subnet is ${formatIPv4(start)}/${bits}`);
    }
    return { start, end: start + size - 1 };
}

/** The /24 holding an address: a home LAN's usual subnet, used when config names none. */
export function slash24Of(address: string): string {
    const n = parseIPv4(address);
    if (n === undefined) {
        throw new Error(`"${address}" is not an IPv4 address`);
    }
    return `${formatIPv4(n - (n % 256))}/24`;
}

// --- Talos and Kubernetes versions ----------------------------------------------------------------

/**
 * The Kubernetes versions each Talos minor release supports, as Talos itself checks them before an
 * upgrade (siderolabs/talos v1.11.5, commit bc34de6e1741969e873dd568054231acf4cb54fd,
 * pkg/machinery/compatibility/talos1*\/talos1*.go: MinimumKubernetesVersion inclusive,
 * MaximumKubernetesVersion "1.x.99" exclusive, i.e. every patch of 1.x; compared in
 * kubernetes_version.go SupportedWith). Talos minors the table does not know are refused, so a new
 * release is added here from its own compatibility package rather than guessed.
 */
export const talosKubernetesSupport: Readonly<Record<string, { readonly oldest: string; readonly newest: string }>> = {
    "1.9": { oldest: "1.27.0", newest: "1.32" },
    "1.10": { oldest: "1.28.0", newest: "1.33" },
    "1.11": { oldest: "1.29.0", newest: "1.34" },
    "1.12": { oldest: "1.30.0", newest: "1.35" },
};

function versionTriple(v: string): [number, number, number] {
    const [major, minor, patch] = v.replace(/^v/, "").split(".").map(Number);
    return [major, minor, patch ?? 0];
}

function compareTriples(a: readonly number[], b: readonly number[]): number {
    for (let i = 0; i < 3; i++) {
        if (a[i] !== b[i]) return a[i] - b[i];
    }
    return 0;
}

/** Why Talos `talosVersion` would refuse Kubernetes `kubernetesVersion` (both `vX.Y.Z`), or undefined. */
export function kubernetesSupportProblem(talosVersion: string, kubernetesVersion: string): string | undefined {
    const [tMajor, tMinor] = versionTriple(talosVersion);
    const support = talosKubernetesSupport[`${tMajor}.${tMinor}`];
    const known = Object.keys(talosKubernetesSupport);
    if (support === undefined) {
        return `Talos ${talosVersion} has no known Kubernetes support range (known: Talos ${known.join(", ")}; add it to stacks/rules.ts from Talos's pkg/machinery/compatibility)`;
    }
    const range = `${support.oldest} to ${support.newest}.x`;
    const k8s = versionTriple(kubernetesVersion);
    if (compareTriples(k8s, versionTriple(support.oldest)) < 0) {
        return `${kubernetesVersion} is too old for Talos ${talosVersion}, which supports Kubernetes ${range}`;
    }
    const [nMajor, nMinor] = versionTriple(support.newest);
    if (compareTriples(k8s, [nMajor, nMinor + 1, 0]) >= 0) {
        return `${kubernetesVersion} is too new for Talos ${talosVersion}, which supports Kubernetes ${range}`;
    }
    return undefined;
}

// --- Cron schedules -------------------------------------------------------------------------------

/**
 * The five fields of a Kubernetes CronJob schedule and the values each takes, as Kubernetes parses
 * them (robfig/cron v3.0.1 ParseStandard, spec.go bounds: day of week 0-6, 7 is refused).
 */
const cronFields: readonly { readonly name: string; readonly min: number; readonly max: number; readonly names?: readonly string[] }[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
    { name: "day of week", min: 0, max: 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

/** What is wrong with a five-field cron schedule, naming the field, or undefined when it parses. */
export function cronScheduleProblem(schedule: string): string | undefined {
    const fields = schedule.trim().split(/\s+/);
    if (fields.length !== 5) {
        return `is not a cron schedule of five fields such as "0 3 * * *"`;
    }
    for (let i = 0; i < 5; i++) {
        const field = cronFields[i];
        const value = (text: string): number | undefined => {
            const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
            if (named >= 0) return field.min + named;
            return /^\d+$/.test(text) ? Number(text) : undefined;
        };
        for (const part of fields[i].split(",")) {
            const m = /^(\*|\?|([^-/]+)(?:-([^/]+))?)(?:\/(\d+))?$/.exec(part);
            const bad = `${field.name} "${fields[i]}"`;
            if (!m || (m[1] === "?" && i !== 2 && i !== 4)) {
                return `has ${bad}, which is not *, a value, a range a-b or a step */n`;
            }
            if (m[4] !== undefined && Number(m[4]) === 0) {
                return `has ${bad} with a step of 0`;
            }
            if (m[2] === undefined) continue;
            const start = value(m[2]);
            const end = m[3] === undefined ? start : value(m[3]);
            if (start === undefined || end === undefined) {
                return `has ${bad}, which is not *, a value, a range a-b or a step */n`;
            }
            for (const v of [start, end]) {
                if (v < field.min || v > field.max) {
                    return `has ${bad}: ${v} is out of range ${field.min}-${field.max}`;
                }
            }
            if (end < start) {
                return `has ${bad}: the range ends before it starts`;
            }
        }
    }
    return undefined;
}

/** Why an `https://host:port` endpoint's port is not a TCP port, or undefined. */
export function portProblem(port: string): string | undefined {
    const n = Number(port);
    return n >= 1 && n <= 65535 ? undefined : `port ${port} is not a TCP port (1-65535)`;
}
