// ArgoCD's AppProject rules as pure functions: which destinations, source repositories and
// resource kinds a project lets an Application use. They follow ArgoCD v3.2.0, the release the
// argo-cd chart 9.1.3 installs, so tests can prove what our projects allow without a cluster.
//
// Written from reading upstream, not copied from it:
// - github.com/argoproj/argo-cd@v3.2.0 pkg/apis/application/v1alpha1/app_project_types.go
//   (IsDestinationPermitted, isDestinationMatched, IsSourcePermitted, IsGroupKindPermitted,
//   IsResourcePermitted, globMatch, isDenyPattern) and types.go (isResourceInList);
// - util/glob/glob.go (Match, MatchWithError), a thin wrapper over github.com/gobwas/glob v0.2.3
//   (syntax/lexer/lexer.go, syntax/ast/parser.go, compiler/compiler.go, match/*.go);
// - util/git/git.go (NormalizeGitURL, IsSSHURL, ensurePrefix), which leans on Go 1.25.0's
//   net/url (Parse, URL.String; upstream's release image is built with golang:1.25.0);
// - Go's path/filepath.Match (Linux), which isResourceInList uses for group and kind.
//
// Where Go works on strings as UTF-8 bytes (glob matching, path.Match, URL escaping), so does
// this code, down to the quirks of the libraries: the answers are theirs, not an idealised glob.

/** A Kubernetes API group and kind, as AppProject resource white- and blacklists hold them. */
export interface GroupKind {
    readonly group: string;
    readonly kind: string;
}

/** One entry of an AppProject's `destinations`: globs, each optionally a deny pattern (`!…`). */
export interface ProjectDestination {
    readonly server?: string;
    readonly name?: string;
    readonly namespace?: string;
}

/**
 * The part of an AppProject's spec these rules read. A list that is absent (or `null`) is Go's
 * nil slice and is not the same as an empty list: `namespaceResourceWhitelist` absent permits
 * every namespaced kind, while `[]` permits none.
 */
export interface AppProjectSpec {
    readonly sourceRepos?: readonly string[] | null;
    readonly destinations?: readonly ProjectDestination[] | null;
    readonly clusterResourceWhitelist?: readonly GroupKind[] | null;
    readonly clusterResourceBlacklist?: readonly GroupKind[] | null;
    readonly namespaceResourceWhitelist?: readonly GroupKind[] | null;
    readonly namespaceResourceBlacklist?: readonly GroupKind[] | null;
    /** Namespaces Applications of this project may live in (not evaluated here). */
    readonly sourceNamespaces?: readonly string[] | null;
    /** Only clusters scoped to this project are permitted (see {@link destinationPermitted}). */
    readonly permitOnlyProjectScopedClusters?: boolean;
}

/**
 * Where an Application (or one of its namespaced objects) goes. ArgoCD resolves the
 * Application's destination to a registered cluster first and checks that cluster's server URL
 * and name together (the in-cluster one is `https://kubernetes.default.svc`, `in-cluster`), so
 * give both to judge as ArgoCD does; a missing one matches no project entry.
 */
export interface Destination {
    readonly server?: string;
    readonly name?: string;
    readonly namespace: string;
}

/** A cluster scoped to a project (its `project` field), for `permitOnlyProjectScopedClusters`. */
export interface ProjectCluster {
    readonly server?: string;
    readonly name?: string;
}

/** The outcome of matching with a glob that may not compile. */
export interface GlobResult {
    readonly matched: boolean;
    /** Why the pattern did not compile; `matched` is then false. */
    readonly error?: string;
}

const cps = (s: string): number[] => Array.from(s, c => c.codePointAt(0) ?? 0);
const code = (c: string): number => c.codePointAt(0) ?? 0;

const STAR = code("*");
const QUESTION = code("?");
const BACKSLASH = code("\\");
const LBRACKET = code("[");
const RBRACKET = code("]");
const LBRACE = code("{");
const RBRACE = code("}");
const COMMA = code(",");
const BANG = code("!");
const DASH = code("-");
const CARET = code("^");
const SLASH = code("/");

// ---------------------------------------------------------------------------------------------
// gobwas/glob v0.2.3: pattern syntax, compile errors and matching.

type GlobToken =
    | { readonly t: "eof" }
    | { readonly t: "error"; readonly message: string }
    | { readonly t: "text"; readonly chars: number[] }
    | { readonly t: "any" | "super" | "single" | "not" | "separator" | "rangeOpen" | "rangeClose" | "between" | "termsOpen" | "termsClose" }
    | { readonly t: "lo" | "hi"; readonly char: number };

// The lexer's decisions, as gobwas makes them: `{`, `,` and `}` are syntax only inside braces,
// `]` only inside a class; a class is `[` [`!`] (one `lo-hi` range | literal text) `]`; `\`
// escapes the next character in text; an unclosed class is an error, an unclosed brace is not.
// The library reads NUL as its end-of-input marker, which is kept.
function lexGlob(pattern: string): GlobToken[] {
    const input = cps(pattern);
    const tokens: GlobToken[] = [];
    let pos = 0;
    let width = 0;
    let braces = 0;
    const read = (): number => {
        width = pos < input.length ? 1 : 0;
        return pos < input.length ? input[pos++] : 0;
    };
    const unread = (): void => {
        pos -= width;
    };
    const text = (stops: readonly number[]): void => {
        const chars: number[] = [];
        let escaped = false;
        for (let c = read(); c !== 0; c = read()) {
            if (!escaped && c === BACKSLASH) {
                escaped = true;
                continue;
            }
            if (!escaped && stops.includes(c)) {
                unread();
                break;
            }
            escaped = false;
            chars.push(c);
        }
        if (chars.length > 0) tokens.push({ t: "text", chars });
    };
    // A class; on error the tokens of this class are dropped, as the library reports the error
    // where the parser asks for the class.
    const klass = (): string | undefined => {
        let wantHi = false;
        let wantClose = false;
        let seenNot = false;
        for (;;) {
            const c = read();
            if (c === 0) return "unexpected end of input";
            if (wantClose) {
                if (c !== RBRACKET) return "expected close range character";
                tokens.push({ t: "rangeClose" });
                return undefined;
            }
            if (wantHi) {
                tokens.push({ t: "hi", char: c });
                wantClose = true;
            } else if (!seenNot && c === BANG) {
                tokens.push({ t: "not" });
                seenNot = true;
            } else if (pos < input.length && input[pos] === DASH) {
                pos++;
                tokens.push({ t: "lo", char: c }, { t: "between" });
                wantHi = true;
            } else {
                unread();
                text([RBRACKET]);
                wantClose = true;
            }
        }
    };
    for (;;) {
        const c = read();
        if (c === 0) {
            tokens.push({ t: "eof" });
            return tokens;
        } else if (c === LBRACE) {
            braces++;
            tokens.push({ t: "termsOpen" });
        } else if (c === COMMA && braces > 0) {
            tokens.push({ t: "separator" });
        } else if (c === RBRACE && braces > 0) {
            tokens.push({ t: "termsClose" });
            braces--;
        } else if (c === LBRACKET) {
            const start = tokens.length;
            tokens.push({ t: "rangeOpen" });
            const message = klass();
            if (message !== undefined) {
                tokens.splice(start);
                tokens.push({ t: "error", message });
                return tokens;
            }
        } else if (c === QUESTION) {
            tokens.push({ t: "single" });
        } else if (c === STAR) {
            if (read() === STAR) {
                tokens.push({ t: "super" });
            } else {
                unread();
                tokens.push({ t: "any" });
            }
        } else {
            unread();
            text(braces > 0 ? [QUESTION, STAR, LBRACKET, LBRACE, RBRACE, COMMA] : [QUESTION, STAR, LBRACKET, LBRACE]);
        }
    }
}

// The syntax tree, shaped as the library's: a pattern holds a sequence of nodes, alternatives
// hold one pattern per option. `nothing` only appears once alternatives are factored.
type AstKind = "nothing" | "pattern" | "list" | "range" | "text" | "any" | "super" | "single" | "anyOf";

