// Post-deploy checks of one stack, asked of the deployed things themselves (npm run rollout runs
// them after each up, through toolchain/run-for-stack.sh for the passphrase and isolation):
//   api       the API server answers /readyz, authenticated with the stack's kubeconfig output;
//   releases  each Helm release in the stack's state is deployed, per Helm's own release Secret;
//   datasets  each configured dataset exists on the NAS (one SSH session, host key pinned).
// Prints one line per check; exits 1 when any fails.
import { shellQuote, zfsCommand } from "../components/nas/zfs";
import { itemNames, kubeFrom, kubeRequest, pulumi, secretConfig, secretOutput, sshRun, stackSettings } from "./stack-access";

async function main(stack: string): Promise<number> {
    const settings = stackSettings(stack);
    const results: [string, boolean, string][] = [];
    const check = async (name: string, body: () => Promise<string>) => {
        try {
            results.push([name, true, await body()]);
        } catch (e) {
            results.push([name, false, e instanceof Error ? e.message : String(e)]);
        }
    };

    const kube = kubeFrom(secretOutput(stack, "kubeconfig"));
    await check("api", async () => {
        const r = await kubeRequest(kube, "GET", "/readyz");
        if (r.status !== 200) throw new Error(`${kube.server.origin}/readyz answered ${r.status}: ${r.body.slice(0, 200)}`);
        return `${kube.server.origin} is ready`;
    });

    const state = JSON.parse(pulumi(["stack", "export", "--stack", stack])) as {
        deployment: { resources?: { type: string; outputs?: { name?: string; namespace?: string } }[] };
    };
    const releases = (state.deployment.resources ?? [])
        .filter(r => r.type === "kubernetes:helm.sh/v3:Release")
        .map(r => ({ name: String(r.outputs?.name), namespace: String(r.outputs?.namespace) }));
    await check("releases", async () => {
        if (releases.length === 0) throw new Error("the stack manages no Helm release");
        const notDeployed: string[] = [];
        for (const { name, namespace } of releases) {
            const selector = encodeURIComponent(`owner=helm,name=${name},status=deployed`);
            const r = await kubeRequest(kube, "GET", `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?labelSelector=${selector}`);
            if (r.status !== 200 || itemNames(r.body).length === 0) notDeployed.push(`${namespace}/${name}`);
        }
        if (notDeployed.length > 0) throw new Error(`not deployed: ${notDeployed.join(", ")}`);
        return `${releases.length} deployed`;
    });

    await check("datasets", async () => {
        const nas = settings.nas;
        const zfs = zfsCommand(nas);
        const script = nas.datasets.map(d => `${zfs} list -H -o name ${shellQuote(d.name)} >/dev/null 2>&1 || echo ${shellQuote(d.name)}`).join("; ");
        const missing = (await sshRun(nas, secretConfig(stack, "nasSshPrivateKey"), script)).toString().split("\n").filter(Boolean);
        if (missing.length > 0) throw new Error(`missing on ${nas.host}: ${missing.join(", ")}`);
        return `${nas.datasets.length} present on ${nas.host}`;
    });

    for (const [name, ok, detail] of results) console.log(`${ok ? "ok    " : "FAILED"} ${name}: ${detail}`);
    return results.every(([, ok]) => ok) ? 0 : 1;
}

main(process.argv[2] ?? "").then(
    code => process.exit(code),
    e => {
        console.error(`FAILED checks: ${e instanceof Error ? e.message : e}`);
        process.exit(1);
    },
);
