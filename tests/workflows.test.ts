// The CI workflows are code too: the real actionlint (with shellcheck for their shell steps)
// checks every file under .github/workflows, and must catch a broken one.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { root } from "./stackfiles";

const workflows = path.join(root, ".github/workflows");

function actionlint(...files: string[]): { status: number; out: string } {
    const r = spawnSync("actionlint", ["-no-color", ...files], { cwd: root, encoding: "utf8" });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("CI workflows @tools", () => {
    const files = fs
        .readdirSync(workflows)
        .filter(f => /\.ya?ml$/.test(f))
        .map(f => path.join(workflows, f));

    it("pass actionlint, shell steps included", () => {
        assert.ok(files.length >= 3, "the pull-request, comment and drift workflows exist");
        const r = actionlint(...files);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("the linter is real: a broken expression and a shell bug in a copy are both reported", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "workflows-"));
        try {
            const broken = path.join(dir, "pr.yml");
            const text = fs
                .readFileSync(path.join(workflows, "pr.yml"), "utf8")
                .replace("${{ matrix.stack }}", "${{ matrix.stak }}")
                .replace("mkdir -p plan", "mkdir -p plan; cd $UNQUOTED_DIR");
            fs.writeFileSync(broken, text);
            const r = actionlint(broken);
            assert.strictEqual(r.status, 1, r.out);
            assert.match(r.out, /property "stak" is not defined/);
            assert.match(r.out, /shellcheck reported issue/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("preview every stack the repository has: one Pulumi.<stack>.yaml is one environment", () => {
        const pr = fs.readFileSync(path.join(workflows, "pr.yml"), "utf8");
        assert.match(pr, /for f in Pulumi\.\*\.yaml/);
        assert.match(pr, /npm run --silent preview -- "\$STACK"/, "the secret-less preview for forks and bots");
        assert.match(pr, /bash \.ci\/run/, "the same test entry as CI");
    });
});