interface AstNode {
    readonly kind: AstKind;
    /** Text of a text node, characters of a list. */
    readonly text?: string;
    readonly lo?: number;
    readonly hi?: number;
    readonly not?: boolean;
    readonly children: AstNode[];
    parent?: AstNode;
}

const astNode = (kind: AstKind, fields: Partial<AstNode> = {}, children: AstNode[] = []): AstNode => {
    const node: AstNode = { kind, ...fields, children: [] };
    for (const child of children) {
        node.children.push(child);
        child.parent = node;
    }
    return node;
};

const sameAst = (a: AstNode, b: AstNode): boolean =>
    a.kind === b.kind &&
    a.text === b.text &&
    a.lo === b.lo &&
    a.hi === b.hi &&
    a.not === b.not &&
    a.children.length === b.children.length &&
    a.children.every((c, i) => sameAst(c, b.children[i]));

function parseGlob(tokens: readonly GlobToken[]): AstNode | string {
    const root = astNode("pattern");
    let current = root;
    const push = (node: AstNode): void => {
        current.children.push(node);
        node.parent = current;
    };
    for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i];
        switch (token.t) {
            case "eof":
                return root;
            case "error":
                return token.message;
            case "text":
                push(astNode("text", { text: String.fromCodePoint(...token.chars) }));
                break;
            case "any":
            case "super":
            case "single":
                push(astNode(token.t));
                break;
            case "rangeOpen": {
                let not = false;
                let lo = 0;
                let hi = 0;
                let chars = "";
                for (;;) {
                    const inner = tokens[++i];
                    if (inner === undefined || inner.t === "eof") return "unexpected end";
                    if (inner.t === "error") return inner.message;
                    if (inner.t === "not") not = true;
                    else if (inner.t === "lo") lo = inner.char;
                    else if (inner.t === "text") chars = String.fromCodePoint(...inner.chars);
                    else if (inner.t === "hi") {
                        hi = inner.char;
                        if (hi < lo) return `hi character '${String.fromCodePoint(hi)}' should be greater than lo '${String.fromCodePoint(lo)}'`;
                    } else if (inner.t === "rangeClose") break;
                }
                const isRange = lo !== 0 && hi !== 0;
                if (isRange === (chars !== "")) return "could not parse range";
                push(isRange ? astNode("range", { lo, hi, not }) : astNode("list", { text: chars, not }));
                break;
            }
            case "termsOpen": {
                const anyOf = astNode("anyOf");
                push(anyOf);
                current = astNode("pattern");
                anyOf.children.push(current);
                current.parent = anyOf;
                break;
            }
            case "separator": {
                const anyOf = current.parent;
                if (anyOf === undefined) return "unexpected token: separator";
                current = astNode("pattern");
                anyOf.children.push(current);
                current.parent = anyOf;
                break;
            }
            case "termsClose": {
                const outer = current.parent?.parent;
                if (outer === undefined) return "unexpected token: terms_close";
                current = outer;
                break;
            }
            default:
                return `unexpected token: ${token.t}`;
        }
    }
    return root;
}

// --- Matching, over UTF-8 bytes like Go strings. The library compiles the tree into matchers
// chosen by shape (prefix, suffix, fixed-length rows, a tree around the longest fixed piece…),
// and some of its choices are observable: a tree-shaped matcher never matches the empty string,
// a lone `?` or negated class does, `a*a` matches `a`, `[!ab][!ab]` matches `aa` (glued, the two
// classes only refuse the substring `ab`), and a few lengths are counted in runes but used as
// byte offsets. The same choices are made here so every answer is the library's.

/**
 * Thrown where gobwas/glob v0.2.3 itself panics with an index out of range (its match/row.go
 * `Row.matchAll` on a row of empty pieces, e.g. `{}{}` against `""`); ArgoCD has no answer there.
 */
export class GlobPanic extends Error {}

type Bytes = Uint8Array;
const RUNE_ERROR = 0xfffd;
const NO_LENGTH = -1;

function cut(s: Bytes, from: number, to: number = s.length): Bytes {
    if (from < 0 || to < from || to > s.length) throw new GlobPanic(`slice bounds out of range [${from}:${to}] with length ${s.length}`);
    return s.subarray(from, to);
}

// Go's utf8.DecodeRune: an invalid or truncated sequence is U+FFFD of width 1, nothing of width 0.
function decodeRune(s: Bytes, at: number): [rune: number, width: number] {
    if (at >= s.length) return [RUNE_ERROR, 0];
    const b0 = s[at];
    if (b0 < 0x80) return [b0, 1];
    const more = b0 >= 0xc2 && b0 <= 0xdf ? 1 : b0 >= 0xe0 && b0 <= 0xef ? 2 : b0 >= 0xf0 && b0 <= 0xf4 ? 3 : 0;
    if (more === 0 || at + more >= s.length) return [RUNE_ERROR, 1];
    const lo = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf;
    if (s[at + 1] < lo || s[at + 1] > hi) return [RUNE_ERROR, 1];
    for (let k = 2; k <= more; k++) if (s[at + k] < 0x80 || s[at + k] > 0xbf) return [RUNE_ERROR, 1];
    let rune = b0 & (0x7f >> (more + 1));
    for (let k = 1; k <= more; k++) rune = (rune << 6) | (s[at + k] & 0x3f);
    return [rune, more + 1];
}

// Go's `for i, r := range s`.
function* runesOf(s: Bytes): Generator<[index: number, rune: number]> {
    for (let i = 0; i < s.length;) {
        const [r, w] = decodeRune(s, i);
        yield [i, r];
        i += w;
    }
}

const runeCount = (s: Bytes): number => [...runesOf(s)].length;

// Go's utf8.RuneLen (3 for U+FFFD, also when it stood for one invalid byte).
const runeLen = (r: number): number =>
    r < 0 ? -1 : r < 0x80 ? 1 : r < 0x800 ? 2 : r >= 0xd800 && r <= 0xdfff ? -1 : r < 0x10000 ? 3 : r <= 0x10ffff ? 4 : -1;

function indexBytes(s: Bytes, needle: Bytes): number {
    outer: for (let i = 0; i + needle.length <= s.length; i++) {
        for (let k = 0; k < needle.length; k++) if (s[i + k] !== needle[k]) continue outer;
        return i;
    }
    return -1;
}

function lastIndexBytes(s: Bytes, needle: Bytes): number {
    outer: for (let i = s.length - needle.length; i >= 0; i--) {
        for (let k = 0; k < needle.length; k++) if (s[i + k] !== needle[k]) continue outer;
        return i;
    }
    return -1;
}

const sameBytesOf = (a: Bytes, b: Bytes): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const hasPrefix = (s: Bytes, p: Bytes): boolean => s.length >= p.length && sameBytesOf(s.subarray(0, p.length), p);
const hasSuffix = (s: Bytes, p: Bytes): boolean => s.length >= p.length && sameBytesOf(s.subarray(s.length - p.length), p);
const encode = (s: string): Bytes => new Uint8Array(Buffer.from(s, "utf8"));
const encodeRune = (r: number): Bytes => encode(r >= 0xd800 && r <= 0xdfff ? "\ufffd" : String.fromCodePoint(r));

// Go's strings.IndexRune.
function indexRune(s: Bytes, r: number): number {
    if (r >= 0 && r < 0x80) return s.indexOf(r);
    if (r === RUNE_ERROR) {
        for (const [i, c] of runesOf(s)) if (c === RUNE_ERROR) return i;
        return -1;
    }
    if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return -1;
    return indexBytes(s, encodeRune(r));
}

// The library's IndexAnyRunes: where the FIRST separator in list order occurs, not the earliest one.
function indexAnyRunes(s: Bytes, separators: readonly number[]): number {
    for (const r of separators) {
        const i = indexRune(s, r);
        if (i !== -1) return i;
    }
    return -1;
}

