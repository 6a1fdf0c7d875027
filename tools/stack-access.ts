// What the operational tools (post-deploy checks, etcd backup and restore) need of a deployed
// stack: its validated settings, its outputs and secrets through the pinned CLI, and sessions
// to its NAS (host key pinned) and its API server (its own kubeconfig). The tools run through
// toolchain/run-for-stack.sh, so the passphrase is resolved and an isolated stack stays isolated.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as yaml from "js-yaml";
import * as path from "path";
import type { Readable } from "stream";
import { configNamespace, parseStackSettings, StackSettings, structuredConfigOf } from "../stacks/config";
import { pinnedHostKey } from "../stacks/rules";

export const root = path.resolve(__dirname, "..");

/** Runs the pinned CLI and returns its stdout; a failure throws its last line of stderr. */
export function pulumi(args: string[]): string {
    const r = spawnSync("pulumi", args, { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`pulumi ${args.slice(0, 2).join(" ")}: ${r.stderr.trim().split("\n").pop()}`);
    return r.stdout;
}

/** The stack file's settings, validated by the one config module. */
export function stackSettings(stack: string): StackSettings {
    return parseStackSettings(stack, structuredConfigOf(yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8"))));
}

export const secretOutput = (stack: string, name: string) => pulumi(["stack", "output", name, "--show-secrets", "--stack", stack]);
export const secretConfig = (stack: string, key: string) => pulumi(["config", "get", `${configNamespace}:${key}`, "--stack", stack]);

// --- the API server ------------------------------------------------------------------------

export interface Kube { server: URL; ca: Buffer; cert: Buffer; key: Buffer }

export function kubeFrom(kubeconfig: string): Kube {
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

export function kubeRequest(kube: Kube, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.request(new URL(urlPath, kube.server), {
            method, ca: kube.ca, cert: kube.cert, key: kube.key, timeout: 10_000,
            headers: body === undefined ? {} : { "content-type": "application/json" },
        }, res => {
            let text = "";
            res.on("data", d => { text += d; });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", err => reject(new Error(`${kube.server.origin}${urlPath.split("?")[0]}: ${err.message}`)));
        req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

// --- the NAS -----------------------------------------------------------------------------

export interface NasTarget { host: string; port: number; user: string; hostKey: string }

/**
 * Runs a script on the NAS over one SSH session that accepts only the pinned host key; `input`
 * is streamed to its stdin. Resolves with stdout (bytes), rejects with the exit status and stderr.
 */
export function sshRun(nas: NasTarget, privateKey: string, script: string, input?: Readable): Promise<Buffer> {
    const { Client } = require("ssh2") as typeof import("ssh2");
    const pinned = pinnedHostKey(nas.hostKey);
    return new Promise((resolve, reject) => {
        const conn = new Client();
        conn.on("ready", () => conn.exec(script, (err, stream) => {
            if (err) { conn.end(); return reject(err); }
            const out: Buffer[] = [];
            let errText = "";
            stream.on("data", (d: Buffer) => { out.push(d); });
            stream.stderr.on("data", (d: Buffer) => { errText += d.toString(); });
            stream.on("exit", (code: number | null) => {
                conn.end();
                if (code === 0) resolve(Buffer.concat(out));
                else reject(new Error(`on ${nas.host} (exit ${code}): ${errText.trim().split("\n").pop() ?? ""}`));
            });
            if (input) {
                input.on("error", e => { stream.destroy(); conn.end(); reject(e); });
                input.pipe(stream);
            } else {
                stream.end();
            }
        }));
        conn.on("error", (e: Error) => reject(new Error(`ssh ${nas.user}@${nas.host}:${nas.port}: ${e.message}`)));
        conn.connect({ host: nas.host, port: nas.port, username: nas.user, privateKey, readyTimeout: 15_000,
            // Only the pinned key's type is offered, so the NAS presents that key.
            algorithms: { serverHostKey: [pinned.algorithm as import("ssh2").ServerHostKeyAlgorithm] },
            hostVerifier: (k: Buffer) => k.equals(pinned.blob) });
    });
}

/** A word for the remote shell, whatever it holds. */
export { shellWord as shellQuote } from "../components/backup/remote";
