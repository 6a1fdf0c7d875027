// What the operational tools (post-deploy checks, etcd backup and restore) need of a deployed
// stack: its validated settings, its outputs and secrets through the pinned CLI, and sessions
// to its NAS (host key pinned) and its API server (its own kubeconfig). The tools run through
// toolchain/run-for-stack.sh, so the passphrase is resolved and an isolated stack stays isolated.
import { spawnSync } from "child_process";
import * as fs from "fs";
import { KubeConfig } from "@kubernetes/client-node";
import * as https from "https";
import * as yaml from "js-yaml";
import * as path from "path";
import { configNamespace, parseStackSettings, StackSettings, structuredConfigOf } from "../stacks/config";

export const root = path.resolve(__dirname, "..");

/** Runs the pinned CLI and returns its stdout; a failure throws its last line of stderr. */
export function pulumi(args: string[]): string {
    const r = spawnSync("pulumi", args, { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`pulumi ${args.slice(0, 2).join(" ")}: ${r.stderr.trim().split("\n").pop()}`);
    return r.stdout;
}

/** The stack file's settings, validated by the one config module. */
export function stackSettings(stack: string): StackSettings {
    return parseStackSettings(stack, stackFile(stack));
}

/** The `homelab:*` keys of the stack's file, not yet validated. */
export function stackFile(stack: string): Record<string, unknown> {
    return structuredConfigOf(yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")));
}

export const secretOutput = (stack: string, name: string) => pulumi(["stack", "output", name, "--show-secrets", "--stack", stack]);
export const secretConfig = (stack: string, key: string) => pulumi(["config", "get", `${configNamespace}:${key}`, "--stack", stack]);

// --- the API server ------------------------------------------------------------------------

/** A cluster as the stack's kubeconfig describes it, read by the Kubernetes client library. */
export interface Kube {
    readonly config: KubeConfig;
    readonly server: URL;
}

export function kubeFrom(kubeconfig: string): Kube {
    const config = new KubeConfig();
    config.loadFromString(kubeconfig);
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error("the kubeconfig names no current cluster");
    return { config, server: new URL(cluster.server) };
}

/** One request to the API server with the kubeconfig's credentials; any path (`/readyz` too). */
export async function kubeRequest(kube: Kube, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: string }> {
    const options: https.RequestOptions = { method, timeout: 10_000, headers: body === undefined ? {} : { "content-type": "application/json" } };
    await kube.config.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
        const req = https.request(new URL(urlPath, kube.server), options, res => {
            let text = "";
            res.on("data", (d: Buffer) => {
                text += d.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", err => reject(new Error(`${kube.server.origin}${urlPath.split("?")[0]}: ${err.message}`)));
        req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/** `namespace/name` (or `name`) of each item of a list the API server returned. */
export function itemNames(listBody: string): string[] {
    const list = JSON.parse(listBody) as { items?: { metadata: { name: string; namespace?: string } }[] };
    return (list.items ?? []).map(i => [i.metadata.namespace, i.metadata.name].filter(Boolean).join("/")).sort();
}

// --- the NAS -----------------------------------------------------------------------------

export { NasTarget, sshRun } from "../components/nas/ssh";