// The library's LastIndexAnyRunes, including its search from the start for non-ASCII separators.
function lastIndexAnyRunes(s: Bytes, separators: readonly number[]): number {
    for (const r of separators) {
        let i = -1;
        if (r >= 0 && r < 0x80) {
            i = s.lastIndexOf(r);
        } else {
            for (let sub = s; sub.length > 0;) {
                const j = indexRune(s, r);
                if (j === -1) break;
                i = j;
                sub = cut(sub, i + 1);
            }
        }
        if (i !== -1) return i;
    }
    return -1;
}

const runeStarts = (s: Bytes): number[] => [...runesOf(s)].map(([i]) => i);

// Merges two sorted lists of distinct lengths into one.
function mergeSegments(a: readonly number[], b: readonly number[]): number[] {
    const out: number[] = [];
    let x = 0;
    let y = 0;
    while (x < a.length || y < b.length) {
        if (x >= a.length) out.push(b[y++]);
        else if (y >= b.length) out.push(a[x++]);
        else if (a[x] === b[y]) {
            out.push(a[x++]);
            y++;
        } else out.push(a[x] < b[y] ? a[x++] : b[y++]);
    }
    return out;
}

/** A compiled piece of a pattern: whether it matches all of a text; where it first matches and the byte lengths it can match there; its length in runes, or -1. */
interface Matcher {
    readonly kind: string;
    match(s: Bytes): boolean;
    index(s: Bytes): [index: number, segments: number[]];
    len(): number;
}

const NOT_FOUND: [number, number[]] = [-1, []];

const nothingMatcher = (): Matcher => ({ kind: "nothing", match: s => s.length === 0, index: () => [0, [0]], len: () => 0 });

function textMatcher(text: Bytes): Matcher & { readonly text: Bytes } {
    const runes = runeCount(text);
    return {
        kind: "text",
        text,
        match: s => sameBytesOf(s, text),
        index: s => {
            const i = indexBytes(s, text);
            return i < 0 ? NOT_FOUND : [i, [text.length]];
        },
        len: () => runes,
    };
}

function anyMatcher(separators: readonly number[]): Matcher & { readonly separators: readonly number[] } {
    return {
        kind: "any",
        separators,
        match: s => indexAnyRunes(s, separators) === -1,
        index: s => {
            const found = indexAnyRunes(s, separators);
            if (found === 0) return [0, [0]];
            const upTo = found > 0 ? cut(s, 0, found) : s;
            return [0, [...runeStarts(upTo), upTo.length]];
        },
        len: () => NO_LENGTH,
    };
}

const superMatcher = (): Matcher => ({ kind: "super", match: () => true, index: s => [0, [...runeStarts(s), s.length]], len: () => NO_LENGTH });

// One rune for which `accepts` holds; the empty text is read as U+FFFD, as the library does.
function oneRune(kind: string, accepts: (r: number) => boolean): Matcher {
    return {
        kind,
        match: s => {
            const [r, w] = decodeRune(s, 0);
            return s.length <= w && accepts(r);
        },
        index: s => {
            for (const [i, r] of runesOf(s)) if (accepts(r)) return [i, [runeLen(r)]];
            return NOT_FOUND;
        },
        len: () => 1,
    };
}

const singleMatcher = (separators: readonly number[]): Matcher & { readonly separators: readonly number[] } => ({
    ...oneRune("single", r => !separators.includes(r)),
    separators,
});

const listMatcher = (chars: readonly number[], not: boolean): Matcher & { readonly chars: readonly number[]; readonly not: boolean } => ({
    ...oneRune("list", r => chars.includes(r) !== not),
    chars,
    not,
});

const rangeMatcher = (lo: number, hi: number, not: boolean): Matcher => oneRune("range", r => (lo <= r && r <= hi) !== not);

// Fixed-length pieces in a row; each piece is handed the bytes up to the first byte of its last rune.
function rowMatcher(runes: number, matchers: readonly Matcher[]): Matcher {
    const matchAll = (s: Bytes): boolean => {
        let at = 0;
        for (const m of matchers) {
            const length = m.len();
            let next = 0;
            let count = 0;
            for (const start of runeStarts(cut(s, at))) {
                next = start;
                if (++count === length) break;
            }
            if (count < length || !m.match(cut(s, at, at + next + 1))) return false;
            at += next + 1;
        }
        return true;
    };
    const lengthOk = (s: Bytes): boolean => runeCount(s) === runes;
    return {
        kind: "row",
        match: s => lengthOk(s) && matchAll(s),
        index: s => {
            for (const i of runeStarts(s)) {
                if (s.length - i < runes) break;
                if (matchAll(cut(s, i))) return [i, [runes]];
            }
            return NOT_FOUND;
        },
        len: () => runes,
    };
}

function containsMatcher(needle: Bytes, not: boolean): Matcher {
    return {
        kind: "contains",
        match: s => indexBytes(s, needle) >= 0 !== not,
        index: s => {
            let offset = 0;
            let rest = s;
            const i = indexBytes(s, needle);
            if (!not) {
                if (i === -1) return NOT_FOUND;
                offset = i + needle.length;
                if (s.length <= offset) return [0, [offset]];
                rest = cut(s, offset);
            } else if (i !== -1) {
                rest = cut(s, 0, i);
            }
            return [0, [...runeStarts(rest).map(k => offset + k), offset + rest.length]];
        },
        len: () => NO_LENGTH,
    };
}

function prefixMatcher(prefix: Bytes): Matcher & { readonly prefix: Bytes } {
    return {
        kind: "prefix",
        prefix,
        match: s => hasPrefix(s, prefix),
        index: s => {
            const i = indexBytes(s, prefix);
            if (i === -1) return NOT_FOUND;
            const n = prefix.length;
            const rest = s.length > i + n ? cut(s, i + n) : new Uint8Array(0);
            return [i, [n, ...[...runesOf(rest)].map(([k, r]) => n + k + runeLen(r))]];
        },
        len: () => NO_LENGTH,
    };
}

function suffixMatcher(suffix: Bytes): Matcher & { readonly suffix: Bytes } {
    return {
        kind: "suffix",
        suffix,
        match: s => hasSuffix(s, suffix),
        index: s => {
            const i = indexBytes(s, suffix);
            return i === -1 ? NOT_FOUND : [0, [i + suffix.length]];
        },
        len: () => NO_LENGTH,
    };
}

// Prefix and suffix checked separately: they may overlap (`a*a` matches `a`).
function prefixSuffixMatcher(prefix: Bytes, suffix: Bytes): Matcher {
    return {
        kind: "prefixSuffix",
        match: s => hasPrefix(s, prefix) && hasSuffix(s, suffix),
        index: s => {
            const at = indexBytes(s, prefix);
            if (at === -1) return NOT_FOUND;
            if (suffix.length <= 0) return [at, [s.length - at]];
            if (s.length - at <= 0) return NOT_FOUND;
            const segments: number[] = [];
            for (let sub = cut(s, at); ;) {
                const i = lastIndexBytes(sub, suffix);
                if (i === -1) break;
                segments.push(i + suffix.length);
                sub = cut(sub, 0, i);
            }
            return segments.length === 0 ? NOT_FOUND : [at, segments.reverse()];
        },
        len: () => NO_LENGTH,
    };
}

function prefixAnyMatcher(prefix: Bytes, separators: readonly number[]): Matcher {
    return {
        kind: "prefixAny",
        match: s => hasPrefix(s, prefix) && indexAnyRunes(cut(s, prefix.length), separators) === -1,
        index: s => {
            const at = indexBytes(s, prefix);
            if (at === -1) return NOT_FOUND;
            const n = prefix.length;
            let rest = cut(s, at + n);
            const stop = indexAnyRunes(rest, separators);
            if (stop > -1) rest = cut(rest, 0, stop);
            return [at, [n, ...[...runesOf(rest)].map(([k, r]) => n + k + runeLen(r))]];
        },
        len: () => NO_LENGTH,
    };
}

