// The installer image's Image Factory schematic id, computed as the factory computes it. The
// oracles are ids the factory's own code produced (siderolabs/image-factory pkg/schematic, run on
// these schematics) and the vanilla id every Talos release links to.
import * as assert from "assert";
import { installerImage, schematicId, schematicYaml } from "../components/talos/schematic";

describe("Image Factory schematics", () => {
    it("gives the vanilla schematic's well-known id", () => {
        assert.strictEqual(schematicId([]), "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba");
    });

    it("gives the factory's ids for the homelab's extensions, in any order", () => {
        assert.strictEqual(schematicId(["siderolabs/iscsi-tools"]), "c9078f9419961640c712a8bf2bb9174933dfcf1da383fd8ea2b7dc21493f8bac");
        const both = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245";
        assert.strictEqual(schematicId(["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"]), both);
        assert.strictEqual(schematicId(["siderolabs/util-linux-tools", "siderolabs/iscsi-tools"]), both, "a set: sorted as the factory's UI sorts");
    });

    it("writes the schematic as the factory marshals it", () => {
        assert.strictEqual(
            schematicYaml(["siderolabs/iscsi-tools"]),
            "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/iscsi-tools\n",
        );
        assert.throws(() => schematicYaml(["iscsi-tools"]), /"iscsi-tools" is not an official extension name/);
    });

    it("names the installer image by id and Talos version", () => {
        assert.strictEqual(
            installerImage(["siderolabs/iscsi-tools"], "v1.11.5"),
            "factory.talos.dev/installer/c9078f9419961640c712a8bf2bb9174933dfcf1da383fd8ea2b7dc21493f8bac:v1.11.5",
        );
    });
});
