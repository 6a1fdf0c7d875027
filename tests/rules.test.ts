import * as assert from "assert";
import { execFileSync } from "child_process";
import fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    formatIPv4,
    hostKeyProblem,
    parseIPv4,
    parseIPv4Range,
    pinnedHostKey,
    rangeContains,
    zfsDatasetNameProblem,
    zfsPropertyRules,
} from "../stacks/rules";

const component = fc.stringMatching(/^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,15}$/).filter(c => c !== "." && c !== "..");
const pool = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/).filter(p => !/^(mirror|raidz|draid|spare|log)/.test(p));

describe("address rules", () => {
    it("parses every dotted quad back to itself", () => {
        fc.assert(
            fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), n => {
                assert.strictEqual(parseIPv4(formatIPv4(n)), n);
            }),
        );
    });

    it("rejects octets over 255, leading zeros and other shapes", () => {
        for (const bad of ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "a.b.c.d", "1.2.3.4 ", ""]) {
            assert.strictEqual(parseIPv4(bad), undefined, bad);
        }
    });

    it("a range holds exactly the addresses between its ends", () => {
        fc.assert(
            fc.property(
                fc.integer({ min: 0, max: 2 ** 32 - 1 }),
                fc.integer({ min: 0, max: 300 }),
                fc.integer({ min: -5, max: 305 }),
                (start, length, offset) => {
                    const end = Math.min(start + length, 2 ** 32 - 1);
                    const range = parseIPv4Range(`${formatIPv4(start)}-${formatIPv4(end)}`);
                    const probe = start + offset;
                    if (probe >= 0 && probe <= 2 ** 32 - 1) {
                        assert.strictEqual(rangeContains(range, probe), probe >= start && probe <= end);
                    }
                },
            ),
        );
    });
});

describe("ZFS name rules", () => {
    it("accepts any name made of a pool and valid components", () => {
        fc.assert(
            fc.property(pool, fc.array(component, { maxLength: 5 }), (p, parts) => {
                assert.strictEqual(zfsDatasetNameProblem([p, ...parts].join("/")), undefined);
            }),
        );
    });

    it("rejects every name holding a character a shell would interpret", () => {
        const shellChar = fc.constantFrom(..." ;|&$`'\"\\<>(){}*?!~#\n\t".split(""));
        fc.assert(
            fc.property(pool, component, shellChar, fc.nat(16), (p, c, ch, at) => {
                const i = Math.min(at, c.length);
                const name = `${p}/${c.slice(0, i)}${ch}${c.slice(i)}`;
                assert.notStrictEqual(zfsDatasetNameProblem(name), undefined, JSON.stringify(name));
            }),
        );
    });

    it("knows recordsize is a power of two between 512 and 16M", () => {
        const ok = ["512", "4K", "128K", "1M", "16M"];
        const bad = ["0", "1000", "3K", "32M", "128k;", "big"];
        assert.deepStrictEqual(
            ok.filter(v => !zfsPropertyRules.recordsize.test(v)),
            [],
        );
        assert.deepStrictEqual(
            bad.filter(v => zfsPropertyRules.recordsize.test(v)),
            [],
        );
    });
});

describe("pinned SSH host keys, against ssh-keygen @tools", () => {
    // ssh-keygen is the independent oracle: what it writes is what ssh-keyscan prints for a NAS.
    const generated = (type: string, bits?: number) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostkey-"));
        try {
            execFileSync("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", "", "-f", path.join(dir, "k")]);
            return fs.readFileSync(path.join(dir, "k.pub"), "utf8").trim();
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    it("accepts every ed25519 and ECDSA key ssh-keygen makes, comment dropped", () => {
        for (const [type, bits] of [["ed25519"], ["ecdsa", 256], ["ecdsa", 384], ["ecdsa", 521]] as [string, number?][]) {
            const line = generated(type, bits);
            assert.strictEqual(hostKeyProblem(line), undefined, line);
            assert.strictEqual(pinnedHostKey(line).algorithm, line.split(" ")[0]);
        }
    });

    it("refuses RSA keys, and a key of one type named as another", () => {
        assert.match(hostKeyProblem(generated("rsa", 2048))!, /^is an RSA key/);
        const ecdsa = generated("ecdsa", 384).split(" ")[1];
        assert.strictEqual(
            hostKeyProblem(`ecdsa-sha2-nistp256 ${ecdsa}`),
            'is not a ecdsa-sha2-nistp256 key: its base64 holds a "ecdsa-sha2-nistp384" key',
        );
    });
});
