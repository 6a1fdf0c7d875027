// `npm run adopt -- <stack> --machine-config <controlplane.sops.yaml> [--apply] [--report <file>]`:
// takes over a Talos node and NAS that run today, without a rebuild. A dry run by default: before
// anything changes it prints what the stack's first `up` would do, and refuses when anything
// would be replaced or deleted.
//
//   1. The owner's machine config is decrypted with the real sops and the owner's Age identity,
//      in memory. Its secrets bundle (talos-ops secrets-from-config) and an admin talosconfig
//      from that bundle's CA read the node's live config: a file that is not the node's PKI
//      fails there, before anything else.
//   2. The cluster's name, endpoint and the node's hostname must already be the stack's (a new
//      name is a new PKI): a difference is refused, naming the key to set.
//   3. The stack's config is proposed: cluster.bootstrapped, the node's install disk, the
//      cluster's own secrets (homelab:talosSecrets) and, as a node patch, every live value the
//      stack would render differently (the stack's rendering is read from a preview).
//   4. A throwaway copy of the stack (same stack file and passphrase, a copy of its state, in a
//      temporary backend) previews the proposal: its steps are listed, a replace or delete
//      refuses the takeover; the node's own dry run shows the machine-config diff of the first
//      apply; every dataset is read over SSH and what would be set is listed.
//   5. --apply writes the proposal into the stack's config (secrets encrypted); `up` follows.
// Runs through toolchain/run-for-stack.sh: the stack's passphrase, its network isolation and a
// private temp directory; nothing with a secret is written outside it.
import { spawnSync, SpawnSyncOptions } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { managedProperties, parseProperties, readPropertiesScript } from "../components/nas/zfs";
import { clientConfigurationOf, machineSecretsOf, parseSecretsBundle } from "../components/talos/secrets";
import { carriedPatch, configLeaves, identityProblems } from "../components/talos/takeover";
import { configNamespace, StackSettings } from "../stacks/config";
import { pulumi, root, secretConfig, sshRun, stackSettings } from "./stack-access";

class Refused extends Error {}

interface Options {
    stack: string;
    machineConfig: string;
    apply: boolean;
    report?: string;
}

function parseArgs(argv: string[]): Options {
    const [stack, ...rest] = argv;
    const options: Partial<Options> = { stack, apply: false };
    for (let i = 0; i < rest.length; i++) {
        if (rest[i] === "--apply") options.apply = true;
        else if (rest[i] === "--machine-config") options.machineConfig = rest[++i];
        else if (rest[i] === "--report") options.report = rest[++i];
        else throw new Refused(`unknown argument ${rest[i]}`);
    }
    if (!stack || stack.startsWith("-") || !options.machineConfig) {
        throw new Refused("usage: npm run adopt -- <stack> --machine-config <controlplane.sops.yaml> [--apply] [--report <file>]");
    }
    return options as Options;
}

/** A command's stdout; a failure throws its last lines of stderr. Input goes to its stdin. */
function run(cmd: string, args: string[], input?: string, options: SpawnSyncOptions = {}): string {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", input, maxBuffer: 256 << 20, ...options });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${cmd} ${args[0]}: ${String(r.stderr).trim().split("\n").slice(-5).join("\n")}`);
    return String(r.stdout);
}

type Tree = Record<string, unknown>;

/** What the takeover proposes for the stack's config. */
interface Proposal {
    readonly nodeIndex: number;
    readonly installDisk: string;
    readonly nodePatch?: Tree;
    readonly talosSecrets: string;
}

/** Writes a proposal into a stack's file (the real one, or a throwaway copy's in `cwd`). */
function writeProposal(p: Proposal, stack: string, cwd: string, env: NodeJS.ProcessEnv): void {
    const set = (args: string[], input?: string) => run("pulumi", ["config", "set", "--stack", stack, ...args], input, { cwd, env });
    const node = `${configNamespace}:cluster.nodes[${p.nodeIndex}]`;
    set(["--path", `${configNamespace}:cluster.bootstrapped`, "true", "--type", "bool"]);
    set(["--path", `${node}.installDisk`, p.installDisk]);
    for (const leaf of configLeaves(`${node}.patches[0]`, p.nodePatch ?? {})) {
        set(["--path", leaf.path, "--type", leaf.type, "--", leaf.value]);
    }
    set(["--secret", `${configNamespace}:talosSecrets`], p.talosSecrets);
}