function suffixAnyMatcher(suffix: Bytes, separators: readonly number[]): Matcher {
    return {
        kind: "suffixAny",
        match: s => hasSuffix(s, suffix) && indexAnyRunes(cut(s, 0, s.length - suffix.length), separators) === -1,
        index: s => {
            const at = indexBytes(s, suffix);
            if (at === -1) return NOT_FOUND;
            const from = lastIndexAnyRunes(cut(s, 0, at), separators) + 1;
            return [from, [at + suffix.length - from]];
        },
        len: () => NO_LENGTH,
    };
}

function minMatcher(limit: number): Matcher {
    return {
        kind: "min",
        match: s =>
            // True at the first rune that reaches the limit: never for the empty text.
            runeCount(s) >= Math.max(limit, 1),
        index: s => {
            if (s.length - limit + 1 <= 0) return NOT_FOUND;
            const segments: number[] = [];
            let count = 0;
            for (const [i, r] of runesOf(s)) if (++count >= limit) segments.push(i + runeLen(r));
            return segments.length === 0 ? NOT_FOUND : [0, segments];
        },
        len: () => NO_LENGTH,
    };
}

function maxMatcher(limit: number): Matcher {
    return {
        kind: "max",
        match: s => runeCount(s) <= limit,
        index: s => {
            const segments = [0];
            let count = 0;
            for (const [i, r] of runesOf(s)) {
                if (++count > limit) break;
                segments.push(i + runeLen(r));
            }
            return [0, segments];
        },
        len: () => NO_LENGTH,
    };
}

// All of the matchers at once; its length is reported as unknown whenever it has matchers.
function everyOfMatcher(matchers: readonly Matcher[]): Matcher {
    return {
        kind: "everyOf",
        match: s => matchers.every(m => m.match(s)),
        index: s => {
            let index = 0;
            let offset = 0;
            let current: number[] = [];
            let sub = s;
            for (const [n, m] of matchers.entries()) {
                const [i, segments] = m.index(sub);
                if (i === -1) return NOT_FOUND;
                if (n === 0) {
                    current = [...segments];
                } else {
                    const delta = index - (i + offset);
                    const next: number[] = [];
                    for (const ex of current) for (const seg of segments) if (ex + delta === seg) next.push(seg);
                    if (next.length === 0) return NOT_FOUND;
                    current = next;
                }
                index = i + offset;
                sub = cut(s, index);
                offset += i;
            }
            return [index, current];
        },
        len: () => (matchers.length === 0 ? 0 : NO_LENGTH),
    };
}

function anyOfMatcher(matchers: readonly Matcher[]): Matcher & { readonly matchers: readonly Matcher[] } {
    return {
        kind: "anyOf",
        matchers,
        match: s => matchers.some(m => m.match(s)),
        index: s => {
            let index = -1;
            let segments: number[] = [];
            for (const m of matchers) {
                const [i, seg] = m.index(s);
                if (i === -1 || (index !== -1 && i > index)) continue;
                segments = index === -1 || i < index ? [...seg] : mergeSegments(segments, seg);
                index = i;
            }
            return index === -1 ? NOT_FOUND : [index, segments];
        },
        // The first length that is known, unless a later one differs or is unknown.
        len: () => {
            let l = NO_LENGTH;
            for (const m of matchers) {
                const ml = m.len();
                if (l === NO_LENGTH) l = ml;
                else if (ml === NO_LENGTH || ml !== l) return NO_LENGTH;
            }
            return l;
        },
    };
}

interface TreeMatcher extends Matcher {
    readonly value: Matcher;
    readonly left?: Matcher;
    readonly right?: Matcher;
    /** Rune lengths of the left side, the right side and the whole, fixed when first built. */
    readonly lengths: readonly [number, number, number];
}

// A value piece with what must come before and after it; lengths are computed once, from the
// pieces it is built with. It finds no index of its own, and never matches the empty text.
function treeMatcher(
    value: Matcher,
    left: Matcher | undefined,
    right: Matcher | undefined,
    lengths?: readonly [number, number, number],
): TreeMatcher {
    const [leftLen, rightLen, total] =
        lengths ??
        ((): [number, number, number] => {
            const l = left?.len() ?? 0;
            const r = right?.len() ?? 0;
            const v = value.len();
            return [l, r, v === NO_LENGTH || l === NO_LENGTH || r === NO_LENGTH ? NO_LENGTH : l + v + r];
        })();
    const sides = (s: Bytes, start: number, segments: readonly number[]): boolean => {
        const before = cut(s, 0, start);
        if (!(left ? left.match(before) : before.length === 0)) return false;
        for (let k = segments.length - 1; k >= 0; k--) {
            const after = s.length <= start + segments[k] ? new Uint8Array(0) : cut(s, start + segments[k]);
            if (right ? right.match(after) : after.length === 0) return true;
        }
        return false;
    };
    return {
        kind: "tree",
        value,
        left,
        right,
        match: s => {
            if (total !== NO_LENGTH && total > s.length) return false;
            let offset = leftLen >= 0 ? leftLen : 0;
            const limit = rightLen >= 0 ? s.length - rightLen : s.length;
            while (offset < limit) {
                const [index, segments] = value.index(cut(s, offset, limit));
                if (index === -1) return false;
                if (sides(s, offset + index, segments)) return true;
                offset += index + decodeRune(s, offset + index)[1];
            }
            return false;
        },
        index: () => NOT_FOUND,
        len: () => total,
        lengths: [leftLen, rightLen, total],
    };
}

const isKind = (m: Matcher | undefined, kind: string): boolean => m?.kind === kind;

// The library's shortcuts for one compiled piece: an unbounded `*` is `**`, one alternative is
// itself, a one-character class is text, text between pieces becomes prefix/suffix matchers.
function optimize(m: Matcher): Matcher {
    switch (m.kind) {
        case "any":
            return (m as ReturnType<typeof anyMatcher>).separators.length === 0 ? superMatcher() : m;
        case "anyOf": {
            const alternatives = (m as ReturnType<typeof anyOfMatcher>).matchers;
            return alternatives.length === 1 ? alternatives[0] : m;
        }
        case "list": {
            const l = m as ReturnType<typeof listMatcher>;
            return !l.not && l.chars.length === 1 ? textMatcher(encodeRune(l.chars[0])) : m;
        }
        case "tree": {
            const t = m as TreeMatcher;
            const left = t.left && optimize(t.left);
            const right = t.right && optimize(t.right);
            if (t.value.kind !== "text") return treeMatcher(t.value, left, right, t.lengths);
            const text = (t.value as ReturnType<typeof textMatcher>).text;
            if (!left && !right) return textMatcher(text);
            if (isKind(left, "super") && isKind(right, "super")) return containsMatcher(text, false);
            if (isKind(left, "super") && !right) return suffixMatcher(text);
            if (isKind(right, "super") && !left) return prefixMatcher(text);
            if (!left && isKind(right, "suffix")) return prefixSuffixMatcher(text, (right as ReturnType<typeof suffixMatcher>).suffix);
            if (!right && isKind(left, "prefix")) return prefixSuffixMatcher((left as ReturnType<typeof prefixMatcher>).prefix, text);
            if (!right && isKind(left, "any")) return suffixAnyMatcher(text, (left as ReturnType<typeof anyMatcher>).separators);
            if (!left && isKind(right, "any")) return prefixAnyMatcher(text, (right as ReturnType<typeof anyMatcher>).separators);
            return treeMatcher(t.value, left, right, t.lengths);
        }
        default:
            return m;
    }
}

