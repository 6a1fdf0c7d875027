// A resource's inputs as the rules read them: plain values, which of them are secrets, and which
// are not known yet (during a preview).
//
// The policy SDK unwraps secrets before a policy sees a resource, so a plain password and a
// secret one look alike; a rule about secrets needs the difference. The SDK has a mode that keeps
// it (used for remediations): each secret wrapped in its `Secret` class. keepSecretsVisible()
// turns that mode on for validation too (pinned with the SDK version in package.json), and
// readInputs() then takes the inputs apart without the SDK's proxies.
import { Secret } from "@pulumi/policy";
import { unknownInput } from "./rules";

// Internal modules of @pulumi/policy 1.x: no typings, and their exports are patched below.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped internals, mutated in place
const deserialize = require("@pulumi/policy/deserialize") as { deserializeProperties: (s: unknown, keepSecrets: boolean) => unknown };
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped internals
const proxy = require("@pulumi/policy/proxy") as Record<string, string>;

/** The SDK's stand-ins for values a preview cannot know yet. */
const unknownStandIns = new Set(["Boolean", "Number", "String", "Array", "Asset", "Archive", "Object"].map(t => proxy[`unknown${t}Value`]));
if (unknownStandIns.has(undefined as unknown as string)) {
    throw new Error("@pulumi/policy no longer exports its unknown-value stand-ins: check policy/inputs.ts against the pinned SDK");
}

export function keepSecretsVisible(): void {
    const original = deserialize.deserializeProperties;
    if ((original as { keepsSecrets?: boolean }).keepsSecrets) return;
    const keeping = (struct: unknown) => original(struct, true);
    (keeping as { keepsSecrets?: boolean }).keepsSecrets = true;
    deserialize.deserializeProperties = keeping;
}

/** Removes the SDK's proxies (unknown checking, secrets preserving) around a value. */
function unproxied(value: unknown): unknown {
    let v = value;
    while (v instanceof Object && (v as Record<string, unknown>)[proxy.isSpecialProxy] === true) {
        v = (v as Record<string, unknown>)[proxy.getSpecialProxyTarget];
    }
    return v;
}

/** Plain inputs (unknowns as the `unknownInput` symbol) and the dotted paths of the secret ones. */
export function readInputs(props: unknown): { props: Record<string, unknown>; secret: Set<string> } {
    const secret = new Set<string>();
    const walk = (value: unknown, at: string): unknown => {
        let v = unproxied(value);
        if (v instanceof Secret) {
            secret.add(at);
            v = unproxied(v.value);
        }
        if (typeof v === "string" && unknownStandIns.has(v)) return unknownInput;
        if (Array.isArray(v)) return v.map((x, i) => walk(x, `${at}[${i}]`));
        if (v instanceof Object && Object.getPrototypeOf(v) === Object.prototype) {
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, at ? `${at}.${k}` : k)]));
        }
        return v;
    };
    return { props: walk(props, "") as Record<string, unknown>, secret };
}
