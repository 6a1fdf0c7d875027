// What the wrappers need to know of a stack before they run Pulumi on it, read by the config
// module (never by grep): whether its commands must run isolated from the network, and the policy
// pack's settings that come from its validated config.
// usage: ts-node tools/stack-guard.ts <stack file> [<policy config out>]
//   prints `isolated` or `open`; writes the policy config JSON when asked (the pack's defaults
//   when the stack's config does not validate: the program then reports why).
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { ConfigError, networkIsolated, parseStackSettings, policyConfig, structuredConfigOf } from "../stacks/config";

function main([file, policyOut]: string[]): number {
    if (!file) {
        process.stderr.write("usage: stack-guard.ts <stack file> [<policy config out>]\n");
        return 2;
    }
    let doc: unknown;
    try {
        doc = fs.existsSync(file) ? yaml.load(fs.readFileSync(file, "utf8")) : undefined;
    } catch {
        // An unreadable stack file isolates; Pulumi itself reports the YAML error.
        doc = undefined;
    }
    process.stdout.write(networkIsolated(doc) ? "isolated\n" : "open\n");
    if (policyOut) {
        let config = {};
        const stack = path.basename(file).replace(/^Pulumi\.(.*)\.yaml$/, "$1");
        try {
            config = policyConfig(parseStackSettings(stack, structuredConfigOf(doc)));
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
        }
        fs.writeFileSync(policyOut, JSON.stringify(config) + "\n");
    }
    return 0;
}

process.exit(main(process.argv.slice(2)));
