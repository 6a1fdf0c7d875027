// `npm run bench [-- <name>]`: the project's figures, measured in one run, printed as a table and
// written to bench/<name>.json (default name: latest).
//
//   preview   the secret-less preview of `homelab` against its floor: the same CLI, plugins and
//             throwaway-stack machinery previewing a program that only creates the providers
//             (bench/floor.ts, every provider the program creates). previewRatio = homelab / floor;
//             median of three runs each, the two interleaved so neither gets the warmer machine.
//   lab       `npm run lab` from an empty lab (no node config, no pool, no stack state), then a
//             no-op `npm run lab`, with the SSH sessions, Talos API calls and Kubernetes API
//             requests (all and mutating, from the API server's audit log) each made.
//             noopRemoteCalls = the no-op's SSH sessions + Talos calls + mutating requests.
//             This resets the lab, as `npm test` does.
//   unit      the unit test suite (mocha without the @engine tests).
//   scale     program evaluation under mocks for 1, 3, 10, 50 nodes and 10, 100, 1000 datasets,
//             each in a fresh process: resources registered, time to the last registration, heap.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kubeRequests, labDir, sshSessions, talosCalls } from "../tests/lablogs";

const root = path.resolve(__dirname, "..");

interface Timed {
    seconds: number;
    status: number;
    out: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Timed {
    const started = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", env, maxBuffer: 256 << 20 });
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, status: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

function must(what: string, r: Timed): Timed {
    if (r.status !== 0) {
        throw new Error(`${what} failed (exit ${r.status}):\n${r.out.slice(-3000)}`);
    }
    return r;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** One secret-less preview of `homelab`, of its own program or another; the preview step's time. */
function preview(program?: string): { seconds: number; resources: number } {
    const timings = path.join(os.tmpdir(), `bench-preview-${process.pid}.json`);
    const args = ["run", "--silent", "preview", "--", "homelab", "--timings-file", timings, ...(program ? ["--program", program] : [])];
    const r = must(`preview of homelab${program ? ` with ${program}` : ""}`, timed("npm", args));
    const { previewSeconds } = JSON.parse(fs.readFileSync(timings, "utf8")) as { previewSeconds: number };
    fs.rmSync(timings, { force: true });
    const creates = /\+ (\d+) to create/.exec(r.out);
    return { seconds: previewSeconds, resources: creates ? Number(creates[1]) : 0 };
}

const remoteCalls = () => {
    const kube = kubeRequests();
    return { ssh: sshSessions(), talos: talosCalls(), kube: kube.all, mutating: kube.mutating };
};

function labUp(): { seconds: number; ssh: number; talos: number; kube: number; mutating: number } {
    const before = remoteCalls();
    const r = must("npm run lab", timed("npm", ["run", "--silent", "lab"]));
    const after = remoteCalls();
    return {
        seconds: r.seconds,
        ssh: after.ssh - before.ssh,
        talos: after.talos - before.talos,
        kube: after.kube - before.kube,
        mutating: after.mutating - before.mutating,
    };
}

function freshLab(): void {
    const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE_FILE: path.join(root, "stacks/lab.passphrase") };
    timed("bash", ["lab/down.sh"]);
    fs.rmSync(labDir, { recursive: true, force: true });
    timed("npm", ["run", "--silent", "pulumi", "--", "stack", "rm", "lab", "--force", "--yes", "--preserve-config"], env);
}

function scale(nodes: number, datasets: number): { nodes: number; datasets: number; resources: number; ms: number; heapMB: number } {
    const r = must(
        `evaluation with ${nodes} nodes, ${datasets} datasets`,
        timed("ts-node", ["--transpile-only", "bench/evaluate.ts", String(nodes), String(datasets)]),
    );
    return JSON.parse(
        r.out
            .trim()
            .split("\n")
            .filter(l => l.startsWith("{"))
            .pop()!,
    ) as ReturnType<typeof scale>;
}

function table(rows: (string | number)[][]): string {
    const widths = rows[0].map((_, i) => Math.max(...rows.map(r => String(r[i]).length)));
    return rows
        .map(r => r.map((c, i) => (typeof c === "number" ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  "))
        .join("\n");
}

function main(): void {
    const name = process.argv[2] ?? "latest";
    if (!/^[\w.-]+$/.test(name)) {
        throw new Error(`bench name "${name}" may hold letters, digits, ".", "_" and "-" only`);
    }
    const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

    log("previews: homelab and its floor, three each");
    const homelab: { seconds: number; resources: number }[] = [];
    const floor: { seconds: number; resources: number }[] = [];
    for (let i = 0; i < 3; i++) {
        homelab.push(preview());
        floor.push(preview("bench/floor.ts"));
    }
    const previewSeconds = median(homelab.map(p => p.seconds));
    const floorSeconds = median(floor.map(p => p.seconds));

    log("lab: from empty, then a no-op");
    freshLab();
    const fromEmpty = labUp();
    const noop = labUp();

    log("unit tests");
    const unit = must("unit tests", timed("bash", ["tests/run.sh", "unit"]));
    const unitTests = Number(/(\d+) passing/.exec(unit.out)?.[1] ?? 0);

    log("program evaluation under mocks");
    const sizes: [number, number][] = [
        [1, 10],
        [3, 10],
        [10, 10],
        [50, 10],
        [1, 100],
        [1, 1000],
    ];
    const scaling = sizes.map(([n, d]) => scale(n, d));

    const result = {
        name,
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version },
        previewSeconds: round(previewSeconds),
        previewResources: homelab[0].resources,
        floorSeconds: round(floorSeconds),
        floorResources: floor[0].resources,
        previewRatio: round(previewSeconds / floorSeconds),
        labFromEmpty: {
            seconds: round(fromEmpty.seconds, 1),
            sshSessions: fromEmpty.ssh,
            talosCalls: fromEmpty.talos,
            kubeRequests: fromEmpty.kube,
            kubeMutatingRequests: fromEmpty.mutating,
        },
        labNoop: {
            seconds: round(noop.seconds, 1),
            sshSessions: noop.ssh,
            talosCalls: noop.talos,
            kubeRequests: noop.kube,
            kubeMutatingRequests: noop.mutating,
        },
        noopRemoteCalls: noop.ssh + noop.talos + noop.mutating,
        unitTests: { seconds: round(unit.seconds, 1), tests: unitTests },
        scaling: scaling.map(s => ({ ...s, ms: round(s.ms, 1), heapMB: round(s.heapMB, 1) })),
    };
    fs.writeFileSync(path.join(root, "bench", `${name}.json`), JSON.stringify(result, null, 2) + "\n");

    console.log(
        table([
            ["figure", "value", "detail"],
            ["secret-less preview of homelab", `${result.previewSeconds} s`, `${result.previewResources} resources, median of 3`],
            ["preview floor (providers only)", `${result.floorSeconds} s`, `${result.floorResources} resources, median of 3`],
            ["previewRatio", result.previewRatio, "homelab / floor"],
            [
                "lab up from empty",
                `${result.labFromEmpty.seconds} s`,
                `${fromEmpty.ssh} SSH sessions, ${fromEmpty.talos} Talos API calls, ${fromEmpty.kube} Kubernetes requests (${fromEmpty.mutating} mutating)`,
            ],
            [
                "lab no-op up",
                `${result.labNoop.seconds} s`,
                `${noop.ssh} SSH sessions, ${noop.talos} Talos API calls, ${noop.kube} Kubernetes requests (${noop.mutating} mutating)`,
            ],
            ["noopRemoteCalls", result.noopRemoteCalls, "SSH sessions + Talos API calls + mutating Kubernetes requests of the no-op"],
            ["unit test suite", `${result.unitTests.seconds} s`, `${unitTests} tests`],
        ]),
    );
    console.log();
    console.log(
        table([["nodes", "datasets", "resources", "ms", "heap MB"], ...result.scaling.map(s => [s.nodes, s.datasets, s.resources, s.ms, s.heapMB])]),
    );
    console.log(`\nwritten to bench/${name}.json`);
}

main();
