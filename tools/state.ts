// `npm run state -- migrate <stack> <to-url>`: moves a stack's state from the backend this command
// runs against (PULUMI_BACKEND_URL; the file backend in .pulumi-state by default) to another one
// (postgres://..., file://...), and checks the copy before it says done:
//   - every resource of the checkpoint is in the copy, with the same inputs and outputs;
//   - the stack's outputs, secrets included, decrypt to the same values on both sides (the
//     secrets provider travels with the stack: its passphrase salt is in Pulumi.<stack>.yaml, and
//     Age mode seals the same passphrase).
// The source is left as it was: migrating back is the same command the other way round. A target
// that already holds resources for the stack is refused. Run through toolchain/run-for-stack.sh
// (`npm run state`), which resolves the passphrase and gives the checkpoint a private temp dir.
import { Deployment, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as path from "path";

const root = path.resolve(__dirname, "..");

class UsageError extends Error {}

/** A backend URL with its password hidden, for messages. */
export function redacted(url: string): string {
    return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, "$1[credential]@");
}

interface Resource {
    urn: string;
    inputs?: unknown;
    outputs?: unknown;
}

/** What must survive a migration: each resource's URN, inputs and outputs. */
export function checkpointDifferences(source: Deployment, target: Deployment): string[] {
    const byUrn = (d: Deployment) =>
        new Map(((d.deployment as { resources?: Resource[] }).resources ?? []).map(r => [r.urn, JSON.stringify([r.inputs, r.outputs])]));
    const a = byUrn(source);
    const b = byUrn(target);
    const problems: string[] = [];
    for (const [urn, value] of a) {
        if (!b.has(urn)) problems.push(`missing in the copy: ${urn}`);
        else if (b.get(urn) !== value) problems.push(`different in the copy: ${urn}`);
    }
    for (const urn of b.keys()) if (!a.has(urn)) problems.push(`only in the copy: ${urn}`);
    return problems;
}

const workspace = (backend: string) => LocalWorkspace.create({ workDir: root, envVars: { PULUMI_BACKEND_URL: backend } });

async function outputsOf(stack: Stack): Promise<string> {
    const outputs = await stack.outputs();
    return JSON.stringify(
        Object.fromEntries(
            Object.entries(outputs)
                .map(([k, v]) => [k, v.value] as const)
                .sort(),
        ),
    );
}

export async function migrate(stackName: string, from: string, to: string): Promise<string> {
    if (from === to) throw new UsageError(`the stack already lives in ${redacted(to)}`);
    const source = await Stack.select(stackName, await workspace(from));
    const checkpoint = await source.exportStack();
    const resources = ((checkpoint.deployment as { resources?: unknown[] }).resources ?? []).length;

    const targetWs = await workspace(to);
    const existing = (await targetWs.listStacks()).find(s => s.name === stackName || s.name.endsWith(`/${stackName}`));
    if (existing?.resourceCount) {
        throw new UsageError(`${redacted(to)} already holds ${existing.resourceCount} resources for ${stackName}: nothing was changed`);
    }
    const target = existing ? await Stack.select(stackName, targetWs) : await Stack.create(stackName, targetWs);
    await target.importStack(checkpoint);

    const problems = checkpointDifferences(checkpoint, await target.exportStack());
    if ((await outputsOf(source)) !== (await outputsOf(target))) problems.push("the stack's outputs (secrets included) differ in the copy");
    if (problems.length > 0) throw new Error(`the copy in ${redacted(to)} is not the checkpoint:\n  ${problems.join("\n  ")}`);
    return `${stackName}: ${resources} resources and the stack's outputs (secrets included) copied from ${redacted(from)} to ${redacted(to)}, checked`;
}

async function main([command, stack, to]: string[]): Promise<void> {
    if (command !== "migrate" || !stack || !to) throw new UsageError("usage: npm run state -- migrate <stack> <to-url>");
    const from = process.env.PULUMI_BACKEND_URL ?? "";
    console.log(await migrate(stack, from, to.startsWith("file://") ? `file://${path.resolve(to.slice("file://".length))}` : to));
}

if (require.main === module) {
    main(process.argv.slice(2)).catch(e => {
        console.error(`state: ${e instanceof Error ? redacted(e.message) : String(e)}`);
        process.exit(e instanceof UsageError ? 2 : 1);
    });
}
