// Post-deploy checks of one stack, asked of the deployed things themselves (npm run rollout runs
// them after each up, through toolchain/run-for-stack.sh for the passphrase and isolation):
//   api       the API server answers /readyz, authenticated with the stack's kubeconfig output;
//   releases  each Helm release in the stack's state is deployed, per Helm's own release Secret;
//   datasets  each configured dataset exists on the NAS (one SSH session, host key pinned).
// Prints one line per check; exits 1 when any fails.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as yaml from "js-yaml";
import * as path from "path";
import { configNamespace, parseStackSettings } from "../stacks/config";

const root = path.resolve(__dirname, "..");

function pulumi(args: string[]): string {
    const r = spawnSync("pulumi", args, { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`pulumi ${args[0]} ${args[1] ?? ""}: ${r.stderr.trim().split("\n").pop()}`);
    return r.stdout;
}

interface Kube { server: URL; ca: Buffer; cert: Buffer; key: Buffer }

function kubeFrom(kubeconfig: string): Kube {
    const kc = yaml.load(kubeconfig) as any;
    const cluster = kc.clusters[0].cluster;
    const user = kc.users[0].user;
    return {
        server: new URL(cluster.server),
        ca: Buffer.from(cluster["certificate-authority-data"], "base64"),
        cert: Buffer.from(user["client-certificate-data"], "base64"),
        key: Buffer.from(user["client-key-data"], "base64"),
    };
}

function get(kube: Kube, urlPath: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(new URL(urlPath, kube.server), { ca: kube.ca, cert: kube.cert, key: kube.key, timeout: 10_000 }, res => {
            let body = "";
            res.on("data", d => { body += d; });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", err => reject(new Error(`${kube.server.origin}${urlPath.split("?")[0]}: ${err.message}`)));
    });
}

/** Runs a script on the NAS over one SSH session that accepts only the pinned host key. */
function sshExec(nas: { host: string; port: number; user: string; hostKey: string }, privateKey: string, script: string): Promise<string> {
    const { Client } = require("ssh2") as typeof import("ssh2");
    const expected = Buffer.from(nas.hostKey.split(" ")[1] ?? "", "base64");
    return new Promise((resolve, reject) => {
        const conn = new Client();
        conn.on("ready", () => conn.exec(script, (err, stream) => {
            if (err) { conn.end(); return reject(err); }
            let out = "";
            stream.on("data", (d: Buffer) => { out += d.toString(); });
            stream.stderr.on("data", () => undefined);
            stream.on("close", () => { conn.end(); resolve(out); });
        }));
        conn.on("error", (err: Error) => reject(new Error(`ssh ${nas.user}@${nas.host}:${nas.port}: ${err.message}`)));
        conn.connect({ host: nas.host, port: nas.port, username: nas.user, privateKey, readyTimeout: 15_000, hostVerifier: (k: Buffer) => k.equals(expected) });
    });
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

async function main(stack: string): Promise<number> {
    const doc = yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(doc.config)
        .filter(([k]) => k.startsWith(`${configNamespace}:`)).map(([k, v]) => [k.slice(configNamespace.length + 1), v]));
    const settings = parseStackSettings(stack, raw);
    const results: [string, boolean, string][] = [];
    const check = async (name: string, body: () => Promise<string>) => {
        try {
            results.push([name, true, await body()]);
        } catch (e) {
            results.push([name, false, e instanceof Error ? e.message : String(e)]);
        }
    };

    const kube = kubeFrom(pulumi(["stack", "output", "kubeconfig", "--show-secrets", "--stack", stack]));
    await check("api", async () => {
        const r = await get(kube, "/readyz");
        if (r.status !== 200) throw new Error(`${kube.server.origin}/readyz answered ${r.status}: ${r.body.slice(0, 200)}`);
        return `${kube.server.origin} is ready`;
    });

    const state = JSON.parse(pulumi(["stack", "export", "--stack", stack])) as { deployment: { resources?: any[] } };
    const releases = (state.deployment.resources ?? []).filter(r => r.type === "kubernetes:helm.sh/v3:Release")
        .map(r => ({ name: String(r.outputs?.name), namespace: String(r.outputs?.namespace) }));
    await check("releases", async () => {
        if (releases.length === 0) throw new Error("the stack manages no Helm release");
        const notDeployed: string[] = [];
        for (const { name, namespace } of releases) {
            const selector = encodeURIComponent(`owner=helm,name=${name},status=deployed`);
            const r = await get(kube, `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?labelSelector=${selector}`);
            if (r.status !== 200 || (JSON.parse(r.body).items ?? []).length === 0) notDeployed.push(`${namespace}/${name}`);
        }
        if (notDeployed.length > 0) throw new Error(`not deployed: ${notDeployed.join(", ")}`);
        return `${releases.length} deployed`;
    });

    await check("datasets", async () => {
        const nas = settings.nas;
        const privateKey = pulumi(["config", "get", `${configNamespace}:nasSshPrivateKey`, "--stack", stack]);
        const zfs = `${nas.sudo ? "sudo -n " : ""}${quote(nas.zfsPath)}`;
        const script = nas.datasets.map(d => `${zfs} list -H -o name ${quote(d.name)} >/dev/null 2>&1 || echo ${quote(d.name)}`).join("; ");
        const missing = (await sshExec(nas, privateKey, script)).split("\n").filter(Boolean);
        if (missing.length > 0) throw new Error(`missing on ${nas.host}: ${missing.join(", ")}`);
        return `${nas.datasets.length} present on ${nas.host}`;
    });

    for (const [name, ok, detail] of results) console.log(`${ok ? "ok    " : "FAILED"} ${name}: ${detail}`);
    return results.every(([, ok]) => ok) ? 0 : 1;
}

main(process.argv[2] ?? "").then(code => process.exit(code), e => {
    console.error(`FAILED checks: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
});
