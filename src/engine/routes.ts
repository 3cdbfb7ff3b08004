import { LIMITS } from "../domain/limits.js";
import { policyError } from "./document.js";
import { parseIdTemplate, parsePathTemplate } from "./routemap.js";
import type { Effect, PolicyDocument, RouteMintSpec } from "./types.js";

/** An HTTP request as routing sees it. `path` may carry a query string. */
export interface HttpRequest {
  readonly method: string;
  /** The Host (or :authority); a port and a trailing dot are ignored, case does not matter. Absent: "". */
  readonly host?: string | undefined;
  readonly path: string;
}

/** A request a route matched: the scope and resource it asks for. */
export interface RouteMatch {
  readonly noRoute?: undefined;
  /** The RouteMap document whose route matched. */
  readonly routeMap: string;
  /** The route's path template, as written. */
  readonly route: string;
  readonly scope: string;
  readonly resource: { readonly kind: string; readonly id: string };
  /** The placeholders' values, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The query string's parameters, decoded, first value of each (the first LIMITS.routeQueryKeys). */
  readonly query: Readonly<Record<string, string>>;
  /** Set when an ALLOW of this route carries a downstream token (decide and mint). */
  readonly mint?: RouteMintSpec | undefined;
}

/** A request no route matched: `default` says what it gets. */
export interface NoRoute {
  readonly noRoute: true;
  readonly default: Effect;
  readonly query: Readonly<Record<string, string>>;
  /**
   * Set when the path itself was refused (not `/…`, a `.` or `..` segment, an empty segment,
   * bad or dangerous percent-encoding): `default` is then always deny.
   */
  readonly badPath?: string | undefined;
}

export type RouteResult = RouteMatch | NoRoute;

/** Host patterns of a RouteMap: exact names, and `.suffix` for each `*.suffix`. Undefined: any host. */
interface HostSet {
  readonly exact: ReadonlySet<string>;
  readonly suffixes: readonly string[];
}

interface CompiledRoute {
  readonly routeMap: string;
  readonly route: string;
  readonly hosts: HostSet | undefined;
  readonly scope: string;
  readonly kind: string;
  /** The id template: literal text and indexes into the request's placeholder values. */
  readonly id: readonly (string | number)[];
  /** The placeholders' names, in path order. */
  readonly params: readonly string[];
  readonly mint: RouteMintSpec | undefined;
}

interface Node {
  literal: Map<string, Node> | undefined;
  param: Node | undefined;
  /** Routes ending here by method (several when their hosts do not overlap). */
  end: Map<string, CompiledRoute[]> | undefined;
}

/** An org's RouteMaps compiled into one segment trie, and each map's hosts and default. */
export interface RouteTable {
  readonly root: Node;
  readonly defaults: readonly { readonly hosts: HostSet | undefined; readonly effect: Effect }[];
  readonly routeCount: number;
}

const newNode = (): Node => ({ literal: undefined, param: undefined, end: undefined });

function hostSet(hosts: readonly string[] | undefined): HostSet | undefined {
  if (!hosts) return undefined;
  return {
    exact: new Set(hosts.filter((h) => !h.startsWith("*."))),
    suffixes: hosts.filter((h) => h.startsWith("*.")).map((h) => h.slice(1)),
  };
}

function hostIn(set: HostSet | undefined, host: string): boolean {
  if (!set) return true;
  if (set.exact.has(host)) return true;
  for (const s of set.suffixes) if (host.length > s.length && host.endsWith(s)) return true;
  return false;
}

/** True when some host is in both sets (absent: every host). */
function hostsOverlap(a: HostSet | undefined, b: HostSet | undefined): boolean {
  if (!a || !b) return true;
  for (const h of a.exact) if (hostIn(b, h)) return true;
  for (const h of b.exact) if (hostIn(a, h)) return true;
  for (const s of a.suffixes) for (const t of b.suffixes) if (s.endsWith(t) || t.endsWith(s)) return true;
  return false;
}

/**
 * Compiles every RouteMap of a set into one trie. Two routes that could match one request (same
 * method, same path shape whatever the placeholders' names, overlapping hosts) are refused with
 * POLICY_INVALID, in one document or across documents: no order decides between them.
 */
