// `npm run rollout -- <stack> [<stack> ...]`: one change rolled through environments in order.
// For each stack: preview (with the policy pack), up, then post-deploy checks that ask the
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

const root = path.resolve(__dirname, "..");

interface Stage { name: string; run: (stack: string) => { ok: boolean; detail: string } }

function npm(script: string, args: string[]): { ok: boolean; out: string; seconds: number } {
    const started = Date.now();
    const r = spawnSync("npm", ["run", "--silent", script, "--", ...args], { cwd: root, encoding: "utf8", maxBuffer: 256 << 20 });
    return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - started) / 1000 };
}

/** The last lines of a command's output: where Pulumi puts what went wrong. */
const tail = (out: string, lines = 15) => out.trimEnd().split("\n").slice(-lines).map(l => `      ${l}`).join("\n");

/** A Pulumi command as a stage: its resource summary on success, the end of its output on failure. */
function pulumiStage(name: string, args: (stack: string) => string[]): Stage {
    return {
        name,
        run: stack => {
            const r = npm("pulumi", [...args(stack), "--non-interactive", "--color", "never"]);
            const summary = /Resources:\n([\s\S]*?)\n\n/.exec(r.out)?.[1]?.trim().replace(/\s+/g, " ") ?? "";
            return { ok: r.ok, detail: r.ok ? `${summary} (${r.seconds.toFixed(1)} s)` : tail(r.out) };
        },
    };
}

const stages: Stage[] = [
    pulumiStage("preview", stack => ["preview", "--stack", stack]),
    pulumiStage("up", stack => ["up", "--stack", stack, "--yes", "--skip-preview"]),
    {
        name: "checks",
        run: stack => {
            const r = spawnSync("bash", ["toolchain/run-for-stack.sh", stack, "ts-node", "--transpile-only", "tools/post-deploy-checks.ts", stack],
                { cwd: root, encoding: "utf8" });
            const out = `${r.stdout}${r.stderr}`.trimEnd();
            return { ok: r.status === 0, detail: out.split("\n").map(l => `      ${l}`).join("\n") };
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
                console.log(`rollout stopped: ${stack} failed at ${stage.name}` +
                    (untouched.length > 0 ? `; not started: ${untouched.join(", ")}` : ""));
                return 1;
            }
        }
    }
    console.log(`rollout done: ${stacks.join(" -> ")}`);
    return 0;
}

process.exit(main(process.argv.slice(2)));