const sameRunes = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// Runs of `*`, `**`, `?` and negated classes sharing one set of excluded characters, glued into
// one matcher by counting (the excluded characters are then refused only as one substring).
function glueAsEvery(matchers: readonly Matcher[]): Matcher | undefined {
    if (matchers.length <= 1) return undefined;
    let hasAny = false;
    let hasSuper = false;
    let hasSingle = false;
    let min = 0;
    let separator: readonly number[] = [];
    for (const [i, m] of matchers.entries()) {
        let sep: readonly number[];
        if (m.kind === "super") {
            sep = [];
            hasSuper = true;
        } else if (m.kind === "any") {
            sep = (m as ReturnType<typeof anyMatcher>).separators;
            hasAny = true;
        } else if (m.kind === "single") {
            sep = (m as ReturnType<typeof singleMatcher>).separators;
            hasSingle = true;
            min++;
        } else if (m.kind === "list" && (m as ReturnType<typeof listMatcher>).not) {
            sep = (m as ReturnType<typeof listMatcher>).chars;
            hasSingle = true;
            min++;
        } else {
            return undefined;
        }
        if (i === 0) separator = sep;
        if (!sameRunes(sep, separator)) return undefined;
    }
    if (hasSuper && !hasAny && !hasSingle) return superMatcher();
    if (hasAny && !hasSuper && !hasSingle) return anyMatcher(separator);
    if ((hasAny || hasSuper) && min > 0 && separator.length === 0) return minMatcher(min);
    const every: Matcher[] = [];
    if (min > 0) {
        every.push(minMatcher(min));
        if (!hasAny && !hasSuper) every.push(maxMatcher(min));
    }
    if (separator.length > 0) every.push(containsMatcher(encode(String.fromCodePoint(...separator)), true));
    return everyOfMatcher(every);
}

function glueAsRow(matchers: readonly Matcher[]): Matcher | undefined {
    if (matchers.length <= 1 || matchers.some(m => m.len() === NO_LENGTH)) return undefined;
    return rowMatcher(
        matchers.reduce((sum, m) => sum + m.len(), 0),
        matchers,
    );
}

const glue = (matchers: readonly Matcher[]): Matcher | undefined => glueAsEvery(matchers) ?? glueAsRow(matchers);

// Glues the longest run it can (preferring a longer fixed length), again until nothing changes.
function minimizeMatchers(matchers: readonly Matcher[]): readonly Matcher[] {
    let done: Matcher | undefined;
    let from = 0;
    let to = 0;
    let count = 0;
    for (let l = 0; l < matchers.length; l++) {
        for (let r = matchers.length; r > l; r--) {
            const glued = glue(matchers.slice(l, r));
            if (glued === undefined) continue;
            const cl = done?.len() ?? NO_LENGTH;
            const gl = glued.len();
            if (done === undefined || (cl > -1 && gl > -1 && gl > cl) || count < r - l) {
                done = glued;
                from = l;
                to = r;
                count = r - l;
            }
        }
    }
    if (done === undefined) return matchers;
    const next = [...matchers.slice(0, from), done, ...matchers.slice(to)];
    return next.length === matchers.length ? next : minimizeMatchers(next);
}

// A sequence of matchers as one: glued if possible, else a tree around the last of the longest
// fixed-length pieces (or around the first piece when none has a fixed length).
function compileSequence(matchers: readonly Matcher[]): Matcher {
    if (matchers.length === 1) return matchers[0];
    const glued = glue(matchers);
    if (glued !== undefined) return glued;
    let at = -1;
    let longest = -1;
    for (const [i, m] of matchers.entries()) {
        const l = m.len();
        if (l !== NO_LENGTH && l >= longest) {
            longest = l;
            at = i;
        }
    }
    if (at === -1) return treeMatcher(matchers[0], undefined, compileSequence(matchers.slice(1)));
    const before = matchers.slice(0, at);
    const after = matchers.slice(at + 1);
    return treeMatcher(matchers[at], before.length > 0 ? compileSequence(before) : undefined, after.length > 0 ? compileSequence(after) : undefined);
}

// Pieces common to the start (and end) of every alternative, compared node by node.
function commonChildren(nodes: readonly AstNode[]): [left: AstNode[], right: AstNode[]] {
    if (nodes.length <= 1) return [[], []];
    let least = 0;
    for (const [i, n] of nodes.entries()) if (n.children.length < nodes[least].children.length) least = i;
    const tree = nodes[least];
    const length = tree.children.length;
    const left: AstNode[] = [];
    const right: AstNode[] = new Array<AstNode>(length);
    let lastRight = length;
    let breakLeft = false;
    let breakRight = false;
    let total = 0;
    for (let i = 0, j = length - 1; total < length && j >= 0 && !(breakLeft && breakRight); i++, j--) {
        for (let k = 0; k < nodes.length && !(breakLeft && breakRight); k++) {
            if (k === least) continue;
            const other = nodes[k].children;
            breakLeft = breakLeft || !sameAst(tree.children[i], other[i]);
            breakRight = breakRight || (!breakLeft && j <= i) || !sameAst(tree.children[j], other[j + other.length - length]);
        }
        if (!breakLeft) {
            total++;
            left.push(tree.children[i]);
        }
        if (!breakRight) {
            total++;
            lastRight = j;
            right[j] = tree.children[j];
        }
    }
    return [left, right.slice(lastRight)];
}

// Alternatives with a common start or end are rewritten as start, {rest…}, end.
function factorAlternatives(tree: AstNode): AstNode | undefined {
    if (!tree.children.every(c => c.kind === "pattern")) return undefined;
    const [left, right] = commonChildren(tree.children);
    if (left.length === 0 && right.length === 0) return undefined;
    const result: AstNode[] = [];
    if (left.length > 0) result.push(astNode("pattern", {}, left));
    const rests: AstNode[] = [];
    for (const child of tree.children) {
        const reuse = child.children.slice(left.length, child.children.length - right.length);
        const node = reuse.length === 0 ? astNode("nothing") : astNode("pattern", {}, reuse);
        if (!rests.some(n => sameAst(n, node))) rests.push(node);
    }
    if (rests.length === 1 && rests[0].kind !== "nothing") result.push(rests[0]);
    else if (rests.length > 1) result.push(astNode("anyOf", {}, rests));
    if (right.length > 0) result.push(astNode("pattern", {}, right));
    return astNode("pattern", {}, result);
}

function compileNode(tree: AstNode, separators: readonly number[]): Matcher {
    const children = (): Matcher[] => tree.children.map(c => optimize(compileNode(c, separators)));
    switch (tree.kind) {
        case "anyOf": {
            const factored = factorAlternatives(tree);
            return factored ? compileNode(factored, separators) : anyOfMatcher(children());
        }
        case "pattern":
            return tree.children.length === 0 ? nothingMatcher() : optimize(compileSequence(minimizeMatchers(children())));
        case "any":
            return optimize(anyMatcher(separators));
        case "super":
            return superMatcher();
        case "single":
            return singleMatcher(separators);
        case "nothing":
            return nothingMatcher();
        case "list":
            return optimize(listMatcher(cps(tree.text ?? ""), tree.not ?? false));
        case "range":
            return rangeMatcher(tree.lo ?? 0, tree.hi ?? 0, tree.not ?? false);
        case "text":
            return textMatcher(encode(tree.text ?? ""));
    }
}

/**
 * Upstream util/glob/glob.go `MatchWithError` (github.com/gobwas/glob v0.2.3 `Compile` then
 * `Match`): whether `text` matches `pattern` as a whole, or why the pattern does not compile.
 *
 * Syntax: `*` any run of characters that are not `separators`, `**` any run at all, `?` one
 * non-separator character, `[abc]`/`[a-z]` and negated `[!abc]`/`[!a-z]` one character
 * (separators included), `{a,b}` alternatives (an unclosed `{` is accepted), `\` escapes. With no
 * separators, as ArgoCD passes for destinations, `*` crosses everything, `.` and `/` included.
 * The library's own quirks are kept (see above); throws {@link GlobPanic} where it panics.
 */
export function globMatchWithError(pattern: string, text: string, separators: readonly string[] = []): GlobResult {
    const tree = parseGlob(lexGlob(pattern));
    if (typeof tree === "string") return { matched: false, error: tree };
    return { matched: compileNode(tree, separators.flatMap(cps)).match(encode(text)) };
}

/** Upstream util/glob/glob.go `Match`: {@link globMatchWithError}, false when the pattern does not compile. */
export function globLibraryMatch(pattern: string, text: string, separators: readonly string[] = []): boolean {
    return globMatchWithError(pattern, text, separators).matched;
}

/** Upstream app_project_types.go `isDenyPattern`: a pattern that starts with `!`. */
export function isDenyPattern(pattern: string): boolean {
    return pattern.startsWith("!");
}

