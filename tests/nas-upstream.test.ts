// @engine @lab: remote commands meet the lab NAS the way upstream's command plugin meets TrueNAS
// SCALE: an sshd with RSA, ECDSA and ed25519 host keys and no AcceptEnv. A program run with
// `pulumi up` through the real engine and the project's command plugin
// (toolchain/go/cmd/pulumi-resource-command, which follows pulumi-command v1.2.1), and the drift
// sentinel's own SSH client, pinned to each key type.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { sudoersGrant } from "../components/backup/remote";
import { observe } from "../components/nas/drift";
import { labDir } from "./lablogs";
import { root } from "./stackfiles";

const nas = { host: "127.0.10.3", port: 2222, user: "csi" };
const hostKey = (type: string) =>
    fs
        .readFileSync(path.join(labDir, "nas", `ssh_host_${type}_key.pub`), "utf8")
        .split(" ")
        .slice(0, 2)
        .join(" ");
const privateKey = () => fs.readFileSync(path.join(labDir, "nas", "id_ed25519"), "utf8");
const foreignKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinTheRealHostKeyOfTheTrueNASBoxHere0000000";

interface Run {
    status: number;
    out: string;
}

/** `pulumi up` of tests/fixtures/remote-command.ts in a throwaway project and file backend. */
function upFixture(config: { hostKey: string; environment?: Record<string, string> }): Run {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "remote-command-"));
    try {
        const project = path.join(scratch, "project");
        fs.mkdirSync(project);
        fs.writeFileSync(
            path.join(project, "Pulumi.yaml"),
            "name: remote-command\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n",
        );
        fs.symlinkSync(path.join(root, "tests/fixtures/remote-command.ts"), path.join(project, "index.ts"));
        for (const entry of ["node_modules", "package.json", "tsconfig.json"]) {
            fs.symlinkSync(path.join(root, entry), path.join(project, entry));
        }
        fs.mkdirSync(path.join(scratch, "state"));
        const env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${path.join(scratch, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "fixture",
            PULUMI_CONFIG_PASSPHRASE_FILE: "",
        };
        const pulumi = (args: string[], input?: string): Run => {
            const r = spawnSync("pulumi", args, { cwd: project, env, encoding: "utf8", input, timeout: 300_000 });
            return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
        };
        const steps: [string[], string?][] = [
            [["stack", "init", "t"]],
            [["config", "set", "fixture:host", nas.host]],
            [["config", "set", "fixture:port", String(nas.port)]],
            [["config", "set", "fixture:user", nas.user]],
            [["config", "set", "fixture:hostKey", config.hostKey]],
            [["config", "set", "--secret", "fixture:privateKey"], privateKey()],
            ...(config.environment ? [[["config", "set", "--path", "fixture:environment", JSON.stringify(config.environment)]] as [string[]]] : []),
        ];
        for (const [args, input] of steps) {
            const r = pulumi(args, input);
            assert.strictEqual(r.status, 0, r.out);
        }
        return pulumi(["up", "--yes", "--skip-preview", "--non-interactive"]);
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

describe("remote commands against a TrueNAS-like sshd @engine @lab", function () {
    this.timeout(600_000);

    before(() => {
        const r = spawnSync("bash", ["lab/nas/start.sh"], { cwd: root, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
    });

    it("the lab sshd offers RSA, ECDSA and ed25519 host keys and accepts no environment", () => {
        const config = fs.readFileSync(path.join(labDir, "nas", "sshd_config"), "utf8");
        assert.deepStrictEqual(
            config
                .split("\n")
                .filter(l => l.startsWith("HostKey "))
                .map(l => path.basename(l)),
            ["ssh_host_rsa_key", "ssh_host_ecdsa_key", "ssh_host_ed25519_key"],
        );
        assert.ok(!/^\s*AcceptEnv/m.test(config), "no AcceptEnv, as TrueNAS SCALE");
        for (const type of ["rsa", "ecdsa", "ed25519"]) {
            const scan = spawnSync("ssh-keyscan", ["-T", "3", "-t", type, "-p", String(nas.port), nas.host], { encoding: "utf8" });
            assert.ok(scan.stdout.includes(hostKey(type)), `the sshd serves its ${type} key`);
        }
    });

    it("the sudoers grant is exactly the one README tells the owner to give", () => {
        const lab = fs.readFileSync("/etc/sudoers.d/lab-nas-csi", "utf8").trim();
        assert.strictEqual(lab, sudoersGrant("csi", "/usr/sbin/zfs", path.join(labDir, "nas/mnt/default/etcd-backups")));
        const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
        assert.ok(readme.includes(sudoersGrant("csi", "/usr/sbin/zfs", "/mnt/default/etcd-backups")), "README gives the homelab's grant");
    });

    it("a command with `environment` fails as upstream fails, and runs without it (positive control)", () => {
        const refused = upFixture({ hostKey: hostKey("ed25519"), environment: { HOMELAB_DRIFT_GENERATION: "1" } });
        assert.notStrictEqual(refused.status, 0, refused.out);
        assert.match(refused.out, /could not set environment variable "HOMELAB_DRIFT_GENERATION": ssh: setenv failed/);
        assert.match(refused.out, /Unable to set 'HOMELAB_DRIFT_GENERATION'\. This only works if your SSH server is configured to accept/);
        const ran = upFixture({ hostKey: hostKey("ed25519") });
        assert.strictEqual(ran.status, 0, ran.out.slice(-3000));
        assert.match(ran.out, /stdout\s*:\s*"ran as csi"/);
    });

    it("the plugin: ed25519 and ECDSA pins work, a wrong pin and an RSA pin are refused", () => {
        for (const type of ["ed25519", "ecdsa"]) {
            const r = upFixture({ hostKey: hostKey(type) });
            assert.strictEqual(r.status, 0, `${type}: ${r.out.slice(-3000)}`);
        }
        const wrong = upFixture({ hostKey: foreignKey });
        assert.notStrictEqual(wrong.status, 0);
        assert.match(wrong.out, /ssh: handshake failed: ssh: host key mismatch/);
        const rsa = upFixture({ hostKey: hostKey("rsa") });
        assert.notStrictEqual(rsa.status, 0);
        assert.match(rsa.out, /no common algorithm for host key/);
    });

    it("the drift sentinel: ed25519 and ECDSA pins read the pool, a wrong pin is refused", async () => {
        const read = (pin: string) =>
            observe({
                ...nas,
                hostKey: pin,
                privateKey: privateKey(),
                sudo: true,
                zfsPath: "/usr/sbin/zfs",
                dataset: "default",
                desired: { atime: "on" },
            });
        for (const type of ["ed25519", "ecdsa"]) {
            assert.deepStrictEqual(Object.keys((await read(hostKey(type))) ?? {}), ["atime"], type);
        }
        await assert.rejects(read(foreignKey), /ssh csi@127\.0\.10\.3:2222: /);
    });
});
