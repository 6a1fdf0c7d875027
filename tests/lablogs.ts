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
