// `npm run preview -- <stack> [--stack-file <file>] [--program <file>] [--timings-file <file>]
// [pulumi preview flags]`: Pulumi's plan for a stack's configuration without any of its secrets,
// for PR checks from forks and bots (which get no secrets) and for tests of stacks whose
// passphrase this machine does not have.
//
// How it stays harmless:
//   - it previews a throwaway copy of the stack (same name, same non-secret config, every secret
//     replaced by a stand-in) in a temporary project folder with a temporary file backend, so the
//     real stack's state and its Pulumi.<stack>.yaml are never touched;
//   - the preview runs in a new network namespace with only loopback (`unshare --net`), so no
//     provider can reach the stack's real addresses, whatever the program does.
import { spawnSync, SpawnSyncOptions } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { ConfigError, configNamespace, parseStackSettings, policyConfig, secretKeys, structuredConfigOf } from "../stacks/config";

const root = path.resolve(__dirname, "..");

/** Top-level entries the program needs, linked into the throwaway project. */
const projectEntries = ["index.ts", "components", "stacks", "node_modules", "package.json", "tsconfig.json", "sdks"];

/** Every `secure:` value of a stack file, as `config set --path` keys; nested values included. */
export function securePaths(config: Record<string, unknown>): string[] {
    const found: string[] = [];
    const walk = (value: unknown, at: string) => {
        if (value !== null && typeof value === "object") {
            if (!Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value) {
                found.push(at);
                return;
            }
            for (const [k, v] of Object.entries(value)) {
                walk(v, Array.isArray(value) ? `${at}[${k}]` : at.includes(":") ? `${at}.${k}` : `${at}${k}`);
            }
        }
    };
    for (const [key, value] of Object.entries(config)) {
        walk(value, key);
    }
    return found;
}

/** The stack file's config with every secure value removed (they are set again as stand-ins). */
export function withoutSecrets(config: Record<string, unknown>): Record<string, unknown> {
    const strip = (value: unknown): unknown => {
        if (value === null || typeof value !== "object") {
            return value;
        }
        if (Array.isArray(value)) {
            return value.map(strip);
        }
        if (Object.keys(value).length === 1 && "secure" in value) {
            return undefined;
        }
        return Object.fromEntries(
            Object.entries(value)
                .map(([k, v]) => [k, strip(v)])
                .filter(([, v]) => v !== undefined),
        );
    };
    return strip(config) as Record<string, unknown>;
}

/** The policy pack's config for the stack's settings; the pack's defaults when they do not
 * validate (the program then reports why). */
function policySettingsOf(stack: string, config: Record<string, unknown>): Record<string, unknown> {
    try {
        return policyConfig(parseStackSettings(stack, structuredConfigOf({ config })));
    } catch (e) {
        if (e instanceof ConfigError) return {};
        throw e;
    }
}

function fail(message: string): never {
    process.stderr.write(`preview-without-secrets: ${message}\n`);
    process.exit(2);
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions): number {
    const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
    if (r.error) {
        fail(`${cmd}: ${r.error.message}`);
    }
    return r.status ?? 1;
}

/** Splits this tool's own `--flag value` options from the flags passed on to `pulumi preview`. */
function ownOptions(args: string[], names: string[]): { options: Record<string, string>; previewFlags: string[] } {
    const options: Record<string, string> = {};
    const previewFlags: string[] = [];
    for (let i = 0; i < args.length; i++) {
        if (names.includes(args[i])) {
            if (args[i + 1] === undefined) {
                fail(`${args[i]} needs a value`);
            }
            options[args[i]] = args[++i];
        } else {
            previewFlags.push(args[i]);
        }
    }
    return { options, previewFlags };
}

