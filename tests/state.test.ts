// @engine @lab: one state for the laptop, the PR checks and a second operator, in a real
// PostgreSQL (the lab's, lab/postgres/start.sh): the table the lab makes is the one the CLI
// would make, a migration there and back keeps every resource and secret, a second checkout's
// preview agrees, two concurrent updates leave one refused and the state intact, and an isolated
// stack reaches its backend through the state tunnel and nothing else.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labDir } from "./lablogs";
import { root } from "./stackfiles";

const passphrase = { PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase") };
const fileBackend = `file://${path.join(root, ".pulumi-state")}`;

interface Run {
    status: number;
    out: string;
    seconds: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = root): Run {
    const started = Date.now();
    const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 900_000, env: { ...process.env, ...passphrase, ...env } });
    return { status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - started) / 1000 };
}
const npm = (env: NodeJS.ProcessEnv, script: string, ...args: string[]) => run("npm", ["run", "--silent", script, "--", ...args], env);
const psql = (db: string, sql: string) =>
    run("runuser", [
        "-u",
        "postgres",
        "--",
        "psql",
        "-h",
        path.join(labDir, "postgres"),
        "-p",
        "5432",
        "-d",
        db,
        "-qAt",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]);

describe("shared state in PostgreSQL @engine @lab", function () {
    this.timeout(1_800_000);
    let rw = "";
    let ro = "";
    const timings: Record<string, number> = {};

    before(() => {
        const started = run("bash", ["lab/postgres/start.sh"]);
        assert.strictEqual(started.status, 0, started.out);
        rw = /^rw: (\S+)$/m.exec(started.out)![1];
        ro = /^ro: (\S+)$/m.exec(started.out)![1];
        // The lab stack, converged on the file backend: what the owner has before moving.
        const lab = npm({ PULUMI_BACKEND_URL: fileBackend }, "lab");
        assert.strictEqual(lab.status, 0, lab.out.slice(-3000));
        npm({ PULUMI_BACKEND_URL: rw }, "pulumi", "stack", "rm", "lab", "--force", "--yes", "--preserve-config");
    });

    after(() => {
        npm({ PULUMI_BACKEND_URL: rw }, "pulumi", "stack", "rm", "lab", "--force", "--yes", "--preserve-config");
        process.stdout.write(
            `      (timings: ${Object.entries(timings)
                .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
                .join(", ")})\n`,
        );
    });

    it("the lab's state table is the one the CLI's postgres backend makes itself", () => {
        // A role that may create tables lets the CLI make its own, in a table of another name.
        const probe = "probe" + Date.now();
        assert.strictEqual(
            psql("pulumi", `create role ${probe} login password '${probe}'; grant usage, create on schema public to ${probe}`).status,
            0,
        );
        try {
            const url = rw.replace(/^postgres:\/\/pulumi:[^@]+@/, `postgres://${probe}:${probe}@`) + `&table=${probe}_state`;
            // The lab's hba admits only its two roles over TLS: let the probe in, for this test only.
            const conf = path.join(labDir, "postgres/data/hba.conf");
            const original = fs.readFileSync(conf, "utf8");
            fs.writeFileSync(conf, `${original}hostssl pulumi ${probe} 127.0.0.0/8 scram-sha-256\n`);
            psql("pulumi", "select pg_reload_conf()");
            try {
                const ls = npm({ PULUMI_BACKEND_URL: url }, "pulumi", "stack", "ls", "--all");
                assert.strictEqual(ls.status, 0, ls.out);
            } finally {
                fs.writeFileSync(conf, original);
                psql("pulumi", "select pg_reload_conf()");
            }
            const shape = (table: string) =>
                psql(
                    "pulumi",
                    `select column_name, data_type, is_nullable, coalesce(column_default, '') from information_schema.columns
                    where table_name = '${table}' order by column_name`,
                ).out.trim() +
                "\n" +
                psql("pulumi", `select replace(indexdef, '${table}', 'T') from pg_indexes where tablename = '${table}' order by indexdef`).out.trim();
            assert.strictEqual(
                shape("pulumi_state").replace(/pulumi_state/g, "T"),
                shape(`${probe}_state`).replace(new RegExp(`${probe}_state`, "g"), "T"),
            );
        } finally {
            psql("pulumi", `drop table if exists ${probe}_state; revoke all on schema public from ${probe}; drop role ${probe}`);
        }
    });

    it("migrates the lab stack from the file backend to PostgreSQL and back, every resource and secret checked", () => {
        const there = npm({ PULUMI_BACKEND_URL: fileBackend }, "state", "migrate", "lab", rw);
        assert.strictEqual(there.status, 0, there.out.slice(-3000));
        assert.match(
            there.out,
            /lab: \d+ resources and the stack's outputs \(secrets included\) copied from file:\/\/.* to postgres:\/\/pulumi:\[credential\]@127\.0\.10\.5:5432\/pulumi.*, checked/,
        );
        assert.ok(!there.out.includes(rw.split(":")[2].split("@")[0]), "the password is never printed");
        const again = npm({ PULUMI_BACKEND_URL: fileBackend }, "state", "migrate", "lab", rw);
        assert.strictEqual(again.status, 2, "a target that holds the stack is refused");
        assert.match(again.out, /already holds \d+ resources for lab: nothing was changed/);

        const back = fs.mkdtempSync(path.join(os.tmpdir(), "state-back-"));
        try {
            const home = npm({ PULUMI_BACKEND_URL: rw }, "state", "migrate", "lab", `file://${back}`);
            assert.strictEqual(home.status, 0, home.out.slice(-3000));
            const exported = (backend: string) =>
                JSON.parse(npm({ PULUMI_BACKEND_URL: backend }, "pulumi", "stack", "export", "--stack", "lab").out.trim());
            const urns = (d: any) => (d.deployment.resources as { urn: string }[]).map(r => r.urn).sort();
            assert.deepStrictEqual(urns(exported(`file://${back}`)), urns(exported(fileBackend)), "file -> PostgreSQL -> file keeps every resource");
        } finally {
            fs.rmSync(back, { recursive: true, force: true });
        }
    });

    it("up, a no-op up and a second checkout's preview agree on PostgreSQL", () => {
        const db = { PULUMI_BACKEND_URL: rw };
        const up = npm({ HOMELAB_LAB_BACKEND: "postgres" }, "lab");
        assert.strictEqual(up.status, 0, up.out.slice(-3000));
        const noop = npm({ HOMELAB_LAB_BACKEND: "postgres" }, "lab");
        assert.strictEqual(noop.status, 0, noop.out.slice(-3000));
        assert.doesNotMatch(noop.out, /created|updated|deleted|replaced/);
        timings["no-op up on PostgreSQL"] = noop.seconds;
        timings["no-op up on files"] = npm({ PULUMI_BACKEND_URL: fileBackend }, "pulumi", "up", "--yes", "--skip-preview", "--stack", "lab").seconds;
        const preview = npm(db, "pulumi", "preview", "--stack", "lab", "--expect-no-changes");
        assert.strictEqual(preview.status, 0, preview.out.slice(-3000));
        timings["preview on PostgreSQL"] = preview.seconds;
        timings["preview on files"] = npm({ PULUMI_BACKEND_URL: fileBackend }, "pulumi", "preview", "--stack", "lab").seconds;

        // A second checkout, as CI has it: the repository, its stack file, and the read-only role.
        const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "checkout-"));
        try {
            assert.strictEqual(run("git", ["clone", "--quiet", root, checkout]).status, 0);
            fs.copyFileSync(path.join(root, "Pulumi.lab.yaml"), path.join(checkout, "Pulumi.lab.yaml"));
            for (const shared of ["node_modules", "sdks"]) fs.symlinkSync(path.join(root, shared), path.join(checkout, shared));
            const ci = run("bash", ["toolchain/pulumi.sh", "preview", "--stack", "lab", "--expect-no-changes"], { PULUMI_BACKEND_URL: ro }, checkout);
            assert.strictEqual(ci.status, 0, ci.out.slice(-3000));
        } finally {
            fs.rmSync(checkout, { recursive: true, force: true });
        }
    });

    it("of two concurrent updates one proceeds, the other is refused with a clear message, and the state stays whole", async () => {
        const up = () =>
            new Promise<{ status: number; out: string }>(resolve => {
                const child = spawn("npm", ["run", "--silent", "pulumi", "--", "up", "--yes", "--skip-preview", "--stack", "lab"], {
                    cwd: root,
                    env: { ...process.env, ...passphrase, PULUMI_BACKEND_URL: rw },
                });
                let out = "";
                child.stdout.on("data", (d: Buffer) => (out += d.toString()));
                child.stderr.on("data", (d: Buffer) => (out += d.toString()));
                child.on("close", status => resolve({ status: status ?? -1, out }));
            });
        const results = await Promise.all([up(), up()]);
        const ok = results.filter(r => r.status === 0);
        const refused = results.filter(r => r.status !== 0);
        assert.strictEqual(ok.length, 1, results.map(r => r.out.slice(-1500)).join("\n----\n"));
        assert.match(refused[0].out, /the stack is currently locked by 1 lock\(s\)/);
        const after = npm({ PULUMI_BACKEND_URL: rw }, "pulumi", "preview", "--stack", "lab", "--expect-no-changes");
        assert.strictEqual(after.status, 0, after.out.slice(-3000));
    });

    it("an isolated stack reaches its PostgreSQL backend through the state tunnel, and nothing else", () => {
        const file = path.join(root, "Pulumi.tunnel-test.yaml");
        fs.writeFileSync(file, "config:\n  homelab:isolateNetwork: true\n");
        try {
            const tunnelled = run("bash", ["toolchain/run-for-stack.sh", "tunnel-test", "pulumi", "stack", "ls", "--all"], {
                PULUMI_BACKEND_URL: rw,
            });
            assert.strictEqual(tunnelled.status, 0, tunnelled.out);
            assert.match(tunnelled.out, /^lab\b/m);
            // Inside the same namespace nothing else answers: the NAS's SSH on the lab's loopback.
            const nas = run("bash", ["toolchain/run-for-stack.sh", "tunnel-test", "bash", "-c", "exec 3<>/dev/tcp/127.0.10.3/2222"], {
                PULUMI_BACKEND_URL: rw,
            });
            assert.notStrictEqual(nas.status, 0, "the NAS is out of reach from the isolated namespace");
            // Positive control: the same namespace without the tunnel cannot reach the backend.
            const bare = run("unshare", ["--net", "--", "bash", "-c", 'ip link set lo up && exec "$@"', "x", "pulumi", "stack", "ls", "--all"], {
                PULUMI_BACKEND_URL: rw,
            });
            assert.notStrictEqual(bare.status, 0);
            assert.match(bare.out, /connection refused/);
        } finally {
            fs.rmSync(file, { force: true });
        }
    });
});
