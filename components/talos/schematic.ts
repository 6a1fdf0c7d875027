// The Image Factory schematic of the nodes' installer image, computed from the system extensions
// the stack declares, never pasted. Its id is what the factory computes: the sha256 of the
// schematic marshalled as YAML with 4-space indentation, fields in declaration order, empty ones
// omitted (siderolabs/image-factory pkg/schematic/schematic.go, Schematic.ID and Marshal).
// The vanilla schematic (no customization) gives 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba,
// the id every Talos release page links to: a check that the bytes below are the factory's.
import { createHash } from "crypto";

/** The Image Factory that builds installer images on demand, and its installer repository. */
export const imageFactoryInstaller = "factory.talos.dev/installer";

/** An official extension's name as the factory lists it (siderolabs/<name>). */
export const officialExtensionPattern = /^siderolabs\/[a-z0-9][a-z0-9-]*$/;

/**
 * The schematic's canonical YAML. Extensions are sorted, as the factory's web UI sorts them when it
 * makes a schematic: the id depends on their order, and a set has only one sorted order.
 */
export function schematicYaml(officialExtensions: readonly string[]): string {
    for (const e of officialExtensions) {
        // A name outside the pattern would need YAML quoting, which this writer does not do.
        if (!officialExtensionPattern.test(e)) throw new Error(`"${e}" is not an official extension name such as siderolabs/iscsi-tools`);
    }
    if (officialExtensions.length === 0) {
        return "customization: {}\n";
    }
    const items = [...new Set(officialExtensions)]
        .sort()
        .map(e => `            - ${e}\n`)
        .join("");
    return `customization:\n    systemExtensions:\n        officialExtensions:\n${items}`;
}

export function schematicId(officialExtensions: readonly string[]): string {
    return createHash("sha256").update(schematicYaml(officialExtensions)).digest("hex");
}

/** The installer image for a Talos version with the extensions baked in. */
export function installerImage(officialExtensions: readonly string[], talosVersion: string): string {
    return `${imageFactoryInstaller}/${schematicId(officialExtensions)}:${talosVersion}`;
}
