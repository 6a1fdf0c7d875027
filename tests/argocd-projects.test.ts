// ArgoCD's AppProject rules (components/platform/argocd-projects.ts) against the unit tests of the
// code they follow — argo-cd v3.2.0 and gobwas/glob v0.2.3, transcribed case by case — and then our
// own projects: a workload Application must reach none of the platform's namespaces.
import * as assert from "assert";
import fc from "fast-check";
import {
    AppProjectSpec,
    Destination,
    GlobPanic,
    ProjectCluster,
    appProjectSpecFrom,
    destinationPermitted,
    filepathMatch,
    globLibraryMatch,
    globMatch,
    globMatchWithError,
    isDenyPattern,
    isSSHURL,
    normalizeGitURL,
    objectPermitted,
    resourcePermitted,
    sourcePermitted,
} from "../components/platform/argocd-projects";
import * as v from "../components/platform/values";

const KUBERNETES = "https://kubernetes.default.svc";
/** The in-cluster destination as ArgoCD resolves it: server URL and cluster name together. */
const inCluster: ProjectCluster = { server: KUBERNETES, name: "in-cluster" };
const at = (namespace: string, cluster: ProjectCluster = inCluster): Destination => ({ ...cluster, namespace });

describe("gobwas/glob v0.2.3, the library behind ArgoCD's util/glob", () => {
    // glob_test.go TestGlob: [should match, pattern, text, separators].
    const allPattern = "[a-z][!a-x]*cat*[h][!b]*eyes*";
    const alternatives = "{https://*.google.*,*yandex.*,*yahoo.*,*mail.ru}";
    const alternativesSuffix = "{https://*gobwas.com,http://exclude.gobwas.com}";
    const cases: readonly [boolean, string, string, string[]?][] = [
        [true, "* ?at * eyes", "my cat has very bright eyes"],
        [true, "", ""],
        [false, "", "b"],
        [true, "*ä", "åä"],
        [true, "abc", "abc"],
        [true, "a*c", "abc"],
        [true, "a*c", "a12345c"],
        [true, "a?c", "a1c"],
        [true, "a.b", "a.b", ["."]],
        [true, "a.*", "a.b", ["."]],
        [true, "a.**", "a.b.c", ["."]],
        [true, "a.?.c", "a.b.c", ["."]],
        [true, "a.?.?", "a.b.c", ["."]],
        [true, "?at", "cat"],
        [true, "?at", "fat"],
        [true, "*", "abc"],
        [true, "\\*", "*"],
        [true, "**", "a.b.c", ["."]],
        [false, "?at", "at"],
        [false, "?at", "fat", ["f"]],
        [false, "a.*", "a.b.c", ["."]],
        [false, "a.?.c", "a.bb.c", ["."]],
        [false, "*", "a.b.c", ["."]],
        [true, "*test", "this is a test"],
        [true, "this*", "this is a test"],
        [true, "*is *", "this is a test"],
        [true, "*is*a*", "this is a test"],
        [true, "**test**", "this is a test"],
        [true, "**is**a***test*", "this is a test"],
        [false, "*is", "this is a test"],
        [false, "*no*", "this is a test"],
        [true, "[!a]*", "this is a test3"],
        [true, "*abc", "abcabc"],
        [true, "**abc", "abcabc"],
        [true, "???", "abc"],
        [true, "?*?", "abc"],
        [true, "?*?", "ac"],
        [false, "sta", "stagnation"],
        [true, "sta*", "stagnation"],
        [false, "sta?", "stagnation"],
        [false, "sta?n", "stagnation"],
        [true, "{abc,def}ghi", "defghi"],
        [true, "{abc,abcd}a", "abcda"],
        [true, "{a,ab}{bc,f}", "abc"],
        [true, "{*,**}{a,b}", "ab"],
        [false, "{*,**}{a,b}", "ac"],
        [true, "/{rate,[a-z][a-z][a-z]}*", "/rate"],
        [true, "/{rate,[0-9][0-9][0-9]}*", "/rate"],
        [true, "/{rate,[a-z][a-z][a-z]}*", "/usd"],
        [true, "{*.google.*,*.yandex.*}", "www.google.com", ["."]],
        [true, "{*.google.*,*.yandex.*}", "www.yandex.com", ["."]],
        [false, "{*.google.*,*.yandex.*}", "yandex.com", ["."]],
        [false, "{*.google.*,*.yandex.*}", "google.com", ["."]],
        [true, "{*.google.*,yandex.*}", "www.google.com", ["."]],
        [true, "{*.google.*,yandex.*}", "yandex.com", ["."]],
        [false, "{*.google.*,yandex.*}", "www.yandex.com", ["."]],
        [false, "{*.google.*,yandex.*}", "google.com", ["."]],
        [true, allPattern, "my cat has very bright eyes"],
        [false, allPattern, "my dog has very bright eyes"],
        [true, "google.com", "google.com"],
        [false, "google.com", "gobwas.com"],
        [true, "https://*.google.*", "https://account.google.com"],
        [false, "https://*.google.*", "https://google.com"],
        [true, alternatives, "http://yahoo.com"],
        [false, alternatives, "http://google.com"],
        [true, alternativesSuffix, "https://safe.gobwas.com"],
        [false, alternativesSuffix, "http://safe.gobwas.com"],
        [true, alternativesSuffix, "http://exclude.gobwas.com"],
        [true, "{abc*[a-c]def,abc?[d-g]def,abc[zte]?def}", "abczqdef"],
        [true, "{abc*def,abc?def,abc[zte]def}", "abczdef"],
        [true, "abc*", "abcdef"],
        [false, "abc*", "af"],
        [true, "*def", "abcdef"],
        [false, "*def", "af"],
        [true, "ab*ef", "abcdef"],
        [false, "ab*ef", "af"],
    ];
    for (const [should, pattern, text, separators] of cases) {
        it(`TestGlob: ${JSON.stringify(pattern)} ${should ? "matches" : "does not match"} ${JSON.stringify(text)}${separators ? ` (separators ${separators.join("")})` : ""}`, () => {
            assert.deepStrictEqual(globMatchWithError(pattern, text, separators), { matched: should });
        });
    }

    // Behaviour of the library's compiled matchers that an idealised glob would not have; each
    // answer here is what the Go library itself returns.
    it("keeps the library's quirks: the empty text, overlapping prefix and suffix, glued classes", () => {
        assert.strictEqual(globLibraryMatch("?", ""), true, "a lone ? reads the empty text as one (invalid) rune");
        assert.strictEqual(globLibraryMatch("[!a]", ""), true);
        assert.strictEqual(globLibraryMatch("**{,}", ""), false, "a tree-shaped matcher never matches the empty text");
        assert.strictEqual(globLibraryMatch("a*a", "a"), true, "prefix and suffix may overlap");
        assert.strictEqual(globLibraryMatch("[!ab][!ab]", "aa"), true, "glued negated classes refuse only the substring ab");
        assert.strictEqual(globLibraryMatch("[!ab][!ab]", "ab"), false);
        assert.strictEqual(globLibraryMatch("*a?", "xaé"), false, "a rune count used as a byte offset");
        assert.throws(() => globLibraryMatch("{}{}", ""), GlobPanic, "the library panics (index out of range)");
    });

    it("parses as the library does: unclosed braces, literal } and ], escapes, and its compile errors", () => {
        assert.deepStrictEqual(globMatchWithError("{a,b", "b"), { matched: true });
        assert.deepStrictEqual(globMatchWithError("a}]", "a}]"), { matched: true });
        assert.deepStrictEqual(globMatchWithError("\\{\\*\\}", "{*}"), { matched: true });
        assert.deepStrictEqual(globMatchWithError("[\\]]", "]"), { matched: true });
        assert.deepStrictEqual(globMatchWithError("[a", "a"), { matched: false, error: "unexpected end of input" });
        assert.deepStrictEqual(globMatchWithError("[a-c-e]", "b"), { matched: false, error: "expected close range character" });
        assert.deepStrictEqual(globMatchWithError("[]", ""), { matched: false, error: "could not parse range" });
        assert.deepStrictEqual(globMatchWithError("[z-a]", "b"), { matched: false, error: "hi character 'a' should be greater than lo 'z'" });
    });

    it("without separators * crosses / and . (ArgoCD's destinations); with / it stops there and ** does not", () => {
        assert.strictEqual(globLibraryMatch("*", "a/b.c"), true);
        assert.strictEqual(globLibraryMatch("team-*", "team-a/b"), true);
        assert.strictEqual(globLibraryMatch("https://github.com/*", "https://github.com/org/repo", ["/"]), false);
        assert.strictEqual(globLibraryMatch("https://github.com/**", "https://github.com/org/repo", ["/"]), true);
    });
});

