// @engine: a stack in Age mode, run by whoever holds a recipient's identity, and nobody else.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { root } from "./stackfiles";

interface Run {
    status: number;
    out: string;
    stdout?: string;
}

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
        doc.config = Object.fromEntries(Object.entries(lab.config).filter(([, v]) => !(v && typeof v === "object" && "secure" in v)));
        fs.writeFileSync(stackFile, yaml.dump(doc, { lineWidth: -1 }));
        for (const key of ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken", "alertingSecret"]) {
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
        for (const key of ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken", "alertingSecret"]) {
            const r = as(2, "pulumi", "config", "get", `homelab:${key}`, "--stack", stack);
            assert.deepStrictEqual([r.status, r.out.trim()], [0, `age-test-${key}`]);
        }
    });
});

// The owner's secrets live in SOPS + Age files today; the real sops encrypts fixtures shaped like
// them, and the import must hand back exactly the same bytes as Pulumi secrets, or refuse.
describe("importing SOPS + Age files @engine", function () {
    this.timeout(300_000);
    const stack = `sopstest-${process.pid}`;
    const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sops-"));
    const identity = path.join(dir, "keys.txt");
    const stranger = path.join(dir, "stranger.txt");
    const passphrase = `sops-test-${process.pid}`;
    const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\nc29wcy10ZXN0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n";
    const apiKey = "1-sops-test-api-key";
    const token = "sops-test-cloudflare-token";
    // Shaped like the seed's argo/apps/democratic-csi-iscsi.sops.yaml: the driver config is Helm
    // values, a YAML document inside a string.
    const application = {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: { name: "democratic-csi-iscsi", namespace: "argocd" },
        spec: {
            source: {
                chart: "democratic-csi",
                helm: {
                    values: yaml.dump({
                        driver: {
                            config: {
                                driver: "freenas-iscsi",
                                sshConnection: { host: "192.168.2.30", username: "root", privateKey: sshKey },
                                httpConnection: { host: "192.168.2.30", apiKey },
                            },
                        },
                    }),
                },
            },
        },
    };
    const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "cloudflare-api-token" }, stringData: { "api-token": token } };

    const run = (args: string[], keyFile = identity): Run => {
        const env: NodeJS.ProcessEnv = { ...process.env, SOPS_AGE_KEY_FILE: keyFile, PULUMI_CONFIG_PASSPHRASE: passphrase };
        delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
        const r = spawnSync("npm", ["run", "--silent", ...args], { cwd: root, encoding: "utf8", env, timeout: 240_000 });
        return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
    };
    const get = (key: string) => run(["pulumi", "--", "config", "get", `homelab:${key}`, "--stack", stack]);
    const sops = (...args: string[]) => execFileSync("bash", ["toolchain/run.sh", "sops", ...args], { cwd: root, encoding: "utf8" });
    const encrypt = (name: string, doc: object): string => {
        const plain = path.join(dir, `${name}.yaml`);
        fs.writeFileSync(plain, yaml.dump(doc));
        const recipient = execFileSync("age-keygen", ["-y", identity], { encoding: "utf8" }).trim();
        const sealed = path.join(dir, `${name}.sops.yaml`);
        fs.writeFileSync(sealed, sops("--encrypt", "--age", recipient, plain));
        fs.rmSync(plain);
        return sealed;
    };
    let appFile = "";
    let tokenFile = "";

    before(() => {
        execFileSync("age-keygen", ["-o", identity], { stdio: "ignore" });
        execFileSync("age-keygen", ["-o", stranger], { stdio: "ignore" });
        appFile = encrypt("democratic-csi-iscsi", application);
        tokenFile = encrypt("secret-cloudflare-api-token", secret);
        const init = run(["pulumi", "--", "stack", "init", stack, "--secrets-provider", "passphrase"]);
        assert.strictEqual(init.status, 0, init.out);
    });

    after(() => {
        run(["pulumi", "--", "stack", "rm", stack, "--force", "--yes"]);
        fs.rmSync(stackFile, { force: true });
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("writes values from inside Helm values and a Secret as Pulumi secrets, byte for byte", () => {
        const base = "/spec/source/helm/values/driver/config";
        const r = run([
            "secrets",
            "--",
            "import-sops",
            stack,
            appFile,
            `${base}/sshConnection/privateKey=nasSshPrivateKey`,
            `${base}/httpConnection/apiKey=homelab:truenasApiKey`,
        ]);
        assert.strictEqual(r.status, 0, r.out);
        assert.strictEqual(run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/api-token=cloudflareApiToken"]).status, 0);
        // `config get` prints the value and a newline: the key's own trailing newline survives.
        assert.strictEqual(get("nasSshPrivateKey").stdout, `${sshKey}\n`);
        assert.strictEqual(get("truenasApiKey").out.trim(), apiKey);
        assert.strictEqual(get("cloudflareApiToken").out.trim(), token);
        const written = fs.readFileSync(stackFile, "utf8");
        for (const v of [apiKey, token, "c29wcy10ZXN0LWtleQ"]) assert.ok(!written.includes(v), "values are encrypted in the stack file");
        assert.ok(!r.out.includes(apiKey) && !r.out.includes("c29wcy10ZXN0LWtleQ"), "the import never prints a value");
    });

    it("refuses a file modified after encryption, and writes nothing", () => {
        const before = fs.readFileSync(stackFile, "utf8");
        const original = fs.readFileSync(tokenFile, "utf8");
        // An edited ciphertext fails its own authentication...
        const edited = original.replace(/(api-token: ENC\[AES256_GCM,data:)(.)/, (_, p, c) => p + (c === "A" ? "B" : "A"));
        assert.notStrictEqual(edited, original);
        fs.writeFileSync(tokenFile, edited);
        const r1 = run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/api-token=cloudflareApiToken"]);
        assert.strictEqual(r1.status, 2, r1.out);
        assert.match(r1.out, /import-sops: .*secret-cloudflare-api-token\.sops\.yaml is corrupted or was tampered with/);
        // ...and a field removed leaves every remaining value intact but breaks the file's MAC.
        const removed = original.replace(/^kind: ENC\[[^\]]+\]\n/m, "");
        assert.notStrictEqual(removed, original);
        fs.writeFileSync(tokenFile, removed);
        const r2 = run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/api-token=cloudflareApiToken"]);
        assert.strictEqual(r2.status, 2, r2.out);
        assert.match(r2.out, /import-sops: .*secret-cloudflare-api-token\.sops\.yaml was modified after it was encrypted \(SOPS MAC mismatch\)/);
        assert.strictEqual(fs.readFileSync(stackFile, "utf8"), before);
        fs.writeFileSync(tokenFile, original);
    });

    it("a wrong passphrase is refused in one line, before anything runs", () => {
        const r = spawnSync("npm", ["run", "--silent", "pulumi", "--", "preview", "--stack", stack], {
            cwd: root,
            encoding: "utf8",
            env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "not-the-passphrase", PULUMI_CONFIG_PASSPHRASE_FILE: "" },
        });
        assert.notStrictEqual(r.status, 0);
        const lines = `${r.stdout}${r.stderr}`.trim().split("\n");
        assert.deepStrictEqual(lines, ["error: getting stack configuration: get stack secrets manager: incorrect passphrase"]);
    });

    it("says in one line what is wrong: an identity that is not a recipient, a pointer, a key", () => {
        const stranger1 = run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/api-token=cloudflareApiToken"], stranger);
        assert.match(stranger1.out, /import-sops: no Age identity in .*stranger\.txt can decrypt/);
        const pointer = run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/token=cloudflareApiToken"]);
        assert.match(pointer.out, /import-sops: \/stringData\/token: \/stringData has no key "token" \(it has: api-token\)/);
        const key = run(["secrets", "--", "import-sops", stack, tokenFile, "/stringData/api-token=cloudflare"]);
        assert.match(key.out, /import-sops: "cloudflare" is not one of the stack's secret keys: homelab:nasSshPrivateKey/);
        for (const r of [stranger1, pointer, key]) assert.strictEqual(r.status, 2, r.out);
        assert.ok(!pointer.out.includes(token), "errors name keys, never values");
    });
});
