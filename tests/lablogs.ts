// What the lab did, counted from its own logs: one sshd line per SSH session on the NAS, one line
// per Talos machine-API call on the simulated node. Shared by the lab tests and `npm run bench`.
import * as fs from "fs";
import * as path from "path";
import { root } from "./stackfiles";

export const labDir = path.join(root, ".lab");

/** Lines of a lab log (.lab/logs/<name>) that match. */
export function labLogLines(name: string, pattern: RegExp): number {
    const file = path.join(labDir, "logs", name);
    return fs.existsSync(file)
        ? fs
              .readFileSync(file, "utf8")
              .split("\n")
              .filter(l => pattern.test(l)).length
        : 0;
}

export const sshSessions = () => labLogLines("nas-sshd.log", /Accepted publickey/);
export const talosCalls = () => labLogLines("talos.log", /msg=rpc/);

/** Requests the stack made to the lab's API server, from its audit log (Talos's, with the
 * Metadata-level default policy): completed requests of the admin kubeconfig's user (CN admin),
 * the stack's identity; the controllers and the node stand-in are left out. */
export function kubeRequests(node = "talos"): { all: number; mutating: number } {
    const file = path.join(labDir, node, "audit", "kube-apiserver.log");
    const events = fs.existsSync(file)
        ? fs
              .readFileSync(file, "utf8")
              .split("\n")
              .filter(Boolean)
              .map(l => JSON.parse(l) as { stage: string; verb: string; requestURI: string; user: { username: string } })
        : [];
    const stack = events.filter(e => e.stage === "ResponseComplete" && e.user.username === "admin");
    // A dry run (server-side apply's preview of a change) changes nothing.
    const mutating = stack.filter(
        e => ["create", "update", "patch", "delete", "deletecollection"].includes(e.verb) && !/[?&]dryRun=/.test(e.requestURI),
    );
    return { all: stack.length, mutating: mutating.length };
}