/**
 * Upstream app_project_types.go `globMatch`. With `allowNegation`, a deny pattern `!p` is true
 * exactly when the value does NOT match `p` (a `p` that fails to compile matches nothing, so `!p`
 * is then always true). A bare `*` is true for anything, separators or not; anything else goes to
 * the glob library ({@link globLibraryMatch}) with the given separators (ArgoCD passes none for
 * destinations and `/` for source repositories).
 */
export function globMatch(pattern: string, value: string, allowNegation: boolean, separators: readonly string[] = []): boolean {
    if (allowNegation && isDenyPattern(pattern)) return !globLibraryMatch(pattern.slice(1), value, separators);
    if (pattern === "*") return true;
    return globLibraryMatch(pattern, value, separators);
}

// ---------------------------------------------------------------------------------------------
// Destinations.

/**
 * Upstream app_project_types.go `IsDestinationPermitted` with `isDestinationMatched`.
 *
 * Every project destination is tried in order, with glob matching without separators:
 * - server (or name) and namespace both match: the destination is matched (a deny pattern
 *   "matches" every value but the one it denies);
 * - otherwise the entry refuses at once if its name is a deny pattern the cluster name does not
 *   pass (an empty name never does), if its server is one the server does not pass while the
 *   namespace matched, or if its namespace is one the namespace does not pass while the server
 *   matched.
 * A refusal wins wherever its entry sits in the list; nothing matched refuses too. With
 * `permitOnlyProjectScopedClusters`, a matched destination must also be one of `projectClusters`
 * (same name or same server, the empty string counting as a value like upstream's).
 */
export function destinationPermitted(project: AppProjectSpec, dst: Destination, projectClusters: readonly ProjectCluster[] = []): boolean {
    const name = dst.name ?? "";
    const server = dst.server ?? "";
    let anyMatched = false;
    for (const item of project.destinations ?? []) {
        const itemName = item.name ?? "";
        const itemServer = item.server ?? "";
        const itemNamespace = item.namespace ?? "";
        const nameMatched = name !== "" && globMatch(itemName, name, true);
        const serverMatched = server !== "" && globMatch(itemServer, server, true);
        const namespaceMatched = globMatch(itemNamespace, dst.namespace, true);
        if ((serverMatched || nameMatched) && namespaceMatched) {
            anyMatched = true;
        } else if ((!nameMatched && isDenyPattern(itemName)) || (!serverMatched && isDenyPattern(itemServer) && namespaceMatched)) {
            return false;
        } else if (!namespaceMatched && isDenyPattern(itemNamespace) && serverMatched) {
            return false;
        }
    }
    if (anyMatched && project.permitOnlyProjectScopedClusters) {
        return projectClusters.some(c => (c.name ?? "") === name || (c.server ?? "") === server);
    }
    return anyMatched;
}

// ---------------------------------------------------------------------------------------------
// Source repositories: Go's net/url (1.25.0) as NormalizeGitURL uses it, over UTF-8 bytes.

enum Enc {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

const isAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const hexValue = (c: number): number => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
const utf8 = (s: string): number[] => [...Buffer.from(s, "utf8")];
const ascii = (chars: string): number[] => cps(chars);
const HOST_EXTRA = ascii("!$&'()*+,;=:[]<>\"");
const UNRESERVED_MARKS = ascii("-_.~");
const RESERVED = ascii("$&+,/:;=?@");
const FRAGMENT_EXTRA = ascii("!()*");
const VALID_ENCODED_EXTRA = ascii("!$&'()*+,;=:@[]%");

// Whether net/url escapes byte c in the given part of a URL (its shouldEscape).
function mustEscape(c: number, mode: Enc): boolean {
    if (isAlnum(c)) return false;
    if ((mode === Enc.Host || mode === Enc.Zone) && HOST_EXTRA.includes(c)) return false;
    if (UNRESERVED_MARKS.includes(c)) return false;
    if (RESERVED.includes(c)) {
        switch (mode) {
            case Enc.Path:
                return c === QUESTION;
            case Enc.UserPassword:
                return c === code("@") || c === SLASH || c === QUESTION || c === code(":");
            case Enc.Fragment:
                return false;
            default:
                break;
        }
    }
    if (mode === Enc.Fragment && FRAGMENT_EXTRA.includes(c)) return false;
    return true;
}

function percentDecode(s: string, mode: Enc): number[] | undefined {
    const b = utf8(s);
    const out: number[] = [];
    for (let i = 0; i < b.length; i++) {
        const c = b[i];
        if (c === code("%")) {
            if (i + 2 >= b.length || !isHex(b[i + 1]) || !isHex(b[i + 2])) return undefined;
            const value = (hexValue(b[i + 1]) << 4) | hexValue(b[i + 2]);
            const isPercent25 = b[i + 1] === code("2") && b[i + 2] === code("5");
            // In a host only non-ASCII bytes may be escaped; in a zone only bytes a host may hold.
            if (mode === Enc.Host && hexValue(b[i + 1]) < 8 && !isPercent25) return undefined;
            if (mode === Enc.Zone && !isPercent25 && value !== 0x20 && mustEscape(value, Enc.Host)) return undefined;
            out.push(value);
            i += 2;
        } else {
            if ((mode === Enc.Host || mode === Enc.Zone) && c < 0x80 && mustEscape(c, mode)) return undefined;
            out.push(c);
        }
    }
    return out;
}

const percentEncode = (bytes: readonly number[], mode: Enc): string =>
    bytes.map(c => (mustEscape(c, mode) ? "%" + c.toString(16).toUpperCase().padStart(2, "0") : String.fromCharCode(c))).join("");

const sameBytes = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// Whether s is already a valid escaping for the mode (net/url's validEncoded).
const validEncoded = (s: string, mode: Enc): boolean => utf8(s).every(c => VALID_ENCODED_EXTRA.includes(c) || !mustEscape(c, mode));

// The original text when it is a valid escaping of the decoded bytes, else a fresh escaping
// (net/url's EscapedPath and EscapedFragment; a path of just `*` stays unescaped).
function escapedForm(decoded: readonly number[], raw: string, mode: Enc): string {
    if (raw !== "" && validEncoded(raw, mode)) {
        const again = percentDecode(raw, mode);
        if (again !== undefined && sameBytes(again, decoded)) return raw;
    }
    if (mode === Enc.Path && sameBytes(decoded, [STAR])) return "*";
    return percentEncode(decoded, mode);
}

interface GoURL {
    scheme: string;
    opaque: string;
    user?: { name: number[]; password?: number[] };
    host: number[];
    path: number[];
    rawPath: string;
    omitHost: boolean;
    forceQuery: boolean;
    rawQuery: string;
    fragment: number[];
    rawFragment: string;
}

const validOptionalPort = (port: string): boolean => port === "" || /^:[0-9]*$/.test(port);

function parseHost(host: string): number[] | undefined {
    if (host.startsWith("[")) {
        const close = host.lastIndexOf("]");
        if (close < 0 || !validOptionalPort(host.slice(close + 1))) return undefined;
        const zone = host.slice(0, close).indexOf("%25");
        if (zone >= 0) {
            const parts = [
                percentDecode(host.slice(0, zone), Enc.Host),
                percentDecode(host.slice(zone, close), Enc.Zone),
                percentDecode(host.slice(close), Enc.Host),
            ];
            return parts.some(p => p === undefined) ? undefined : parts.flatMap(p => p ?? []);
        }
    } else {
        const colon = host.lastIndexOf(":");
        if (colon >= 0 && !validOptionalPort(host.slice(colon))) return undefined;
    }
    return percentDecode(host, Enc.Host);
}

function parseAuthority(url: GoURL, authority: string): boolean {
    const at = authority.lastIndexOf("@");
    const host = parseHost(authority.slice(at + 1));
    if (host === undefined) return false;
    url.host = host;
    if (at < 0) return true;
    const userinfo = authority.slice(0, at);
    if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return false;
    const colon = userinfo.indexOf(":");
    const name = percentDecode(colon < 0 ? userinfo : userinfo.slice(0, colon), Enc.UserPassword);
    const password = colon < 0 ? [] : percentDecode(userinfo.slice(colon + 1), Enc.UserPassword);
    if (name === undefined || password === undefined) return false;
    url.user = colon < 0 ? { name } : { name, password };
    return true;
}

// net/url.Parse, or undefined where it returns an error.
function parseGoURL(raw: string): GoURL | undefined {
    const hash = raw.indexOf("#");
    let rest = hash < 0 ? raw : raw.slice(0, hash);
    const url: GoURL = {
        scheme: "",
        opaque: "",
        host: [],
        path: [],
        rawPath: "",
        omitHost: false,
        forceQuery: false,
        rawQuery: "",
        fragment: [],
        rawFragment: "",
    };
    if (hash >= 0 && raw.length > hash + 1) {
        const fragment = percentDecode(raw.slice(hash + 1), Enc.Fragment);
        if (fragment === undefined) return undefined;
        url.fragment = fragment;
        url.rawFragment = percentEncode(fragment, Enc.Fragment) === raw.slice(hash + 1) ? "" : raw.slice(hash + 1);
    }
    if (Array.from(rest).some(c => c < " " || c === "\x7f")) return undefined; // a control character
    if (rest === "*") {
        url.path = [STAR];
        return url;
    }
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*)?:/.exec(rest);
    if (scheme !== null) {
        if (scheme[1] === undefined) return undefined; // "missing protocol scheme"
        url.scheme = scheme[1].toLowerCase();
        rest = rest.slice(scheme[0].length);
    }
    const question = rest.indexOf("?");
    if (question === rest.length - 1 && question >= 0) {
        url.forceQuery = true;
        rest = rest.slice(0, -1);
    } else if (question >= 0) {
        url.rawQuery = rest.slice(question + 1);
        rest = rest.slice(0, question);
    }
    if (!rest.startsWith("/")) {
        if (url.scheme !== "") {
            url.opaque = rest;
            return url;
        }
        if (rest.split("/")[0].includes(":")) return undefined; // a colon in the first segment
    }
    if ((url.scheme !== "" || !rest.startsWith("///")) && rest.startsWith("//")) {
        const slash = rest.indexOf("/", 2);
        const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
        rest = slash < 0 ? "" : rest.slice(slash);
        if (!parseAuthority(url, authority)) return undefined;
    } else if (url.scheme !== "" && rest.startsWith("/")) {
        url.omitHost = true;
    }
    const path = percentDecode(rest, Enc.Path);
    if (path === undefined) return undefined;
    url.path = path;
    url.rawPath = percentEncode(path, Enc.Path) === rest ? "" : rest;
    return url;
}

