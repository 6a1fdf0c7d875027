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