describe("util/glob Match and MatchWithError (glob_test.go Test_Match, Test_MatchWithError)", () => {
    const cases: readonly [string, string, string, boolean][] = [
        ["Exact match", "hello", "hello", true],
        ["Non-match exact", "hello", "hell", false],
        ["Long glob match", "hello", "hell*", true],
        ["Short glob match", "hello", "h*", true],
        ["Glob non-match", "hello", "e*", false],
        ["Invalid pattern", "e[[a*", "e[[a*", false],
    ];
    for (const [name, input, pattern, result] of cases) {
        it(name, () => {
            assert.strictEqual(globLibraryMatch(pattern, input), result);
            const withError = globMatchWithError(pattern, input);
            assert.strictEqual(withError.matched, result);
            if (name === "Invalid pattern") assert.match(withError.error ?? "", /unexpected end of input/);
            else assert.strictEqual(withError.error, undefined);
        });
    }
});

describe("globMatch and isDenyPattern (app_project_types.go)", () => {
    it("a deny pattern holds for every value but the ones it names", () => {
        assert.strictEqual(isDenyPattern("!kube-system"), true);
        assert.strictEqual(isDenyPattern("kube-system"), false);
        assert.strictEqual(globMatch("!kube-system", "apps", true), true);
        assert.strictEqual(globMatch("!kube-system", "kube-system", true), false);
        assert.strictEqual(globMatch("!{kube-system,argocd}", "argocd", true), false);
        assert.strictEqual(globMatch("!kube-*", "kube-public", true), false);
    });

    it("without allowNegation ! is an ordinary character", () => {
        assert.strictEqual(globMatch("!kube-system", "apps", false), false);
        assert.strictEqual(globMatch("!kube-system", "!kube-system", false), true);
    });

    it("a bare * holds for anything, separators or not; a denied pattern that does not compile denies nothing", () => {
        assert.strictEqual(globMatch("*", "a/b", true, ["/"]), true);
        assert.strictEqual(globLibraryMatch("*", "a/b", ["/"]), false);
        assert.strictEqual(globMatch("![kube-system", "kube-system", true), true);
    });
});

