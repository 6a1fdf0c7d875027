// Reads the committed stack files the way the program sees them: the `homelab:*` keys, without the
// namespace, as plain objects.
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { structuredConfigOf } from "../stacks/config";

export const root = path.resolve(__dirname, "..");

export function rawStackConfig(stack: string): Record<string, unknown> {
    return structuredConfigOf(yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")));
}

/** A deep copy that a test may change without touching the shared parsed file. */
export function clone<T>(value: T): T {
    return JSON.parse(JSON.stringify(value)) as T;
}