export function compileRoutes(documents: readonly PolicyDocument[]): RouteTable {
  const root = newNode();
  const defaults: { hosts: HostSet | undefined; effect: Effect }[] = [];
  let routeCount = 0;
  for (const doc of documents) {
    const map = doc.routeMap;
    if (!map) continue;
    const hosts = hostSet(map.hosts);
    defaults.push({ hosts, effect: map.default });
    for (const [i, spec] of map.routes.entries()) {
      const segments = parsePathTemplate(spec.path);
      const fail = (msg: string) => policyError(doc.file ?? doc.name, doc.routePosition?.(i), msg);
      if (typeof segments === "string") throw fail(segments);
      const params = segments.flatMap((s) => ("param" in s ? [s.param] : []));
      const idTemplate = parseIdTemplate(spec.resource.id ?? "", new Set(params));
      if (typeof idTemplate === "string") throw fail(idTemplate);
      let node = root;
      for (const s of segments) {
        if ("param" in s) {
          node.param ??= newNode();
          node = node.param;
        } else {
          node.literal ??= new Map();
          let next = node.literal.get(s.literal);
          if (!next) {
            next = newNode();
            node.literal.set(s.literal, next);
          }
          node = next;
        }
      }
      const route: CompiledRoute = {
        routeMap: doc.name,
        route: spec.path,
        hosts,
        scope: spec.scope,
        kind: spec.resource.kind,
        id: idTemplate.parts.map((p) => (typeof p === "string" ? p : params.indexOf(p.param))),
        params,
        mint: spec.mint ?? map.mint,
      };
      node.end ??= new Map();
      for (const method of spec.methods) {
        const list = node.end.get(method) ?? [];
        const clash = list.find((r) => hostsOverlap(r.hosts, hosts));
        if (clash)
          throw fail(
            `route ${method} ${spec.path} overlaps ${method} ${clash.route} of RouteMap "${clash.routeMap}" (same method and path, overlapping hosts)`,
          );
        list.push(route);
        node.end.set(method, list);
      }
      routeCount++;
    }
  }
  return { root, defaults, routeCount };
}

/** The host as compared: lowercase, without a port or a trailing dot. */
export function normalizeHost(host: string | undefined): string {
  if (!host) return "";
  let h = host.toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1); // an IPv6 literal
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** A percent-decoded path segment, or undefined when it must be refused. */
function decodeSegment(raw: string): string | undefined {
  let seg = raw;
  if (raw.includes("%")) {
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined; // a bad escape or invalid UTF-8
    }
  }
  // `.`/`..` (written or encoded) would be resolved differently by the backend; an encoded `/`
  // or a backslash would be a separator to some; `;` starts path parameters that some servers
  // strip (`/admin;x` is `/admin` to them, `..;` is `..`); control characters are no path's.
  if (seg === "" || seg === "." || seg === "..") return undefined;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f || c === 0x5c || c === 0x3b) return undefined;
  }
  return seg;
}

/** `+` is a space in a query; a bad escape is kept as written. */
function decodeQueryPart(s: string): string {
  const t = s.includes("+") ? s.replaceAll("+", " ") : s;
  if (!t.includes("%")) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}

const NO_QUERY: Readonly<Record<string, string>> = Object.freeze({});

/** The query's parameters, first value of each, the first LIMITS.routeQueryKeys keys. */
export function parseQuery(query: string): Readonly<Record<string, string>> {
  if (!query) return NO_QUERY;
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  // Walked with indexOf, not split: a long query costs no more than the keys it keeps.
  for (let start = 0; start <= query.length && seen.size < LIMITS.routeQueryKeys; ) {
    const amp = query.indexOf("&", start);
    const end = amp < 0 ? query.length : amp;
    if (end > start) {
      const eq = query.indexOf("=", start);
      const hasValue = eq >= 0 && eq < end;
      const key = decodeQueryPart(query.slice(start, hasValue ? eq : end));
      if (!seen.has(key)) {
        seen.add(key);
        entries.push([key, hasValue ? decodeQueryPart(query.slice(eq + 1, end)) : ""]);
      }
    }
    if (amp < 0) break;
    start = amp + 1;
  }
  // fromEntries defines own properties: a `__proto__` key is a key like any other.
  return Object.fromEntries(entries);
}

