// Migrates secrets from SOPS + Age files into a stack's secret config.
//
//   npm run secrets -- import-sops <stack> <file.sops.yaml> <pointer>=<key> [<pointer>=<key> ...]
//
// <pointer> is a JSON Pointer (RFC 6901) into the decrypted document. Where it reaches a string
// that is itself YAML (an ArgoCD Application's `spec.source.helm.values`), the rest of the pointer
// continues inside that document, so a driver's SSH key buried in Helm values is one pointer:
//   /spec/source/helm/values/driver/config/sshConnection/privateKey=nasSshPrivateKey
//
// The real `sops` decrypts the file and checks its MAC, so a file modified since it was encrypted
// is refused before anything is written. Decrypted values live only in this process's memory and
// reach `pulumi config set --secret` on stdin: never argv (visible to every user in `ps`), never
// a temporary file. Nothing is written unless every pointer resolves.
import { spawnSync } from "child_process";
import * as yaml from "js-yaml";
import { configNamespace, secretKeys } from "../stacks/config";

export class ImportError extends Error {}

interface Mapping {
    pointer: string;
    key: keyof typeof secretKeys;
}

function parseMapping(arg: string): Mapping {
    const eq = arg.lastIndexOf("=");
    if (eq <= 0 || !arg.startsWith("/")) {
        throw new ImportError(`"${arg}" is not <pointer>=<key>: the pointer starts with "/" (e.g. /stringData/api-token=cloudflareApiToken)`);
    }
    const pointer = arg.slice(0, eq);
    const key = arg.slice(eq + 1).replace(new RegExp(`^${configNamespace}:`), "");
    if (!(key in secretKeys)) {
        throw new ImportError(
            `"${arg.slice(eq + 1)}" is not one of the stack's secret keys: ` +
                Object.keys(secretKeys)
                    .map(k => `${configNamespace}:${k}`)
                    .join(", "),
        );
    }
    return { pointer, key: key as Mapping["key"] };
}

/** Runs the real sops; a failure becomes one line saying what it means for the operator. */
function decrypt(file: string): unknown {
    const r = spawnSync("sops", ["--decrypt", "--output-type", "json", file], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.error) throw new ImportError(`cannot run sops: ${r.error.message} (npm run setup builds it)`);
    if (r.status === 0) return JSON.parse(r.stdout);
    const err = r.stderr;
    if (/MAC mismatch/i.test(err)) {
        throw new ImportError(`${file} was modified after it was encrypted (SOPS MAC mismatch): refusing to import it`);
    }
    if (/message authentication failed|could not decrypt value/i.test(err)) {
        throw new ImportError(`${file} is corrupted or was tampered with (a value fails its authentication): refusing to import it`);
    }
    if (/failed to get the data key|no identity matched|0 successful groups/i.test(err)) {
        const identity = process.env.SOPS_AGE_KEY_FILE ?? "~/.config/sops/age/keys.txt";
        throw new ImportError(`no Age identity in ${identity} can decrypt ${file} (set SOPS_AGE_KEY_FILE to a recipient's key)`);
    }
    if (/metadata not found/i.test(err)) throw new ImportError(`${file} is not a SOPS-encrypted file`);
    if (/no such file|does not exist|non-existent/i.test(err)) throw new ImportError(`${file} does not exist`);
    const line =
        err
            .split("\n")
            .map(l => l.trim())
            .find(l => l.length > 0) ?? `exit status ${r.status}`;
    throw new ImportError(`sops cannot decrypt ${file}: ${line}`);
}

/** Resolves a JSON Pointer, descending into strings that hold YAML documents. Names keys, never values. */
export function resolvePointer(doc: unknown, pointer: string): string {
    const segments = pointer
        .split("/")
        .slice(1)
        .map(s => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    let node = doc;
    let walked = "";
    for (const segment of segments) {
        if (typeof node === "string") {
            try {
                node = yaml.load(node);
            } catch {
                throw new ImportError(`${pointer}: ${walked || "/"} is a string that is not a YAML document, so it has no "${segment}"`);
            }
        }
        const here = walked || "/";
        walked += `/${segment}`;
        if (Array.isArray(node)) {
            const i = /^\d+$/.test(segment) ? Number(segment) : NaN;
            if (!(i < node.length)) throw new ImportError(`${pointer}: ${here} is a list of ${node.length}, it has no item "${segment}"`);
            node = node[i];
        } else if (node !== null && typeof node === "object") {
            if (!Object.prototype.hasOwnProperty.call(node, segment)) {
                const keys = Object.keys(node);
                throw new ImportError(`${pointer}: ${here} has no key "${segment}" (it has: ${keys.join(", ") || "nothing"})`);
            }
            node = (node as Record<string, unknown>)[segment];
        } else {
            throw new ImportError(`${pointer}: ${here} is a plain value, it has no "${segment}"`);
        }
    }
    if (typeof node === "string") return node;
    if (typeof node === "number" || typeof node === "boolean") return String(node);
    throw new ImportError(`${pointer}: points at ${node === null ? "null" : Array.isArray(node) ? "a list" : "a mapping"}, not a value`);
}

function main(argv: string[]): void {
    const [stack, file, ...args] = argv;
    if (!stack || !file || args.length === 0) {
        throw new ImportError("usage: npm run secrets -- import-sops <stack> <file.sops.yaml> <pointer>=<key> [...]");
    }
    const mappings = args.map(parseMapping);
    const doc = decrypt(file);
    // Every pointer resolves before the first value is written: an import is all or nothing.
    const values = mappings.map(m => ({ ...m, value: resolvePointer(doc, m.pointer) }));
    for (const { pointer, key, value } of values) {
        const r = spawnSync("pulumi", ["config", "set", "--secret", "--raw", "--stack", stack, `${configNamespace}:${key}`], {
            input: value,
            encoding: "utf8",
        });
        if (r.status !== 0) {
            throw new ImportError(`setting ${configNamespace}:${key} on stack ${stack} failed: ${r.stderr.trim().split("\n")[0]}`);
        }
        console.log(`${configNamespace}:${key} <- ${file}#${pointer} (secret, ${Buffer.byteLength(value)} bytes)`);
    }
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (e) {
        if (!(e instanceof ImportError)) throw e;
        console.error(`import-sops: ${e.message}`);
        process.exit(2);
    }
}
