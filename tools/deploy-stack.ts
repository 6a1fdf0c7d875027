// `ts-node tools/deploy-stack.ts <preview|up> <stack>`: Pulumi's preview or update of a stack
// through the Automation API, with the project's policy pack and the settings its config implies,
// reading the engine's structured events instead of its console. Prints one JSON line:
//   {"ok":true,"changes":{"create":1,"same":60},"seconds":9.2}
//   {"ok":false,"errors":["<resource>: <message>", ...],"seconds":3.1}
// Run it through toolchain/run-for-stack.sh, which resolves the passphrase, isolates the stack's
// network and gives it a private temporary directory, as for every other command on a stack.
import { EngineEvent, LocalWorkspace, OpMap, Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseStackSettings, policyConfig } from "../stacks/config";
import { stackFile } from "./stack-access";

const root = path.resolve(__dirname, "..");

export interface StageResult {
    readonly ok: boolean;
    readonly seconds: number;
    /** What the engine did or would do, by operation (create, update, same, ...). */
    readonly changes?: OpMap;
    /** Error diagnostics, each with the resource it is about. */
    readonly errors?: string[];
}

/** The policy pack's config for the stack, written where the pack reads it. */
function policyConfigFile(stack: string): string {
    let config = {};
    try {
        config = policyConfig(parseStackSettings(stack, stackFile(stack)));
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e; // the program reports the config's problems
    }
    const file = path.join(process.env.TMPDIR ?? "/tmp", `policy-${stack}.json`);
    fs.writeFileSync(file, JSON.stringify(config));
    return file;
}

export async function deploy(operation: "preview" | "up", stack: string): Promise<StageResult> {
    const started = Date.now();
    const errors: string[] = [];
    const onEvent = (e: EngineEvent) => {
        const d = e.diagnosticEvent;
        if (d?.severity === "error") errors.push(`${d.urn ? `${d.urn.split("::").pop()}: ` : ""}${d.message.trim()}`);
        const p = e.policyEvent;
        if (p?.enforcementLevel === "mandatory")
            errors.push(`policy ${p.policyName}: ${p.resourceUrn?.split("::").pop() ?? ""}: ${p.message.trim()}`);
    };
    const options = { policyPacks: [path.join(root, "policy")], policyPackConfigs: [policyConfigFile(stack)], onEvent, color: "never" as const };
    const seconds = () => (Date.now() - started) / 1000;
    try {
        const workspace = await LocalWorkspace.create({ workDir: root });
        const selected = await Stack.select(stack, workspace);
        const changes =
            operation === "preview" ? (await selected.preview(options)).changeSummary : ((await selected.up(options)).summary.resourceChanges ?? {});
        return { ok: true, changes, seconds: seconds() };
    } catch (e) {
        // The engine's own diagnostics say what failed; the CLI's error text is the fallback.
        return { ok: false, errors: errors.length > 0 ? errors : [(e as Error).message.trim().split("\n").slice(-5).join("\n")], seconds: seconds() };
    }
}

if (require.main === module) {
    const [operation, stack] = process.argv.slice(2);
    if ((operation !== "preview" && operation !== "up") || !stack) {
        console.error("usage: deploy-stack.ts <preview|up> <stack>");
        process.exit(2);
    }
    void deploy(operation, stack).then(r => {
        console.log(JSON.stringify(r));
        process.exit(r.ok ? 0 : 1);
    });
}