// net/url's URL.String.
function formatGoURL(url: GoURL): string {
    let out = url.scheme === "" ? "" : url.scheme + ":";
    if (url.opaque !== "") {
        out += url.opaque;
    } else {
        if (
            (url.scheme !== "" || url.host.length > 0 || url.user !== undefined) &&
            !(url.omitHost && url.host.length === 0 && url.user === undefined)
        ) {
            if (url.host.length > 0 || url.path.length > 0 || url.user !== undefined) out += "//";
            if (url.user !== undefined) {
                out += percentEncode(url.user.name, Enc.UserPassword);
                if (url.user.password !== undefined) out += ":" + percentEncode(url.user.password, Enc.UserPassword);
                out += "@";
            }
            out += percentEncode(url.host, Enc.Host);
        }
        const path = escapedForm(url.path, url.rawPath, Enc.Path);
        if (path !== "" && !path.startsWith("/") && url.host.length > 0) out += "/";
        if (out === "" && path.split("/")[0].includes(":")) out += "./";
        out += path;
    }
    if (url.forceQuery || url.rawQuery !== "") out += "?" + url.rawQuery;
    if (url.fragment.length > 0) out += "#" + escapedForm(url.fragment, url.rawFragment, Enc.Fragment);
    return out;
}

// Go's unicode.IsSpace, which strings.TrimSpace trims.
const GO_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
const isGoSpace = (c: number): boolean => GO_SPACE.has(c) || (c >= 0x2000 && c <= 0x200a);

function goTrimSpace(s: string): string {
    const chars = cps(s);
    let start = 0;
    let end = chars.length;
    while (start < end && isGoSpace(chars[start])) start++;
    while (end > start && isGoSpace(chars[end - 1])) end--;
    return String.fromCodePoint(...chars.slice(start, end));
}

// Go's strings.ToLower: the simple (one character to one character) lower-case mapping.
function goToLower(s: string): string {
    return Array.from(s, c => {
        const lower = c.toLowerCase();
        if (Array.from(lower).length === 1) return lower;
        return c === "\u0130" ? "i" : c;
    }).join("");
}

const SSH_URL = /^(ssh:\/\/)?([^/:]*?)@[^@]+$/;

/**
 * Upstream util/git/git.go `IsSSHURL`: whether a repository URL is an SSH one (`user@host:path`
 * or `ssh://user@host/path`), and its user.
 */
export function isSSHURL(url: string): { readonly ssh: boolean; readonly user: string } {
    const m = SSH_URL.exec(url);
    return m === null ? { ssh: false, user: "" } : { ssh: true, user: m[2] };
}

/**
 * Upstream util/git/git.go `NormalizeGitURL`: trimmed and lower-cased, `user@host:path` made
 * `ssh://user@host/path`, `.git` dropped, then parsed and re-printed by Go's net/url with `ssh://`
 * dropped again. A URL net/url refuses normalizes to the empty string (so do, among others,
 * `ssh://user@host:path` URLs, whose `:path` is an invalid port).
 */
export function normalizeGitURL(repo: string): string {
    let s = goToLower(goTrimSpace(repo));
    if (isSSHURL(s).ssh && !s.startsWith("ssh://")) {
        s = s.replace(":", "/");
        if (!s.startsWith("ssh://")) s = "ssh://" + s;
    }
    if (s.endsWith(".git")) s = s.slice(0, -".git".length);
    const url = parseGoURL(s);
    if (url === undefined) return "";
    const out = formatGoURL(url);
    return out.startsWith("ssh://") ? out.slice("ssh://".length) : out;
}

/**
 * Upstream app_project_types.go `IsSourcePermitted`: the normalized repository URL against each
 * normalized `sourceRepos` entry, with glob matching where `*` stops at `/` (`**` does not) and
 * a bare `*` permits anything. A deny entry (`!url`) that matches refuses at once; one that does
 * not match counts as a match, so a list of deny entries alone permits every other repository.
 */
export function sourcePermitted(project: AppProjectSpec, repoURL: string): boolean {
    const source = normalizeGitURL(repoURL);
    let anyMatched = false;
    for (const repo of project.sourceRepos ?? []) {
        const normalized = isDenyPattern(repo) ? "!" + normalizeGitURL(repo.slice(1)) : normalizeGitURL(repo);
        if (globMatch(normalized, source, true, ["/"])) {
            anyMatched = true;
        } else if (isDenyPattern(normalized)) {
            return false;
        }
    }
    return anyMatched;
}

// ---------------------------------------------------------------------------------------------
// Resource kinds: Go's path/filepath.Match (Linux), as isResourceInList uses it.

type ChunkResult = { readonly rest: number } | { readonly fail: true } | { readonly error: true };

