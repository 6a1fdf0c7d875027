// The pure rules of taking over a running Talos node (tools/adopt.ts does the talking): what of
// the node's live machine config the stack must carry so its first apply changes only what the
// stack adds, and how that lands in the stack's config. Plain data in, plain data out.
import { isDeepStrictEqual } from "util";

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);

/** What the stack renders differently from the live config on purpose: never carried back. */
export const stackOwnedPaths: readonly string[] = [
    // The installer image is the stack's (its schematic and Talos version): a different one is an upgrade.
    "machine.install.image",
    // A lone control plane must serve LoadBalancer traffic: the stack removes Talos's exclusion
    // label there (components/talos/patches.ts); carrying it back would undo that.
    "machine.nodeLabels.node.kubernetes.io/exclude-from-external-load-balancers",
];

export interface CarriedPatch {
    /** A strategic-merge patch holding every live value the stack would not render the same. */
    readonly patch: Tree;
    /** Dotted paths where the live value replaces a different one the stack renders. */
    readonly kept: readonly string[];
    /** Dotted paths the stack adds that the node does not have (the first apply's additions). */
    readonly added: readonly string[];
}

/**
 * The patch that makes the stack's rendering of a node equal to its live config where they
 * differ: live values absent from or different in the stack's rendering, recursing into maps;
 * lists are carried whole. The stack's own paths are left out.
 */
export function carriedPatch(live: Tree, rendered: Tree, at = ""): CarriedPatch {
    const patch: Tree = {};
    const kept: string[] = [];
    const added: string[] = [];
    for (const [key, value] of Object.entries(live)) {
        const path = at ? `${at}.${key}` : key;
        if (stackOwnedPaths.includes(path)) continue;
        const theirs = rendered[key];
        if (isTree(value) && isTree(theirs)) {
            const inner = carriedPatch(value, theirs, path);
            if (Object.keys(inner.patch).length > 0) patch[key] = inner.patch;
            kept.push(...inner.kept);
            added.push(...inner.added);
        } else if (!isDeepStrictEqual(value, theirs)) {
            patch[key] = value;
            if (theirs !== undefined) kept.push(path);
        }
    }
    for (const key of Object.keys(rendered)) {
        const path = at ? `${at}.${key}` : key;
        if (!(key in live) && !stackOwnedPaths.includes(path)) added.push(path);
    }
    return { patch, kept, added };
}

/** One `pulumi config set --path` per leaf: the path in Pulumi's syntax, its value and type. */
export interface ConfigLeaf {
    readonly path: string;
    readonly value: string;
    readonly type: "string" | "bool" | "int" | "float";
}

/** The leaves of a value under a config path, in Pulumi's --path syntax (quoted keys, [i]). */
export function configLeaves(root: string, value: unknown): ConfigLeaf[] {
    if (Array.isArray(value)) return value.flatMap((v, i) => configLeaves(`${root}[${i}]`, v));
    if (isTree(value))
        return Object.entries(value).flatMap(([k, v]) => configLeaves(`${root}${/^[A-Za-z_]\w*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`, v));
    if (typeof value === "boolean") return [{ path: root, value: String(value), type: "bool" }];
    if (typeof value === "number") return [{ path: root, value: String(value), type: Number.isInteger(value) ? "int" : "float" }];
    if (typeof value === "string") return [{ path: root, value, type: "string" }];
    throw new Error(`${root}: a ${value === null ? "null" : typeof value} cannot be written to config`);
}

/** Why the live node cannot be taken over by this stack as configured, if it cannot. */
export function identityProblems(live: Tree, stack: { clusterName: string; endpoint: string; nodeName: string; nodeKey: string }): string[] {
    // Scalars of the config, as text ("undefined" when absent).
    const at = (path: string) => {
        const v = path.split(".").reduce<unknown>((node, k) => (isTree(node) ? node[k] : undefined), live);
        return v === undefined ? undefined : typeof v === "string" ? v : JSON.stringify(v);
    };
    const problems: string[] = [];
    const name = at("cluster.clusterName");
    if (name !== stack.clusterName) {
        problems.push(
            `homelab:cluster.name is "${stack.clusterName}", but the node's cluster is "${name ?? "(none)"}": a cluster's name is in its ` +
                `certificates and etcd, so taking it over under another name would mean a new PKI; set homelab:cluster.name: ${name ?? "(none)"}`,
        );
    }
    const endpoint = at("cluster.controlPlane.endpoint");
    if (endpoint !== stack.endpoint) {
        problems.push(
            `homelab:cluster.endpoint is ${stack.endpoint}, but the node's cluster answers at ${endpoint ?? "(none)"}: every kubeconfig and ` +
                `certificate names it; set homelab:cluster.endpoint: ${endpoint ?? "(none)"}`,
        );
    }
    const hostname = at("machine.network.hostname");
    if (hostname !== undefined && hostname !== stack.nodeName) {
        problems.push(
            `${stack.nodeKey}.name is "${stack.nodeName}", but the node is "${hostname}": renaming it would register a new ` +
                `Kubernetes Node; set ${stack.nodeKey}.name: ${hostname}`,
        );
    }
    return problems;
}