describe("NormalizeGitURL and IsSSHURL (util/git/git_test.go)", () => {
    // TestSameURL, through SameURL: NormalizeGitURLAllowInvalid on both sides, equal and not empty.
    const sameURL: readonly [string, string][] = [
        ["git@GITHUB.com:argoproj/test", "git@github.com:argoproj/test.git"],
        ["git@GITHUB.com:argoproj/test.git", "git@github.com:argoproj/test.git"],
        ["git@GITHUB.com:test", "git@github.com:test.git"],
        ["git@GITHUB.com:test.git", "git@github.com:test.git"],
        ["https://GITHUB.com/argoproj/test", "https://github.com/argoproj/test.git"],
        ["https://GITHUB.com/argoproj/test.git", "https://github.com/argoproj/test.git"],
        ["https://github.com/FOO", "https://github.com/foo"],
        ["https://github.com/TEST", "https://github.com/TEST.git"],
        ["https://github.com/TEST.git", "https://github.com/TEST.git"],
        ["https://github.com:4443/TEST", "https://github.com:4443/TEST.git"],
        ["https://github.com:4443/TEST.git", "https://github.com:4443/TEST"],
        ["ssh://git@GITHUB.com/argoproj/test", "git@github.com:argoproj/test.git"],
        ["ssh://git@GITHUB.com/argoproj/test.git", "git@github.com:argoproj/test.git"],
        ["ssh://git@GITHUB.com/test.git", "git@github.com:test.git"],
        ["ssh://git@github.com/test", "git@github.com:test.git"],
        [" https://github.com/argoproj/test ", "https://github.com/argoproj/test.git"],
        ["\thttps://github.com/argoproj/test\n", "https://github.com/argoproj/test.git"],
        ["https://1234.visualstudio.com/myproj/_git/myrepo", "https://1234.visualstudio.com/myproj/_git/myrepo"],
        ["https://dev.azure.com/1234/myproj/_git/myrepo", "https://dev.azure.com/1234/myproj/_git/myrepo"],
    ];
    const allowInvalid = (url: string): string => normalizeGitURL(url) || url;
    for (const [left, right] of sameURL) {
        it(`TestSameURL: ${JSON.stringify(left)} is ${JSON.stringify(right)}`, () => {
            assert.notStrictEqual(allowInvalid(left), "");
            assert.strictEqual(allowInvalid(left), allowInvalid(right));
        });
    }

    it("TestIsSSHURL and TestIsSSHURLUserName", () => {
        const ssh: Record<string, boolean> = {
            "git://github.com/argoproj/test.git": false,
            "git@GITHUB.com:argoproj/test.git": true,
            "git@github.com:test": true,
            "git@github.com:test.git": true,
            "https://github.com/argoproj/test": false,
            "https://github.com/argoproj/test.git": false,
            "ssh://git@GITHUB.com:argoproj/test": true,
            "ssh://git@GITHUB.com:argoproj/test.git": true,
            "ssh://git@github.com:test.git": true,
        };
        for (const [url, want] of Object.entries(ssh)) assert.strictEqual(isSSHURL(url).ssh, want, url);
        const users: readonly [string, string][] = [
            ["ssh://john@john-server.org:29418/project", "john"],
            ["john@john-server.org:29418/project", "john"],
            ["john@doe.org@john-server.org:29418/project", "john@doe.org"],
            ["ssh://john@doe.org@john-server.org:29418/project", "john@doe.org"],
            ["john@doe.org@john-server.org:project", "john@doe.org"],
        ];
        for (const [url, user] of users) assert.deepStrictEqual(isSSHURL(url), { ssh: true, user }, url);
    });

    it("re-prints through Go's net/url: globs kept, .git and case dropped, scp-style made a path, refusals empty", () => {
        assert.strictEqual(normalizeGitURL("https://GitHub.com/Org/Repo.git"), "https://github.com/org/repo");
        assert.strictEqual(normalizeGitURL("https://github.com/argoproj/*"), "https://github.com/argoproj/*");
        assert.strictEqual(normalizeGitURL("git@github.com:org/repo.git"), "git@github.com/org/repo");
        assert.strictEqual(normalizeGitURL("https://github.com/é"), "https://github.com/%C3%A9");
        assert.strictEqual(normalizeGitURL("ssh://git@GITHUB.com:argoproj/test"), "", "`:argoproj` is an invalid port");
        assert.strictEqual(normalizeGitURL("https://github.com/a%zz"), "", "an invalid escape");
    });
});

