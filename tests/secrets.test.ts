// @engine: a stack in Age mode, run by whoever holds a recipient's identity, and nobody else.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { root } from "./stackfiles";

interface Run { status: number; out: string }

describe("secrets in Age mode @engine", function () {
    this.timeout(300_000);
    const stack = `agetest-${process.pid}`;
    const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "age-ids-"));
    const identity = (n: number) => path.join(dir, `id${n}.txt`);
    const recipient: string[] = [];

    // Only the identity: no passphrase variable reaches any command.
    const as = (n: number | undefined, script: string, ...args: string[]): Run => {
        const env: NodeJS.ProcessEnv = { ...process.env, SOPS_AGE_KEY_FILE: n === undefined ? path.join(dir, "none.txt") : identity(n) };
        delete env.PULUMI_CONFIG_PASSPHRASE;
        delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
        const r = spawnSync("npm", ["run", "--silent", script, "--", ...args], { cwd: root, encoding: "utf8", env, timeout: 240_000 });
        return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
    };
    const getToken = (n: number | undefined) => as(n, "pulumi", "config", "get", "homelab:gitToken", "--stack", stack);

    before(() => {
        for (const n of [1, 2]) {
            execFileSync("age-keygen", ["-o", identity(n)], { stdio: "ignore" });
            recipient[n] = execFileSync("age-keygen", ["-y", identity(n)], { encoding: "utf8" }).trim();
        }
    });

    after(() => {
        as(2, "pulumi", "stack", "rm", stack, "--force", "--yes");
        for (const f of [stackFile, path.join(root, `stacks/${stack}.age-recipients`), path.join(root, `stacks/${stack}.passphrase.age`)]) {
            fs.rmSync(f, { force: true });
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("seals a new stack's passphrase to a recipient and runs it with only the identity", () => {
        const init = as(1, "secrets", "age-init", stack, recipient[1]);
        assert.strictEqual(init.status, 0, init.out);
        // Give the stack the lab's shape (non-secret config), then its secrets, through Age.
        const doc = yaml.load(fs.readFileSync(stackFile, "utf8")) as any;
        const lab = yaml.load(fs.readFileSync(path.join(root, "Pulumi.lab.yaml"), "utf8")) as any;
        doc.config = Object.fromEntries(Object.entries(lab.config).filter(([, v]) => !(v && typeof v === "object" && "secure" in (v as object))));
        fs.writeFileSync(stackFile, yaml.dump(doc, { lineWidth: -1 }));
        for (const key of ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken"]) {
            const r = as(1, "pulumi", "config", "set", "--secret", `homelab:${key}`, `age-test-${key}`, "--stack", stack);
            assert.strictEqual(r.status, 0, r.out);
        }
        assert.ok(!fs.readFileSync(stackFile, "utf8").includes("age-test-"), "secrets are encrypted in the stack file");
        const preview = as(1, "pulumi", "preview", "--stack", stack);
        assert.strictEqual(preview.status, 0, preview.out.slice(-3000));
        assert.deepStrictEqual([getToken(1).status, getToken(1).out.trim()], [0, "age-test-gitToken"]);
    });

    it("refuses, in one line, an identity that is not a recipient and a missing one", () => {
        const other = getToken(2);
        assert.notStrictEqual(other.status, 0);
        assert.match(other.out, new RegExp(`the Age identity ${identity(2)} is not a recipient of stacks/${stack}.passphrase.age`));
        const none = getToken(undefined);
        assert.match(none.out, /is in Age mode but there is no Age identity at .*none\.txt \(set SOPS_AGE_KEY_FILE\)/);
    });

    it("adds a second recipient who can then run it; removes the first, who then cannot", () => {
        assert.strictEqual(as(1, "secrets", "age-add", stack, recipient[2]).status, 0);
        assert.strictEqual(getToken(2).out.trim(), "age-test-gitToken");
        assert.strictEqual(as(2, "secrets", "age-remove", stack, recipient[1]).status, 0);
        assert.notStrictEqual(getToken(1).status, 0);
        assert.strictEqual(getToken(2).out.trim(), "age-test-gitToken");
    });

    it("rotates the passphrase: every secret re-encrypted and still readable", () => {
        const saltBefore = (yaml.load(fs.readFileSync(stackFile, "utf8")) as any).encryptionsalt;
        const rotate = as(2, "secrets", "rotate", stack);
        assert.strictEqual(rotate.status, 0, rotate.out);
        assert.notStrictEqual((yaml.load(fs.readFileSync(stackFile, "utf8")) as any).encryptionsalt, saltBefore);
        for (const key of ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken"]) {
            const r = as(2, "pulumi", "config", "get", `homelab:${key}`, "--stack", stack);
            assert.deepStrictEqual([r.status, r.out.trim()], [0, `age-test-${key}`]);
        }
    });
});