function main(argv: string[]): number {
    const [stack, ...rest] = argv;
    if (!stack || stack.startsWith("-")) {
        fail("usage: npm run preview -- <stack> [--stack-file <file>] [--program <file>] [--timings-file <file>] [pulumi preview flags]");
    }
    // --stack-file previews another file under the stack's name (a proposed change, a test case);
    // --program previews another program with the stack's config (the benchmark's floor);
    // --timings-file records how long Pulumi's preview itself took, as JSON.
    const { options, previewFlags } = ownOptions(rest, ["--stack-file", "--program", "--timings-file"]);
    const stackFile = options["--stack-file"] ? path.resolve(options["--stack-file"]) : path.join(root, `Pulumi.${stack}.yaml`);
    const program = options["--program"] ? path.resolve(options["--program"]) : path.join(root, "index.ts");
    if (!fs.existsSync(program)) {
        fail(`no program ${program}`);
    }
    if (!fs.existsSync(stackFile)) {
        fail(`no stack file ${path.basename(stackFile)} in ${root}`);
    }
    const doc = (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config = doc.config ?? {};

    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `preview-${stack}-`));
    try {
        const project = path.join(scratch, "project");
        fs.mkdirSync(project);
        fs.copyFileSync(path.join(root, "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
        for (const entry of projectEntries) {
            const source = entry === "index.ts" ? program : path.join(root, entry);
            if (fs.existsSync(source)) {
                fs.symlinkSync(source, path.join(project, entry));
            }
        }
        fs.mkdirSync(path.join(scratch, "state"));
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${path.join(scratch, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: randomBytes(24).toString("hex"),
            PULUMI_CONFIG_PASSPHRASE_FILE: "",
        };
        const quiet: SpawnSyncOptions = { cwd: project, env, stdio: ["ignore", "ignore", "inherit"] };
        if (run("pulumi", ["stack", "init", stack, "--secrets-provider", "passphrase"], quiet) !== 0) {
            fail("could not create the throwaway stack");
        }
        // Keep the salt stack init wrote; add the stack's own non-secret config.
        const throwawayFile = path.join(project, `Pulumi.${stack}.yaml`);
        const throwaway = (yaml.load(fs.readFileSync(throwawayFile, "utf8")) ?? {}) as Record<string, unknown>;
        throwaway.config = withoutSecrets(config);
        fs.writeFileSync(throwawayFile, yaml.dump(throwaway, { lineWidth: -1 }));

        const secretPaths = new Set(securePaths(config));
        for (const key of Object.keys(secretKeys)) {
            secretPaths.add(`${configNamespace}:${key}`);
        }
        const setArgs = ["config", "set-all", "--path", "--stack", stack];
        for (const key of secretPaths) {
            setArgs.push("--secret", `${key}=stand-in for ${key}`);
        }
        if (run("pulumi", setArgs, quiet) !== 0) {
            fail("could not set the stand-in secrets");
        }

        process.stdout.write(
            `Previewing stack ${stack} with ${secretPaths.size} secret(s) replaced by stand-ins, ` + "in a network namespace with only loopback.\n",
        );
        // The project's policy pack runs on every preview, as in toolchain/pulumi.sh, with the
        // settings the stack's validated config implies.
        const policyConfigFile = path.join(scratch, "policy-config.json");
        fs.writeFileSync(policyConfigFile, JSON.stringify(policySettingsOf(stack, config)));
        const policy = previewFlags.includes("--policy-pack")
            ? []
            : ["--policy-pack", path.join(root, "policy"), "--policy-pack-config", policyConfigFile];
        const pulumiArgs = ["preview", "--stack", stack, "--non-interactive", ...policy, ...previewFlags];
        const started = process.hrtime.bigint();
        const status = run("unshare", ["--net", "--", "bash", "-c", 'ip link set lo up && exec pulumi "$@"', "pulumi", ...pulumiArgs], {
            cwd: project,
            env,
        });
        if (options["--timings-file"]) {
            const previewSeconds = Number(process.hrtime.bigint() - started) / 1e9;
            fs.writeFileSync(options["--timings-file"], JSON.stringify({ previewSeconds, status }) + "\n");
        }
        return status;
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

if (require.main === module) {
    process.exit(main(process.argv.slice(2)));
}
