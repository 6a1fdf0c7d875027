// `npm run rollout -- <stack> [<stack> ...]`: one change rolled through environments in order.
// For each stack: preview and up through the Automation API (with the policy pack; what changed is
// read from the engine's structured events, never from its console), then post-deploy checks that ask the
// deployed things themselves, not Pulumi's state:
//   - the API server answers /readyz with the stack's own kubeconfig output;
//   - every Helm release the stack manages is deployed (Helm's release Secret says so);
//   - every configured dataset exists on the NAS (one SSH session, host key pinned).
// The first failure stops the rollout: later stacks are not previewed, let alone changed.
// Checks of a stack whose file asks for network isolation run inside its own network namespace,
// like every other command on it (toolchain/pulumi.sh).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { StageResult } from "./deploy-stack";

const root = path.resolve(__dirname, "..");

interface Stage {
    name: string;
    run: (stack: string) => { ok: boolean; detail: string };
}

/** A command for one stack, with its passphrase, network isolation and private temp directory. */
function forStack(stack: string, command: string[]): { status: number | null; out: string } {
    const r = spawnSync("bash", ["toolchain/run-for-stack.sh", stack, ...command], { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    return { status: r.status, out: `${r.stdout}${r.stderr}`.trimEnd() };
}

const indent = (text: string) =>
    text
        .split("\n")
        .map(l => `      ${l}`)
        .join("\n");

/** A Pulumi operation as a stage, through the Automation API (tools/deploy-stack.ts): what it
 * changed by operation on success, the engine's error diagnostics on failure. */
function pulumiStage(operation: "preview" | "up"): Stage {
    return {
        name: operation,
        run: stack => {
            const r = forStack(stack, ["ts-node", "--transpile-only", "tools/deploy-stack.ts", operation, stack]);
            const line = r.out
                .split("\n")
                .filter(l => l.startsWith("{"))
                .pop();
            if (line === undefined) return { ok: false, detail: indent(r.out.split("\n").slice(-15).join("\n")) };
            const result = JSON.parse(line) as StageResult;
            if (!result.ok) return { ok: false, detail: indent((result.errors ?? []).join("\n")) };
            const changes = Object.entries(result.changes ?? {})
                .filter(([, n]) => (n ?? 0) > 0)
                .map(([op, n]) => `${op} ${n}`)
                .join(", ");
            return { ok: true, detail: `${changes || "nothing"} (${result.seconds.toFixed(1)} s)` };
        },
    };
}

const stages: Stage[] = [
    pulumiStage("preview"),
    pulumiStage("up"),
    {
        name: "checks",
        run: stack => {
            const r = forStack(stack, ["ts-node", "--transpile-only", "tools/post-deploy-checks.ts", stack]);
            return { ok: r.status === 0, detail: indent(r.out) };
        },
    },
];

function main(stacks: string[]): number {
    if (stacks.length === 0 || stacks.some(s => s.startsWith("-"))) {
        console.error("usage: npm run rollout -- <stack> [<stack> ...]   (in rollout order)");
        return 2;
    }
    const missing = stacks.filter(s => !fs.existsSync(path.join(root, `Pulumi.${s}.yaml`)));
    if (missing.length > 0) {
        console.error(`rollout: no stack file for ${missing.map(s => `Pulumi.${s}.yaml`).join(", ")}; nothing was touched`);
        return 2;
    }
    for (const [i, stack] of stacks.entries()) {
        console.log(`== ${stack} (${i + 1}/${stacks.length})`);
        for (const stage of stages) {
            const result = stage.run(stack);
            console.log(`   ${result.ok ? "ok    " : "FAILED"} ${stage.name}${result.detail.includes("\n") ? "\n" : ": "}${result.detail}`);
            if (!result.ok) {
                const untouched = stacks.slice(i + 1);
                console.log(
                    `rollout stopped: ${stack} failed at ${stage.name}` + (untouched.length > 0 ? `; not started: ${untouched.join(", ")}` : ""),
                );
                return 1;
            }
        }
    }
    console.log(`rollout done: ${stacks.join(" -> ")}`);
    return 0;
}

process.exit(main(process.argv.slice(2)));
