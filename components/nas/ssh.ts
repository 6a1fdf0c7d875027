// The one SSH client of the project's TypeScript side: one session to the NAS that accepts only
// the pinned host key (negotiated by its type, as the command provider does), runs one script
// and returns its stdout. Used by the drift sentinels (inside the dynamic provider, hence the
// require in the function body: it is serialized with its callers), the etcd backup tool and
// the post-deploy checks.
import type { Readable } from "stream";
import { pinnedHostKey } from "../../stacks/rules";

/** How to reach the NAS: the same pinned host key and user as the dataset commands. */
export interface NasTarget {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    /** `<type> <base64>`; the session fails unless the NAS presents exactly this key. */
    readonly hostKey: string;
}

/**
 * Runs `script` on the NAS over one SSH session; `input` is streamed to its stdin. Resolves with
 * stdout once the session closes, rejects with the exit status and the last line of stderr.
 */
export function sshRun(nas: NasTarget, privateKey: string, script: string, input?: Readable): Promise<Buffer> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- runs inside the dynamic provider's process
    const { Client } = require("ssh2") as typeof import("ssh2");
    const pinned = pinnedHostKey(nas.hostKey);
    const where = `ssh ${nas.user}@${nas.host}:${nas.port}`;
    return new Promise((resolve, reject) => {
        const conn = new Client();
        const timer = setTimeout(() => {
            conn.end();
            reject(new Error(`${where}: timed out`));
        }, 120_000);
        const fail = (e: Error) => {
            clearTimeout(timer);
            conn.end();
            reject(e);
        };
        conn.on("ready", () =>
            conn.exec(script, (err, stream) => {
                if (err) return fail(err);
                const out: Buffer[] = [];
                let errText = "";
                let code: number | null = null;
                stream.on("data", (d: Buffer) => {
                    out.push(d);
                });
                stream.stderr.on("data", (d: Buffer) => {
                    errText += d.toString();
                });
                stream.on("exit", (c: number | null) => {
                    code = c;
                });
                stream.on("close", () => {
                    clearTimeout(timer);
                    conn.end();
                    if (code === 0) resolve(Buffer.concat(out));
                    else reject(new Error(`on ${nas.host} (exit ${code}): ${errText.trim().split("\n").pop() ?? ""}`));
                });
                if (input) {
                    input.on("error", e => {
                        stream.destroy();
                        fail(e);
                    });
                    input.pipe(stream);
                } else {
                    stream.end();
                }
            }),
        );
        conn.on("error", (e: Error) => fail(new Error(`${where}: ${e.message}`)));
        conn.connect({
            host: nas.host,
            port: nas.port,
            username: nas.user,
            privateKey,
            readyTimeout: 20_000,
            // Only the pinned key's type is offered, so a NAS with RSA, ECDSA and ed25519 keys
            // presents the pinned one (ssh2 would otherwise pick its own favourite).
            algorithms: { serverHostKey: [pinned.algorithm as import("ssh2").ServerHostKeyAlgorithm] },
            hostVerifier: (key: Buffer) => key.equals(pinned.blob),
        });
    });
}
