// One program evaluation under mocks, in its own process so every size starts from a cold runtime:
//   ts-node bench/evaluate.ts <nodes> <datasets>
// Prints one JSON line: resources registered, milliseconds from the program's start to its last
// registration, and the heap in use afterwards.
import * as pulumi from "@pulumi/pulumi";
import { parseStackSettings, StackConfig, StackSecrets, secretKeys } from "../stacks/config";
import { recordProgram, valueOf } from "../tests/mocks";
import { clone, rawStackConfig } from "../tests/stackfiles";

/** The lab's config grown to `nodes` nodes (3 control planes behind a VIP past one) and `datasets` datasets. */
export function scaledConfig(nodes: number, datasets: number): StackConfig {
    const raw = clone(rawStackConfig("lab")) as {
        cluster: Record<string, unknown> & { nodes: Record<string, unknown>[] };
        nas: { pool: string; datasets: unknown[] };
    };
    if (nodes > 1) {
        const template = raw.cluster.nodes[0];
        // The lab's /24, so its MetalLB range stays on the nodes' segment.
        raw.cluster.vip = "127.0.10.9";
        raw.cluster.endpoint = "https://127.0.10.9:6443";
        raw.cluster.nodes = Array.from({ length: nodes }, (_, i) => ({
            ...template,
            name: `bench-n${i}`,
            address: `127.0.10.${10 + i}`,
            role: i < 3 ? "controlplane" : "worker",
        }));
    }
    const base = raw.nas.datasets;
    raw.nas.datasets = [
        ...base,
        ...Array.from({ length: Math.max(0, datasets - base.length) }, (_, i) => ({
            name: `${raw.nas.pool}/bench-${i}`,
            properties: { quota: "1G" },
        })),
    ];
    const secrets = Object.fromEntries(Object.keys(secretKeys).map(k => [k, pulumi.secret(`bench-${k}`)])) as unknown as StackSecrets;
    return { ...parseStackSettings("lab", raw), secrets };
}

async function main(): Promise<void> {
    const [nodes, datasets] = process.argv.slice(2).map(Number);
    if (!(nodes > 0 && datasets > 0)) throw new Error("usage: evaluate.ts <nodes> <datasets>");
    const config = scaledConfig(nodes, datasets);
    const rec = await recordProgram("lab");
    const { defineHomelab } = await import("../stacks/homelab");
    const started = process.hrtime.bigint();
    let last = started;
    const count = () => rec.resources.length;
    // Time of the last registration, sampled while the program runs.
    let seen = 0;
    const timer = setInterval(() => {
        if (count() !== seen) {
            seen = count();
            last = process.hrtime.bigint();
        }
    }, 1);
    const homelab = defineHomelab(config);
    await valueOf(homelab.kubeconfig);
    await rec.settle();
    clearInterval(timer);
    if (count() !== seen) last = process.hrtime.bigint();
    const heapMB = process.memoryUsage().heapUsed / 2 ** 20;
    process.stdout.write(JSON.stringify({ nodes, datasets, resources: count(), ms: Number(last - started) / 1e6, heapMB }) + "\n");
}

main().catch(e => {
    process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
});
