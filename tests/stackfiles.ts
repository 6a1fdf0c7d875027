// Reads the committed stack files the way the program sees them: the `homelab:*` keys, without the
// namespace, as plain objects.
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";

export const root = path.resolve(__dirname, "..");

export function rawStackConfig(stack: string): Record<string, unknown> {
    const doc = yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(
        Object.entries(doc.config)
            .filter(([k]) => k.startsWith("homelab:"))
            .map(([k, v]) => [k.slice("homelab:".length), v]));
}

/** A deep copy that a test may change without touching the shared parsed file. */
export function clone<T>(value: T): T {
    return JSON.parse(JSON.stringify(value)) as T;
}