describe("IsSourcePermitted (types_test.go)", () => {
    const check = (cases: readonly [string[], string, boolean][]) => {
        for (const [sourceRepos, appSource, permitted] of cases) {
            assert.strictEqual(sourcePermitted({ sourceRepos }, appSource), permitted, `${JSON.stringify(sourceRepos)} ${appSource}`);
        }
    };

    it("TestAppProject_IsSourcePermitted", () => {
        check([
            [["*"], "https://github.com/argoproj/test.git", true],
            [["https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", true],
            [["ssh://git@GITHUB.com:argoproj/test"], "ssh://git@github.com:argoproj/test", true],
            [["https://github.com/argoproj/*"], "https://github.com/argoproj/argoproj.git", true],
            [["https://github.com/test1/test.git", "https://github.com/test2/test.git"], "https://github.com/test2/test.git", true],
            [["https://github.com/argoproj/test1.git"], "https://github.com/argoproj/test2.git", false],
            [["https://github.com/argoproj/*.git"], "https://github.com/argoproj1/test2.git", false],
            [["https://github.com/argoproj/foo"], "https://github.com/argoproj/foo1", false],
            [["https://gitlab.com/group/*"], "https://gitlab.com/group/repo/owner", false],
            [["https://gitlab.com/group/*/*"], "https://gitlab.com/group/repo/owner", true],
            [["https://gitlab.com/group/*/*/*"], "https://gitlab.com/group/sub-group/repo/owner", true],
            [["https://gitlab.com/group/**"], "https://gitlab.com/group/sub-group/repo/owner", true],
        ]);
    });

    it("TestAppProject_IsNegatedSourcePermitted", () => {
        check([
            [["!https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", false],
            [["!ssh://git@GITHUB.com:argoproj/test"], "ssh://git@github.com:argoproj/test", false],
            [["!https://github.com/argoproj/*"], "https://github.com/argoproj/argoproj.git", false],
            [["https://github.com/test1/test.git", "!https://github.com/test2/test.git"], "https://github.com/test2/test.git", false],
            [["!https://github.com/argoproj/foo*"], "https://github.com/argoproj/foo1", false],
            [["!https://gitlab.com/group/*/*"], "https://gitlab.com/group/repo/owner", false],
            [["!https://gitlab.com/group/*/*/*"], "https://gitlab.com/group/sub-group/repo/owner", false],
            [["!https://gitlab.com/group/**"], "https://gitlab.com/group/sub-group/repo/owner", false],
            [["*"], "https://github.com/argoproj/test.git", true],
            [["https://github.com/argoproj/test1.git", "*"], "https://github.com/argoproj/test2.git", true],
            [["!https://github.com/argoproj/*.git", "*"], "https://github.com/argoproj1/test2.git", true],
        ]);
    });

    it("a list of deny entries alone permits every other repository; no entries permit none", () => {
        assert.strictEqual(sourcePermitted({ sourceRepos: ["!https://github.com/evil/*"] }, "https://github.com/good/repo"), true);
        assert.strictEqual(sourcePermitted({ sourceRepos: [] }, "https://github.com/good/repo"), false);
        assert.strictEqual(sourcePermitted({}, "https://github.com/good/repo"), false);
    });
});

describe("IsDestinationPermitted (types_test.go)", () => {
    type Case = readonly [projDest: AppProjectSpec["destinations"], appDest: Destination, permitted: boolean];
    // Upstream builds the destination cluster from the app destination's server and name.
    const check = (cases: readonly Case[], extra: Partial<AppProjectSpec> = {}, clusters: ProjectCluster[] = []) => {
        for (const [destinations, appDest, permitted] of cases) {
            assert.strictEqual(
                destinationPermitted({ destinations, ...extra }, appDest, clusters),
                permitted,
                JSON.stringify({ destinations, appDest }),
            );
        }
    };

    it("TestAppProject_IsDestinationPermitted", () => {
        check([
            [[{ server: KUBERNETES, namespace: "default" }], { server: KUBERNETES, namespace: "default" }, true],
            [[{ server: KUBERNETES, namespace: "default" }], { server: KUBERNETES, namespace: "kube-system" }, false],
            [[{ server: "https://my-cluster", namespace: "default" }], { server: KUBERNETES, namespace: "default" }, false],
            [[{ server: KUBERNETES, namespace: "*" }], { server: KUBERNETES, namespace: "kube-system" }, true],
            [[{ server: "https://*.default.svc", namespace: "default" }], { server: KUBERNETES, namespace: "default" }, true],
            [[{ server: "https://team1-*", namespace: "default" }], { server: "https://test2-dev-cluster", namespace: "default" }, false],
            [[{ server: KUBERNETES, namespace: "test-*" }], { server: KUBERNETES, namespace: "test-foo" }, true],
            [[{ server: KUBERNETES, namespace: "test-*" }], { server: KUBERNETES, namespace: "test" }, false],
            [[{ server: "*", namespace: "*" }], { server: KUBERNETES, namespace: "test" }, true],
            [[{ server: "", namespace: "*", name: "test" }], { name: "test", namespace: "test" }, true],
            [[{ server: "", namespace: "*", name: "test2" }], { name: "test", namespace: "test" }, false],
            [
                [
                    { name: "host-cluster", server: KUBERNETES, namespace: "!{kube-system,argocd}" },
                    { name: "destination-cluster-01", server: "https://eks-cluster-endpoint.ap-southeast-1.eks.amazonaws.com", namespace: "*" },
                ],
                { server: "https://eks-cluster-endpoint.ap-southeast-1.eks.amazonaws.com", namespace: "kube-system" },
                true,
            ],
        ]);
    });

    it("TestAppProject_IsNegatedDestinationPermitted", () => {
        const wildcardsAndDenials = [
            { server: "*", namespace: "*" },
            { server: `!${KUBERNETES}`, namespace: "kube-system" },
            { server: "*", namespace: "!kube-system" },
        ];
        check([
            [[{ server: `!${KUBERNETES}`, namespace: "default" }], { server: KUBERNETES, namespace: "default" }, false],
            [[{ server: KUBERNETES, namespace: "!default" }], { server: KUBERNETES, namespace: "kube-system" }, true],
            [[{ server: "!https://my-cluster", namespace: "default" }], { server: KUBERNETES, namespace: "default" }, true],
            [[{ server: `!${KUBERNETES}`, namespace: "*" }], { server: KUBERNETES, namespace: "kube-system" }, false],
            [[{ server: "!https://*.default.svc", namespace: "default" }], { server: KUBERNETES, namespace: "default" }, false],
            [[{ server: "!https://team1-*", namespace: "default" }], { server: "https://test2-dev-cluster", namespace: "default" }, true],
            [[{ server: KUBERNETES, namespace: "!test-*" }], { server: KUBERNETES, namespace: "test-foo" }, false],
            [[{ server: KUBERNETES, namespace: "!test-*" }], { server: KUBERNETES, namespace: "test" }, true],
            [[{ server: "", namespace: "*", name: "!test" }], { name: "test", namespace: "test" }, false],
            [[{ server: "", namespace: "*", name: "!test2" }], { name: "test", namespace: "test" }, true],
            [
                [
                    { server: "*", namespace: "kube-system" },
                    { server: "*", namespace: "!kube-system" },
                ],
                { server: KUBERNETES, namespace: "kube-system" },
                false,
            ],
            [
                [
                    { server: "*", namespace: "*" },
                    { server: "*", namespace: "!kube-system" },
                ],
                { server: KUBERNETES, namespace: "kube-system" },
                false,
            ],
            [
                [
                    { server: KUBERNETES, namespace: "*" },
                    { server: `!${KUBERNETES}`, namespace: "*" },
                ],
                { server: KUBERNETES, namespace: "kube-system" },
                false,
            ],
            [
                [
                    { server: "*", namespace: "*" },
                    { server: `!${KUBERNETES}`, namespace: "kube-system" },
                ],
                { server: KUBERNETES, namespace: "kube-system" },
                false,
            ],
            [wildcardsAndDenials, { server: KUBERNETES, namespace: "kube-system" }, false],
            [wildcardsAndDenials, { server: KUBERNETES, namespace: "default" }, true],
            [wildcardsAndDenials, { server: "https://test-dev-cluster", namespace: "kube-system" }, false],
            [
                [
                    { server: "", namespace: "*", name: "test" },
                    { server: "", namespace: "*", name: "!test" },
                ],
                { name: "test", namespace: "test" },
                false,
            ],
            [
                [
                    { server: "*", namespace: "test" },
                    { server: "!https://test-server", namespace: "other" },
                ],
                { server: "https://test-server", namespace: "test" },
                true,
            ],
            [
                [
                    { server: "*", namespace: "*" },
                    { server: "https://test-server", namespace: "!other" },
                ],
                { server: "https://other-test-server", namespace: "other" },
                true,
            ],
        ]);
    });

    it("TestAppProject_IsDestinationPermitted_PermitOnlyProjectScopedClusters", () => {
        const scoped = { permitOnlyProjectScopedClusters: true };
        check(
            [[[{ server: "https://team1-*", namespace: "default" }], { server: "https://team1-something.com", namespace: "default" }, false]],
            scoped,
            [],
        );
        check(
            [
                [
                    [{ server: "https://my-cluster.123.com", namespace: "default" }],
                    { server: "https://my-cluster.123.com", namespace: "default" },
                    true,
                ],
            ],
            scoped,
            [{ server: "https://my-cluster.123.com" }],
        );
        check(
            [
                [
                    [{ server: "https://my-cluster.123.com", namespace: "default" }],
                    { server: "https://some-other-cluster.example.com", namespace: "default" },
                    false,
                ],
            ],
            scoped,
            [{ server: "https://my-cluster.123.com" }],
        );
        check([[[{ name: "some-server", namespace: "default" }], { name: "some-server", namespace: "default" }, false]], scoped, []);
        check([[[{ name: "some-other-server", namespace: "default" }], { name: "some-other-server", namespace: "default" }, true]], scoped, [
            { name: "some-other-server" },
        ]);
        check([[[{ name: "some-server", namespace: "default" }], { name: "some-other-server", namespace: "default" }, false]], scoped, [
            { name: "some-server" },
        ]);
    });
});

describe("IsGroupKindPermitted (types_test.go TestAppProject_IsGroupKindPermitted)", () => {
    it("namespaced kinds: an absent whitelist permits all, an empty one none; blacklists win", () => {
        const proj = { namespaceResourceWhitelist: [], namespaceResourceBlacklist: [{ group: "apps", kind: "Deployment" }] };
        assert.strictEqual(resourcePermitted(proj, "apps", "ReplicaSet", true), false);
        assert.strictEqual(resourcePermitted(proj, "apps", "Deployment", true), false);
        const proj2 = {
            namespaceResourceWhitelist: [{ group: "apps", kind: "ReplicaSet" }],
            namespaceResourceBlacklist: [{ group: "apps", kind: "Deployment" }],
        };
        assert.strictEqual(resourcePermitted(proj2, "apps", "ReplicaSet", true), true);
        assert.strictEqual(resourcePermitted(proj2, "apps", "Action", true), false);
    });

    it("cluster-scoped kinds: only what the cluster whitelist lists, less its blacklist", () => {
        assert.strictEqual(resourcePermitted({ clusterResourceBlacklist: [{ group: "", kind: "Namespace" }] }, "", "Namespace", false), false);
        const proj4 = { clusterResourceWhitelist: [{ group: "*", kind: "*" }], clusterResourceBlacklist: [{ group: "*", kind: "*" }] };
        assert.strictEqual(resourcePermitted(proj4, "", "Namespace", false), false);
        assert.strictEqual(resourcePermitted(proj4, "apps", "Action", true), true);
        const proj5 = { clusterResourceWhitelist: [], namespaceResourceWhitelist: [{ group: "*", kind: "*" }] };
        assert.strictEqual(resourcePermitted(proj5, "", "Namespace", false), false);
        assert.strictEqual(resourcePermitted(proj5, "apps", "Action", true), true);
        assert.strictEqual(resourcePermitted({}, "", "Namespace", false), false);
        assert.strictEqual(resourcePermitted({}, "apps", "Action", true), true);
    });

    it("matches group and kind with Go's path.Match: * stops at /, classes use ^, bad patterns match nothing", () => {
        assert.deepStrictEqual(filepathMatch("*", "apps"), { matched: true });
        assert.deepStrictEqual(filepathMatch("*.k8s.io", "rbac.authorization.k8s.io"), { matched: true });
        assert.deepStrictEqual(filepathMatch("*", "a/b"), { matched: false });
        assert.deepStrictEqual(filepathMatch("[^C]*", "Secret"), { matched: true });
        assert.deepStrictEqual(filepathMatch("[", "["), { matched: false, error: "syntax error in pattern" });
        assert.deepStrictEqual(filepathMatch("*[x/]*b", "ax/b"), { matched: false }, "each * settles on the leftmost fit, as in Go");
        assert.strictEqual(resourcePermitted({ namespaceResourceWhitelist: [{ group: "[", kind: "*" }] }, "[", "Secret", true), false);
    });
});

describe("our AppProjects (components/platform/values.ts)", () => {
    const repoURL = "https://github.com/example/homelab-gitops.git";
    const workloads = appProjectSpecFrom(v.workloadsProjectSpec(repoURL));
    const appsOfApps = appProjectSpecFrom(v.appsOfAppsProjectSpec(repoURL));
    const platform = [...Object.values(v.platformNamespaces), "kube-system"];
    const namespaceName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/);
    const namespacedKinds: readonly [string, string][] = [
        ["", "Secret"],
        ["", "ConfigMap"],
        ["", "ServiceAccount"],
        ["apps", "Deployment"],
        ["rbac.authorization.k8s.io", "Role"],
        ["rbac.authorization.k8s.io", "RoleBinding"],
        ["argoproj.io", "AppProject"],
        ["argoproj.io", "ApplicationSet"],
    ];
    const clusterKinds: readonly [string, string][] = [
        ["rbac.authorization.k8s.io", "ClusterRole"],
        ["rbac.authorization.k8s.io", "ClusterRoleBinding"],
        ["apiextensions.k8s.io", "CustomResourceDefinition"],
        ["admissionregistration.k8s.io", "ValidatingWebhookConfiguration"],
        ["admissionregistration.k8s.io", "MutatingWebhookConfiguration"],
        ["storage.k8s.io", "StorageClass"],
        ["", "PersistentVolume"],
        ["", "Node"],
    ];

    describe("workloads", () => {
        it("permits a workload namespace such as apps on the in-cluster server, by server or with its name", () => {
            assert.strictEqual(destinationPermitted(workloads, at("apps")), true);
            assert.strictEqual(destinationPermitted(workloads, { server: KUBERNETES, namespace: "apps" }), true);
        });

        it("refuses every platform namespace and kube-system", () => {
            assert.ok(platform.includes("argocd") && platform.includes("kube-system"));
            for (const ns of platform) {
                assert.strictEqual(destinationPermitted(workloads, at(ns)), false, ns);
                assert.strictEqual(destinationPermitted(workloads, { server: KUBERNETES, namespace: ns }), false, ns);
            }
        });

        it("refuses them wherever the `*` entry sits: a matching deny entry refuses at once", () => {
            const entries = workloads.destinations ?? [];
            for (const destinations of [[...entries].reverse(), [entries[entries.length - 1], ...entries.slice(0, -1)]]) {
                for (const ns of platform) assert.strictEqual(destinationPermitted({ ...workloads, destinations }, at(ns)), false, ns);
                assert.strictEqual(destinationPermitted({ ...workloads, destinations }, at("apps")), true);
            }
        });

        it("permits any other namespace name and refuses the platform's, for any name", () => {
            fc.assert(
                fc.property(namespaceName, ns => {
                    assert.strictEqual(destinationPermitted(workloads, at(ns)), !platform.includes(ns));
                }),
            );
        });

        it("refuses any other cluster", () => {
            assert.strictEqual(destinationPermitted(workloads, at("apps", { server: "https://192.168.1.10:6443", name: "elsewhere" })), false);
            assert.strictEqual(destinationPermitted(workloads, at("apps", { name: "in-cluster" })), false, "a destination ArgoCD could not resolve");
        });

        it("refuses a namespaced object in a platform namespace, whatever the Application's own destination", () => {
            for (const ns of platform) {
                for (const [group, kind] of namespacedKinds) {
                    assert.strictEqual(objectPermitted(workloads, inCluster, { group, kind, namespace: ns }), false, `${kind} in ${ns}`);
                    assert.strictEqual(objectPermitted(workloads, inCluster, { group, kind, namespace: "apps" }), true, `${kind} in apps`);
                }
            }
        });

        it("takes only the GitOps repository, however its URL is spelled", () => {
            for (const url of [repoURL, "https://GitHub.com/example/homelab-gitops", ` ${repoURL} `])
                assert.strictEqual(sourcePermitted(workloads, url), true, url);
            for (const url of [
                "https://github.com/example/other.git",
                "https://github.com/evil/homelab-gitops.git",
                "https://gitlab.com/example/homelab-gitops.git",
            ]) {
                assert.strictEqual(sourcePermitted(workloads, url), false, url);
            }
        });

        it("permits every namespaced kind and no cluster-scoped kind, Namespace included", () => {
            for (const [group, kind] of namespacedKinds) assert.strictEqual(resourcePermitted(workloads, group, kind, true), true, kind);
            for (const [group, kind] of [...clusterKinds, ["", "Namespace"] as const])
                assert.strictEqual(resourcePermitted(workloads, group, kind, false), false, kind);
            assert.strictEqual(objectPermitted(workloads, inCluster, { group: "", kind: "Namespace", namespace: "" }), false);
        });
    });

    describe("apps-of-apps", () => {
        it("permits Applications in the argocd namespace only", () => {
            assert.strictEqual(objectPermitted(appsOfApps, inCluster, { group: "argoproj.io", kind: "Application", namespace: "argocd" }), true);
            for (const ns of ["apps", "default", "kube-system", "monitoring"]) {
                assert.strictEqual(objectPermitted(appsOfApps, inCluster, { group: "argoproj.io", kind: "Application", namespace: ns }), false, ns);
                assert.strictEqual(destinationPermitted(appsOfApps, at(ns)), false, ns);
            }
        });

        it("permits no other kind, namespaced or cluster-scoped", () => {
            for (const [group, kind] of namespacedKinds)
                assert.strictEqual(objectPermitted(appsOfApps, inCluster, { group, kind, namespace: "argocd" }), false, kind);
            assert.strictEqual(resourcePermitted(appsOfApps, "", "Application", true), false, "the right kind in another group");
            for (const [group, kind] of [...clusterKinds, ["", "Namespace"] as const])
                assert.strictEqual(resourcePermitted(appsOfApps, group, kind, false), false, kind);
        });

        it("takes only the GitOps repository", () => {
            assert.strictEqual(sourcePermitted(appsOfApps, repoURL), true);
            assert.strictEqual(sourcePermitted(appsOfApps, "https://github.com/example/other.git"), false);
        });
    });

    describe("the locked default project", () => {
        const locked: readonly [string, AppProjectSpec][] = [
            ["as specified", { sourceRepos: [], destinations: [], clusterResourceWhitelist: [], namespaceResourceWhitelist: [] }],
            ["lockedDefaultProjectSpec()", appProjectSpecFrom(v.lockedDefaultProjectSpec())],
        ];
        for (const [name, spec] of locked) {
            it(`permits nothing (${name})`, () => {
                for (const ns of ["apps", "default", ...platform]) assert.strictEqual(destinationPermitted(spec, at(ns)), false, ns);
                for (const url of [repoURL, "*", "https://github.com/argoproj/argo-cd"]) assert.strictEqual(sourcePermitted(spec, url), false, url);
                for (const [group, kind] of namespacedKinds) assert.strictEqual(resourcePermitted(spec, group, kind, true), false, kind);
                for (const [group, kind] of [...clusterKinds, ["", "Namespace"] as const])
                    assert.strictEqual(resourcePermitted(spec, group, kind, false), false, kind);
                assert.strictEqual(objectPermitted(spec, inCluster, { group: "", kind: "ConfigMap", namespace: "apps" }), false);
            });
        }
    });

    it("a cluster-scoped object is judged by its kind alone: its name never meets the destinations", () => {
        const denyKubeSystem = {
            destinations: [{ server: "*", namespace: "!kube-system" }],
            clusterResourceWhitelist: [{ group: "", kind: "Namespace" }],
        };
        assert.strictEqual(destinationPermitted(denyKubeSystem, at("kube-system")), false);
        assert.strictEqual(
            objectPermitted(denyKubeSystem, inCluster, { group: "", kind: "Namespace", namespace: "" }),
            true,
            "a Namespace named kube-system too",
        );
    });
});

describe("appProjectSpecFrom", () => {
    it("keeps absent, null and empty lists apart and checks their shape", () => {
        const spec = appProjectSpecFrom({
            sourceRepos: ["a"],
            namespaceResourceWhitelist: [],
            clusterResourceWhitelist: null,
            description: "ignored",
        });
        assert.deepStrictEqual(spec.namespaceResourceWhitelist, []);
        assert.strictEqual(spec.clusterResourceWhitelist, null);
        assert.strictEqual(spec.namespaceResourceBlacklist, undefined);
        assert.throws(() => appProjectSpecFrom({ sourceRepos: "a" }), /sourceRepos is not a list/);
        assert.throws(() => appProjectSpecFrom({ destinations: [{ namespace: 1 }] }), /destinations\[0\]\.namespace is not a string/);
        assert.throws(
            () => appProjectSpecFrom({ clusterResourceWhitelist: [{ kind: "Namespace" }] }),
            /clusterResourceWhitelist\[0\]\.group is not a string/,
        );
    });
});
