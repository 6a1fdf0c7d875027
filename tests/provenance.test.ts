// Every external artifact the stacks pin has a provenance entry saying where upstream it was
// verified (stacks/provenance.ts): the charts of each stack file, the Talos and Kubernetes
// versions, the system extensions and installer image, and every image the program names.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { parseStackSettings, StackSecrets } from "../stacks/config";
import { provenance, provenanceOf } from "../stacks/provenance";
import { isLoopback } from "../stacks/rules";
import { plain, recordProgram, valueOf } from "./mocks";
import { clone, rawStackConfig } from "./stackfiles";

const standIn = (k: string) => pulumi.secret(`stand-in for ${k}`);

/** Every `image` string the program's resources name (containers of its own workloads). */
function imagesIn(value: unknown, found = new Set<string>()): Set<string> {
    if (Array.isArray(value)) value.forEach(v => imagesIn(v, found));
    else if (value !== null && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) {
            if (k === "image" && typeof v === "string") found.add(v);
            else imagesIn(v, found);
        }
    }
    return found;
}

/** The artifacts a stack pins, as provenance names them; a loopback chart repository (the lab's
 * stand-ins) stands for the real chart of the same name and version. */
async function pinsOf(stack: string): Promise<string[]> {
    const settings = parseStackSettings(stack, clone(rawStackConfig(stack)));
    const { cluster, platform } = settings;
    const pins = [
        `talos ${cluster.talosVersion}`,
        `kubernetes ${cluster.kubernetesVersion}`,
        ...cluster.systemExtensions.map(e => `extension ${e} for talos ${cluster.talosVersion}`),
        `image ${cluster.installerImage}`,
    ];
    for (const chart of Object.values(platform.charts)) {
        const host = new URL(chart.repo).hostname;
        pins.push(isLoopback(host) ? `chart ${chart.chart} ${chart.version} from *` : `chart ${chart.chart} ${chart.version} from ${chart.repo}`);
    }
    const rec = await recordProgram(stack);
    const { defineHomelab } = await import("../stacks/homelab");
    const secrets = Object.fromEntries(
        ["nasSshPrivateKey", "truenasApiKey", "cloudflareApiToken", "gitToken", "alertingSecret"].map(k => [k, standIn(k)]),
    ) as unknown as StackSecrets;
    const homelab = defineHomelab({ ...settings, secrets });
    await valueOf(homelab.kubeconfig);
    await rec.settle();
    for (const r of rec.resources) {
        for (const image of imagesIn(plain(r.inputs))) pins.push(`image ${image}`);
    }
    return [...new Set(pins)];
}

describe("provenance of every pinned artifact", () => {
    for (const stack of ["homelab", "lab"]) {
        it(`${stack}: every pin has an entry naming where upstream it was verified`, async () => {
            const missing = (await pinsOf(stack)).filter(pin =>
                pin.endsWith(" from *") ? !provenance.some(p => p.artifact.startsWith(pin.slice(0, -1))) : provenanceOf(pin) === undefined,
            );
            assert.deepStrictEqual(missing, [], "pins without a provenance entry in stacks/provenance.ts");
        });
    }

    it("each entry names a repository, a ref and a path, and says what it showed", () => {
        for (const p of provenance) {
            assert.ok(p.verified.length > 0 && p.note.length > 0, p.artifact);
            for (const v of p.verified) {
                assert.match(v.repository, /^github\.com\/[\w.-]+\/[\w.-]+$/, p.artifact);
                assert.ok(v.ref && v.path, p.artifact);
            }
        }
    });

    it("fails on a pin without an entry (positive control)", () => {
        assert.strictEqual(provenanceOf("chart traefik 99.0.0 from https://traefik.github.io/charts"), undefined);
    });
});