// Matches one star-free chunk of a filepath pattern at name[at] (UTF-8 bytes, as Go's strings),
// or reports a malformed chunk (checked to its end even after the match has failed, as Go does).
function matchChunk(chunk: Bytes, name: Bytes, at: number): ChunkResult {
    let failed = false;
    let pos = at;
    let i = 0;
    // A possibly escaped character of a class; -1 when malformed (nothing may follow it then).
    const classChar = (): number => {
        if (i >= chunk.length || chunk[i] === DASH || chunk[i] === RBRACKET) return -1;
        if (chunk[i] === BACKSLASH && ++i >= chunk.length) return -1;
        const [r, width] = decodeRune(chunk, i);
        i += width;
        return (r === RUNE_ERROR && width === 1) || i >= chunk.length ? -1 : r;
    };
    while (i < chunk.length) {
        failed = failed || pos >= name.length;
        const c = chunk[i];
        if (c === LBRACKET) {
            let r = 0;
            if (!failed) {
                const [rune, width] = decodeRune(name, pos);
                r = rune;
                pos += width;
            }
            i++;
            const negated = i < chunk.length && chunk[i] === CARET;
            if (negated) i++;
            let matched = false;
            for (let ranges = 0; ; ranges++) {
                if (i < chunk.length && chunk[i] === RBRACKET && ranges > 0) {
                    i++;
                    break;
                }
                const lo = classChar();
                if (lo < 0) return { error: true };
                let hi = lo;
                if (chunk[i] === DASH) {
                    i++;
                    hi = classChar();
                    if (hi < 0) return { error: true };
                }
                matched = matched || (lo <= r && r <= hi);
            }
            failed = failed || matched === negated;
        } else if (c === QUESTION) {
            if (!failed) {
                failed = name[pos] === SLASH;
                pos += decodeRune(name, pos)[1];
            }
            i++;
        } else {
            if (c === BACKSLASH && ++i >= chunk.length) return { error: true };
            if (!failed) failed = chunk[i] !== name[pos++];
            i++;
        }
    }
    return failed ? { fail: true } : { rest: pos };
}

/**
 * Go's path/filepath/match.go `Match` on Linux, which upstream types.go `isResourceInList` applies to a
 * list entry's kind and group: `*` any run without `/`, `?` one character but `/`, `[…]`/`[^…]`
 * classes with ranges, `\` escapes. Like Go it settles each `*` on the leftmost place the next
 * piece fits, without backtracking, and steps over bytes. A malformed pattern matches nothing
 * and reports an error.
 */
export function filepathMatch(pattern: string, name: string): GlobResult {
    const p = encode(pattern);
    const n = encode(name);
    let pi = 0;
    let at = 0;
    const bad: GlobResult = { matched: false, error: "syntax error in pattern" };
    chunks: while (pi < p.length) {
        let star = false;
        while (pi < p.length && p[pi] === STAR) {
            pi++;
            star = true;
        }
        let end = pi;
        for (let inClass = false; end < p.length; end++) {
            if (p[end] === BACKSLASH) {
                if (end + 1 < p.length) end++;
            } else if (p[end] === LBRACKET) {
                inClass = true;
            } else if (p[end] === RBRACKET) {
                inClass = false;
            } else if (p[end] === STAR && !inClass) {
                break;
            }
        }
        const chunk = p.subarray(pi, end);
        pi = end;
        const last = pi >= p.length;
        if (star && chunk.length === 0) return { matched: !n.subarray(at).includes(SLASH) };
        const here = matchChunk(chunk, n, at);
        if ("error" in here) return bad;
        if ("rest" in here && (here.rest === n.length || !last)) {
            at = here.rest;
            continue;
        }
        if (star) {
            for (let skip = at; skip < n.length && n[skip] !== SLASH; skip++) {
                const there = matchChunk(chunk, n, skip + 1);
                if ("error" in there) return bad;
                if ("rest" in there && (there.rest === n.length || !last)) {
                    at = there.rest;
                    continue chunks;
                }
            }
        }
        return { matched: false };
    }
    return { matched: at === n.length };
}

const inResourceList = (list: readonly GroupKind[], group: string, kind: string): boolean =>
    list.some(item => filepathMatch(item.kind, kind).matched && filepathMatch(item.group, group).matched);

/**
 * Upstream app_project_types.go `IsGroupKindPermitted` (lists matched by types.go
 * `isResourceInList`). Namespaced kinds: permitted when the namespace whitelist is absent (nil)
 * or lists the kind, and the blacklist does not; an empty (`[]`) whitelist permits none.
 * Cluster-scoped kinds: permitted only when the cluster whitelist lists the kind (absent or
 * empty permits none) and the cluster blacklist does not.
 */
export function resourcePermitted(project: AppProjectSpec, group: string, kind: string, namespaced: boolean): boolean {
    const whitelist = namespaced ? project.namespaceResourceWhitelist : project.clusterResourceWhitelist;
    const blacklist = (namespaced ? project.namespaceResourceBlacklist : project.clusterResourceBlacklist) ?? [];
    const whitelisted = (namespaced && whitelist == null) || (whitelist != null && whitelist.length > 0 && inResourceList(whitelist, group, kind));
    return whitelisted && !(blacklist.length > 0 && inResourceList(blacklist, group, kind));
}

/**
 * Upstream app_project_types.go `IsResourcePermitted` (also the check the controller runs on
 * every object it syncs, controller/sync.go's permission validator): the kind must be permitted,
 * and an object with a namespace must also have a permitted destination — `cluster` with the
 * object's namespace. A cluster-scoped object (namespace `""`) is judged by its kind alone: its
 * name (say, a Namespace called `kube-system`) never meets the destinations.
 */
export function objectPermitted(
    project: AppProjectSpec,
    cluster: ProjectCluster,
    object: { readonly group: string; readonly kind: string; readonly namespace: string },
    projectClusters: readonly ProjectCluster[] = [],
): boolean {
    if (!resourcePermitted(project, object.group, object.kind, object.namespace !== "")) return false;
    if (object.namespace === "") return true;
    return destinationPermitted(project, { ...cluster, namespace: object.namespace }, projectClusters);
}

// ---------------------------------------------------------------------------------------------
// Specs from untyped data.

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

function list<T>(raw: Record<string, unknown>, key: string, item: (x: unknown, where: string) => T): readonly T[] | null | undefined {
    const value = raw[key];
    if (value === undefined || value === null) return value;
    if (!Array.isArray(value)) throw new Error(`AppProject spec: ${key} is not a list`);
    return value.map((x, i) => item(x, `${key}[${i}]`));
}

function str(x: unknown, where: string): string {
    if (typeof x !== "string") throw new Error(`AppProject spec: ${where} is not a string`);
    return x;
}

function fields<K extends string>(keys: readonly K[], required: readonly K[]) {
    return (x: unknown, where: string): { [P in K]?: string } => {
        if (!isRecord(x)) throw new Error(`AppProject spec: ${where} is not an object`);
        const out: { [P in K]?: string } = {};
        for (const k of keys) {
            if (x[k] !== undefined || required.includes(k)) out[k] = str(x[k], `${where}.${k}`);
        }
        return out;
    };
}

/**
 * An {@link AppProjectSpec} from untyped data (such as the spec objects components/platform/values.ts
 * builds), checking the shape of the fields these rules read and keeping absent, `null` and
 * empty lists apart, as Go's JSON decoding of upstream types.go `AppProjectSpec` does (a nil
 * slice for absent or `null`, an empty one for `[]`). Throws on a field of the wrong shape.
 */
export function appProjectSpecFrom(raw: unknown): AppProjectSpec {
    if (!isRecord(raw)) throw new Error("AppProject spec: not an object");
    const groupKind = fields(["group", "kind"], ["group", "kind"]) as (x: unknown, where: string) => GroupKind;
    const permit = raw.permitOnlyProjectScopedClusters;
    if (permit !== undefined && typeof permit !== "boolean") throw new Error("AppProject spec: permitOnlyProjectScopedClusters is not a boolean");
    return {
        sourceRepos: list(raw, "sourceRepos", str),
        destinations: list(raw, "destinations", fields(["server", "name", "namespace"], [])),
        clusterResourceWhitelist: list(raw, "clusterResourceWhitelist", groupKind),
        clusterResourceBlacklist: list(raw, "clusterResourceBlacklist", groupKind),
        namespaceResourceWhitelist: list(raw, "namespaceResourceWhitelist", groupKind),
        namespaceResourceBlacklist: list(raw, "namespaceResourceBlacklist", groupKind),
        sourceNamespaces: list(raw, "sourceNamespaces", str),
        permitOnlyProjectScopedClusters: permit,
    };
}