interface Step {
    op: string;
    urn: string;
    newState?: { type: string; inputs?: Tree };
}

/** The part of a saved update plan (`preview --save-plan`) that holds a resource's new inputs. */
interface SavedPlan {
    resourcePlans: Record<string, { goal?: { type: string; inputDiff?: { adds?: Tree; updates?: Tree } } }>;
}
type Encrypted = { ciphertext: string };

/**
 * Decrypts values of a passphrase stack the way the CLI does (pkg/secrets/passphrase: PBKDF2-SHA256,
 * 1,000,000 rounds, of the passphrase and the salt in `encryptionsalt: v1:<salt>:<check>`; values
 * `v1:<nonce>:<AES-256-GCM ciphertext+tag>`, base64), checked against the salt's own check value.
 */
function passphraseCrypter(encryptionSalt: string): (ciphertext: string) => string {
    const file = process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
    const phrase = process.env.PULUMI_CONFIG_PASSPHRASE ?? (file ? fs.readFileSync(file, "utf8").replace(/\r?\n$/, "") : undefined);
    if (phrase === undefined) throw new Error("no passphrase: PULUMI_CONFIG_PASSPHRASE(_FILE) is unset");
    const [version, salt] = encryptionSalt.split(":");
    if (version !== "v1") throw new Error(`encryptionsalt ${version}: not a passphrase stack's`);
    const key = crypto.pbkdf2Sync(phrase, Buffer.from(salt, "base64"), 1_000_000, 32, "sha256");
    const decrypt = (value: string): string => {
        const [v, nonce, sealed] = value.split(":");
        if (v !== "v1" || !nonce || !sealed) throw new Error("not a v1 passphrase ciphertext");
        const bytes = Buffer.from(sealed, "base64");
        const d = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
        d.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([d.update(bytes.subarray(0, bytes.length - 16)), d.final()]).toString("utf8");
    };
    if (decrypt(encryptionSalt.slice(encryptionSalt.indexOf(":", 3) + 1)) !== "pulumi") throw new Error("the passphrase does not open this stack");
    return decrypt;
}

/** The node's rendered machine config from a saved plan: the ConfigurationApply's new input. */
function renderedMachineConfig(plan: SavedPlan, decrypt: (ciphertext: string) => string): string {
    const goal = Object.values(plan.resourcePlans).find(p => p.goal?.type === "talos:machine/configurationApply:ConfigurationApply")?.goal;
    const value = goal?.inputDiff?.adds?.machineConfigurationInput ?? goal?.inputDiff?.updates?.machineConfigurationInput;
    const plain: unknown =
        typeof value === "object" && value !== null && "ciphertext" in value ? JSON.parse(decrypt((value as Encrypted).ciphertext)) : value;
    // An unknown (the engine's sentinel UUID) or absent value means the preview could not render it.
    if (typeof plain !== "string" || !plain.includes("\nmachine:")) throw new Error("the preview rendered no machine config for the node");
    return plain;
}