/** The default for a request no route matched: deny unless every RouteMap covering its host says allow. */
function defaultFor(table: RouteTable, host: string): Effect {
  let covered = false;
  for (const d of table.defaults) {
    if (!hostIn(d.hosts, host)) continue;
    if (d.effect === "deny") return "deny";
    covered = true;
  }
  return covered ? "allow" : "deny";
}

/**
 * Depth-first over the trie, a literal child before the placeholder child: the most specific
 * route wins, and a dead end under a literal falls back to the placeholder. Each trie node is
 * visited at most once, so the cost is bounded by the request's segments and the trie.
 */
function walk(
  node: Node,
  segs: readonly string[],
  i: number,
  values: string[],
  method: string,
  host: string,
): CompiledRoute | undefined {
  if (i === segs.length) {
    const routes = node.end?.get(method);
    if (routes) for (const r of routes) if (hostIn(r.hosts, host)) return r;
    return undefined;
  }
  const seg = segs[i] as string;
  const lit = node.literal?.get(seg);
  if (lit) {
    const found = walk(lit, segs, i + 1, values, method, host);
    if (found) return found;
  }
  if (node.param) {
    values.push(seg);
    const found = walk(node.param, segs, i + 1, values, method, host);
    if (found) return found;
    values.pop();
  }
  return undefined;
}

/**
 * Routes a request. Pure and synchronous. The path is split on `/` before percent-decoding
 * (so `%2F` never makes a segment); one trailing slash is ignored; a path that is not `/…`,
 * has an empty, `.` or `..` segment (written or encoded), a bad escape, or decodes to a `/`,
 * `\`, `;` or control character is refused whatever the default (`badPath`, deny). Methods are
 * compared as given (uppercase), paths case-sensitively, hosts case-insensitively.
 */
export function routeRequest(table: RouteTable, req: HttpRequest): RouteResult {
  const q = req.path.indexOf("?");
  const rawPath = q < 0 ? req.path : req.path.slice(0, q);
  const query = q < 0 ? NO_QUERY : parseQuery(req.path.slice(q + 1));
  const host = normalizeHost(req.host);
  const bad = (badPath: string): NoRoute => ({ noRoute: true, default: "deny", query, badPath });
  if (!rawPath.startsWith("/")) return bad("the path must start with /");
  if (rawPath.includes("#")) return bad("the path has a fragment");
  const body = rawPath.length > 1 && rawPath.endsWith("/") ? rawPath.slice(1, -1) : rawPath.slice(1);
  const segs: string[] = [];
  if (body !== "") {
    let start = 0;
    for (;;) {
      const slash = body.indexOf("/", start);
      const seg = decodeSegment(slash < 0 ? body.slice(start) : body.slice(start, slash));
      if (seg === undefined) return bad("an empty, . or .. segment, a ;, or a bad or unsafe escape");
      segs.push(seg);
      if (slash < 0) break;
      if (segs.length >= LIMITS.routeSegments) return noRoute(table, host, query); // no route is that deep
      start = slash + 1;
    }
  }
  const values: string[] = [];
  const r = walk(table.root, segs, 0, values, req.method, host);
  if (!r) return noRoute(table, host, query);
  const params: Record<string, string> = {};
  for (let i = 0; i < r.params.length; i++) params[r.params[i] as string] = values[i] as string;
  let id = "";
  for (const p of r.id) id += typeof p === "string" ? p : values[p];
  return {
    routeMap: r.routeMap,
    route: r.route,
    scope: r.scope,
    resource: { kind: r.kind, id },
    params,
    query,
    ...(r.mint ? { mint: r.mint } : {}),
  };
}

function noRoute(table: RouteTable, host: string, query: Readonly<Record<string, string>>): NoRoute {
  return { noRoute: true, default: defaultFor(table, host), query };
}
