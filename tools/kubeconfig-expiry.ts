// `npm run kubeconfig-expiry -- <stack> [days]`: fails when the client certificate of the stack's
// kubeconfig output expires within <days> (default 30). The kubeconfig Talos issues is valid for a
// year; renewing it is an `up` (the stack regenerates it), which is better done before it lapses
// than after the API server starts refusing it.
import { spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import * as yaml from "js-yaml";

function main(stack: string | undefined, daysArg = "30"): number {
    const days = Number(daysArg);
    if (!stack || !(days >= 0)) {
        console.error("usage: npm run kubeconfig-expiry -- <stack> [days, default 30]");
        return 2;
    }
    const r = spawnSync("npm", ["run", "--silent", "pulumi", "--", "stack", "output", "kubeconfig", "--show-secrets", "--stack", stack], {
        encoding: "utf8",
    });
    if (r.status !== 0) {
        console.error(`kubeconfig-expiry: no kubeconfig output for stack ${stack}: ${r.stderr.trim().split("\n").pop()}`);
        return 2;
    }
    const kc = yaml.load(r.stdout) as { users?: { name: string; user: Record<string, string> }[] };
    let status = 0;
    for (const { name, user } of kc.users ?? []) {
        const pem = Buffer.from(user["client-certificate-data"] ?? "", "base64");
        const cert = new X509Certificate(pem);
        const left = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
        const ok = left > days;
        if (!ok) status = 1;
        console.log(
            `${ok ? "ok     " : "RENEW  "} ${stack}: user ${name}'s certificate expires ${new Date(cert.validTo).toISOString()} ` +
                `(in ${Math.floor(left)} days${ok ? "" : `, inside the ${days}-day renewal window: run up on the stack`})`,
        );
    }
    return status;
}

process.exit(main(process.argv[2], process.argv[3]));