/** Previews a proposal on a throwaway copy of the stack: same file, passphrase and state. */
function previewProposal(stack: string, proposal: Proposal): { steps: Step[]; machineConfig: string } {
    const scratch = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", `adopt-${stack}-`));
    try {
        const project = path.join(scratch, "project");
        fs.mkdirSync(project);
        fs.copyFileSync(path.join(root, "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
        for (const entry of ["index.ts", "components", "stacks", "node_modules", "package.json", "tsconfig.json", "sdks"]) {
            fs.symlinkSync(path.join(root, entry), path.join(project, entry));
        }
        const configFile = path.join(project, `Pulumi.${stack}.yaml`);
        fs.copyFileSync(path.join(root, `Pulumi.${stack}.yaml`), configFile);
        fs.mkdirSync(path.join(scratch, "state"));
        const env = { ...process.env, PULUMI_BACKEND_URL: `file://${path.join(scratch, "state")}` };
        const scratchPulumi = (args: string[], input?: string) => run("pulumi", args, input, { cwd: project, env });
        const state = path.join(scratch, "checkpoint.json");
        fs.writeFileSync(state, pulumi(["stack", "export", "--stack", stack]), { mode: 0o600 });
        scratchPulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
        scratchPulumi(["stack", "import", "--stack", stack, "--file", state]);
        writeProposal(proposal, stack, project, env);
        // The CLI masks secret inputs in the JSON preview even with --show-secrets (v3.274), and the
        // rendered config is one; the saved plan holds it encrypted with the scratch stack's
        // passphrase, which this process has.
        const plan = path.join(scratch, "plan.json");
        const out = scratchPulumi(["preview", "--stack", stack, "--json", "--save-plan", plan, "--policy-pack", path.join(root, "policy")]);
        const steps = (JSON.parse(out) as { steps?: Step[] }).steps ?? [];
        const salt = /^encryptionsalt: (\S+)$/m.exec(fs.readFileSync(configFile, "utf8"))?.[1];
        if (salt === undefined) throw new Error(`the scratch copy of Pulumi.${stack}.yaml has no encryptionsalt`);
        const machineConfig = renderedMachineConfig(JSON.parse(fs.readFileSync(plan, "utf8")) as SavedPlan, passphraseCrypter(salt));
        return { steps, machineConfig };
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

/** Per dataset: created, or adopted with the properties the ensure script would set. */
async function datasetPlan(settings: StackSettings, privateKey: string, owner: string): Promise<string[]> {
    const lines: string[] = [];
    for (const dataset of settings.nas.datasets) {
        const desired = managedProperties(dataset, owner);
        const script = readPropertiesScript(settings.nas, dataset.name, Object.keys(desired));
        const observed = parseProperties((await sshRun(settings.nas, privateKey, script)).toString());
        if (observed === undefined) {
            lines.push(`create ${dataset.name}`);
            continue;
        }
        if (observed.type !== "filesystem")
            throw new Refused(`${dataset.name} exists as a ${observed.type}, not a filesystem: the stack would refuse it`);
        const changes = Object.entries(desired)
            .filter(([k, v]) => observed[k] !== v)
            .map(([k, v]) => `${k}=${v} (is ${observed[k] ?? "unset"})`);
        lines.push(`adopt ${dataset.name}${changes.length > 0 ? `: set ${changes.join(", ")}` : ""}`);
    }
    return lines;
}

const destructive = new Set(["replace", "create-replacement", "delete-replaced", "delete", "discard", "discard-replaced"]);

async function adopt(o: Options): Promise<number> {
    const settings = stackSettings(o.stack);
    const first = settings.cluster.nodes.find(n => n.role === "controlplane")!;
    const nodeIndex = settings.cluster.nodes.indexOf(first);

    // 1. The owner's config, its PKI, and the node's live config read with that PKI.
    const ownerConfig = run("sops", ["--decrypt", o.machineConfig]);
    const bundleText = run("talos-ops", ["secrets-from-config"], ownerConfig);
    const bundle = parseSecretsBundle(bundleText);
    const talosconfig = run(
        "talos-ops",
        ["talosconfig", "--endpoint", first.address, "--node", first.address, "--context", settings.cluster.name],
        bundleText,
    );
    let liveText: string;
    try {
        liveText = run("talos-ops", ["machine-config", "--node", first.address, "--endpoint", first.address], talosconfig);
    } catch (e) {
        throw new Refused(
            `the node at ${first.address} does not take the PKI of ${o.machineConfig}: it is not this node's machine config ` +
                `(taking the node over with it would mean a new PKI): ${(e as Error).message}`,
        );
    }
    const live = yaml.load(liveText) as Tree;

    // 2. Identity: the stack must already name the cluster, endpoint and node as they are.
    const problems = identityProblems(live, {
        clusterName: settings.cluster.name,
        endpoint: settings.cluster.endpoint,
        nodeName: first.name,
        nodeKey: `homelab:cluster.nodes[${nodeIndex}]`,
    });
    const existing = spawnSync("pulumi", ["config", "get", `${configNamespace}:talosSecrets`, "--stack", o.stack], { cwd: root, encoding: "utf8" });
    if (existing.status === 0 && !existing.stdout.includes(bundle.certs.os.crt)) {
        problems.push("homelab:talosSecrets already holds another cluster's secrets: taking this node over would give it a new PKI");
    }
    const checkpoint = JSON.parse(pulumi(["stack", "export", "--stack", o.stack])) as { deployment: { resources?: { type: string }[] } };
    if ((checkpoint.deployment.resources ?? []).some(r => r.type === "talos:machine/secrets:Secrets")) {
        problems.push(
            "the stack's state holds machine secrets it generated: applying its configs would give the node a new PKI; take it over from a stack without them",
        );
    }
    if (problems.length > 0) throw new Refused(`not taking over ${first.address}:\n  ${problems.join("\n  ")}`);

    // 3. The proposal: bootstrapped, the live install disk, the cluster's own secrets, and a node
    //    patch carrying every live value the stack renders differently (read from a preview).
    const talosSecrets = JSON.stringify({ machineSecrets: machineSecretsOf(bundle), clientConfiguration: clientConfigurationOf(talosconfig) });
    const installDisk = String((live.machine as Tree | undefined)?.install && ((live.machine as Tree).install as Tree).disk);
    const base: Proposal = { nodeIndex, installDisk, talosSecrets };
    const rendered = yaml.load(previewProposal(o.stack, base).machineConfig) as Tree;
    const carried = carriedPatch(live, rendered);
    const proposal: Proposal = { ...base, nodePatch: Object.keys(carried.patch).length > 0 ? carried.patch : undefined };

    // 4. The first up, previewed on a throwaway copy; the node's dry run of its config.
    const { steps, machineConfig } = previewProposal(o.stack, proposal);
    const configFile = path.join(process.env.TMPDIR ?? "/tmp", "adopt-machine-config.yaml");
    fs.writeFileSync(configFile, machineConfig, { mode: 0o600 });
    let dryRun: string;
    try {
        dryRun = run("talos-ops", ["apply", "--node", first.address, "--endpoint", first.address, "--file", configFile, "--dry-run"], talosconfig);
    } finally {
        fs.rmSync(configFile, { force: true });
    }
    const datasets = await datasetPlan(settings, secretConfig(o.stack, "nasSshPrivateKey"), `homelab/${o.stack}`);
    const changes = steps.filter(s => s.op !== "same").map(s => ({ op: s.op, urn: s.urn }));
    const refused = changes.filter(c => destructive.has(c.op));

    console.log(
        `Taking over ${settings.cluster.name} (${first.name} at ${first.address}) for stack ${o.stack}: its own PKI, not bootstrapped again.`,
    );
    console.log(`\nConfig the stack gets (Pulumi.${o.stack}.yaml):`);
    console.log(`  homelab:cluster.bootstrapped: true`);
    console.log(`  homelab:cluster.nodes[${nodeIndex}].installDisk: ${installDisk}`);
    if (proposal.nodePatch) console.log(`  homelab:cluster.nodes[${nodeIndex}].patches[0]:\n${yaml.dump(proposal.nodePatch).replace(/^/gm, "    ")}`);
    console.log(`  homelab:talosSecrets: [secret] (the cluster's machine secrets and an admin client from its CA)`);
    for (const k of carried.kept) console.log(`  (keeps the node's ${k} over the stack's)`);
    console.log(`\nThe first up (${changes.length} changes):`);
    for (const c of changes) console.log(`  ${c.op.padEnd(8)} ${c.urn.split("::").slice(2).join("::")}`);
    console.log(`\nThe node's dry run of the first apply:\n${dryRun.trimEnd().replace(/^/gm, "  ")}`);
    console.log(`\nDatasets on ${settings.nas.host}:`);
    for (const d of datasets) console.log(`  ${d}`);
    if (o.report)
        fs.writeFileSync(o.report, JSON.stringify({ changes, dryRun, datasets, proposal: { ...proposal, talosSecrets: undefined } }, null, 2) + "\n");

    if (refused.length > 0) {
        throw new Refused(`refusing: the first up would ${refused.map(c => `${c.op} ${c.urn.split("::").pop()}`).join(", ")}; nothing was changed`);
    }
    if (!o.apply) {
        console.log("\nDry run: nothing was changed. Run again with --apply to write this config, then `npm run pulumi -- up`.");
        return 0;
    }
    writeProposal(proposal, o.stack, root, process.env);
    console.log(`\nWritten into Pulumi.${o.stack}.yaml. Next: npm run pulumi -- up --stack ${o.stack}`);
    return 0;
}

if (require.main === module) {
    let options: Options;
    try {
        options = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(`adopt: ${(e as Error).message}`);
        process.exit(2);
    }
    adopt(options).then(
        code => process.exit(code),
        (e: unknown) => {
            console.error(`adopt: ${e instanceof Error ? e.message : String(e)}`);
            process.exit(e instanceof Refused ? 2 : 1);
        },
    );
}
