import { isObject } from "../domain/json.js";
import { LIMITS } from "../domain/limits.js";
import { isScope } from "../domain/scopes.js";
import type { Invalid as InvalidT, Loc } from "./document.js";
import type { HttpMethod, RouteMapSpec, RouteMintSpec, RouteSpec } from "./types.js";

/** The methods a route may name: RFC 9110's, and PATCH. Uppercase, as they travel. */
export const HTTP_METHODS: ReadonlySet<string> = new Set<HttpMethod>([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

const KIND = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const PLACEHOLDER = /^\{([A-Za-z_][A-Za-z0-9_]{0,63})\}$/;
/** A literal segment: RFC 3986 pchar but `;` (refused in requests), unencoded (requests are compared after decoding). */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,=:@]+$/;
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
const SPEC_FIELDS = new Set(["hosts", "routes", "default", "mint"]);
const ROUTE_FIELDS = new Set(["match", "scope", "resource", "mint"]);
const MINT_FIELDS = new Set(["ttl", "audience"]);
/** A mint lifetime: seconds, written `90`, `90s`, `15m` or `1h`. */
const TTL = /^([1-9][0-9]{0,5})(s|m|h)?$/;
const TTL_UNIT = { s: 1, m: 60, h: 3600 } as const;
const MATCH_FIELDS = new Set(["method", "methods", "path"]);
const RESOURCE_FIELDS = new Set(["kind", "id"]);

type Fail = typeof InvalidT;

const encoder = new TextEncoder();
/** UTF-8 length (validation only: it allocates). */
const utf8Bytes = (s: string) => encoder.encode(s).length;

/** One segment of a parsed path template: a literal, or a placeholder's name. */
export type TemplateSegment = { readonly literal: string } | { readonly param: string };

/**
 * Parses a path template into segments, or says what is wrong with it. `/` is the root (no
 * segments); a trailing slash is refused (requests' one trailing slash is ignored instead).
 */
export function parsePathTemplate(path: string): TemplateSegment[] | string {
  if (!path.startsWith("/")) return "path must start with /";
  if (utf8Bytes(path) > LIMITS.routePathBytes) return `path is longer than ${LIMITS.routePathBytes} bytes`;
  if (path === "/") return [];
  if (path.endsWith("/")) return "path must not end with / (a request's trailing slash is ignored)";
  const raw = path.slice(1).split("/");
  if (raw.length > LIMITS.routeSegments) return `path has more than ${LIMITS.routeSegments} segments`;
  const seen = new Set<string>();
  const out: TemplateSegment[] = [];
  for (const seg of raw) {
    if (seg === "") return "path has an empty segment (//)";
    const p = PLACEHOLDER.exec(seg);
    if (p?.[1]) {
      if (p[1] === "__proto__") return "placeholder {__proto__} is not allowed";
      if (seen.has(p[1])) return `placeholder {${p[1]}} appears twice`;
      seen.add(p[1]);
      out.push({ param: p[1] });
      continue;
    }
    if (seg.includes("{") || seg.includes("}"))
      return `segment "${seg}": a placeholder is a whole segment, {name} of [A-Za-z0-9_]`;
    if (seg === "." || seg === "..") return `segment "${seg}" is not allowed`;
    if (!LITERAL.test(seg))
      return `segment "${seg}": only unreserved characters, sub-delims but ;, : and @ (no % escapes)`;
    out.push({ literal: seg });
  }
  return out;
}

/** Splits a resource id template into literal text and placeholder names; undefined when it uses an unknown one. */
export function parseIdTemplate(
  template: string,
  params: ReadonlySet<string>,
): { parts: (string | { param: string })[] } | string {
  const parts: (string | { param: string })[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    const name = m[1] ?? "";
    if (!params.has(name)) return `resource id uses {${name}}, which the path does not define`;
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ param: name });
    last = m.index + m[0].length;
  }
  const rest = template.slice(last);
  if (rest.includes("{") || rest.includes("}") || parts.some((p) => typeof p === "string" && /[{}]/.test(p)))
    return "resource id has an unbalanced { or }";
  if (rest) parts.push(rest);
  return { parts };
}

function only(v: Record<string, unknown>, allowed: ReadonlySet<string>, at: (string | number)[], fail: Fail) {
  for (const key of Object.keys(v))
    if (!allowed.has(key)) throw new fail(`unknown field "${key}"`, { path: [...at, key], key: true });
}

function parseMethods(m: Record<string, unknown>, at: (string | number)[], fail: Fail): HttpMethod[] {
  if ((m.method === undefined) === (m.methods === undefined))
    throw new fail("match needs one of method or methods", { path: at });
  const list = m.method !== undefined ? [m.method] : m.methods;
  const where: Loc = { path: [...at, m.method !== undefined ? "method" : "methods"] };
  if (!Array.isArray(list) || list.length === 0) throw new fail("methods must be a non-empty list", where);
  for (const x of list) {
    if (typeof x !== "string" || !HTTP_METHODS.has(x))
      throw new fail(`unknown method "${String(x)}" (uppercase: ${[...HTTP_METHODS].join(", ")})`, where);
  }
  if (new Set(list).size !== list.length) throw new fail("a method is listed twice", where);
  return list as HttpMethod[];
}

/**
 * A `mint:` mapping (decide and mint). The lifetime is bounded here only loosely (a day): the
 * server cuts it to its own maximum and to the subject token's expiry when it mints.
 */
function parseMint(raw: unknown, at: (string | number)[], fail: Fail): RouteMintSpec | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw))
    throw new fail("mint must be a mapping (ttl, audience), {} for the defaults", { path: at });
  only(raw, MINT_FIELDS, at, fail);
  let ttlSeconds: number | undefined;
  if (raw.ttl !== undefined) {
    const m = TTL.exec(String(raw.ttl));
    const seconds = m ? Number(m[1]) * TTL_UNIT[(m[2] ?? "s") as keyof typeof TTL_UNIT] : Number.NaN;
    if (typeof raw.ttl === "boolean" || !(seconds <= LIMITS.routeMintTtlSeconds))
      throw new fail(
        `mint.ttl must be a lifetime like 60s, 15m or 1h, at most ${LIMITS.routeMintTtlSeconds}s`,
        {
          path: [...at, "ttl"],
        },
      );
    ttlSeconds = seconds;
  }
  let audience: string | undefined;
  if (raw.audience !== undefined) {
    if (typeof raw.audience !== "string" || raw.audience === "" || utf8Bytes(raw.audience) > LIMITS.idBytes)
      throw new fail(`mint.audience must be a non-empty string of at most ${LIMITS.idBytes} bytes`, {
        path: [...at, "audience"],
      });
    audience = raw.audience;
  }
  return { ttlSeconds, audience };
}

function parseRoute(raw: unknown, at: (string | number)[], fail: Fail): RouteSpec {
  if (!isObject(raw)) throw new fail("a route must be a mapping", { path: at });
  only(raw, ROUTE_FIELDS, at, fail);
  const m = raw.match;
  if (!isObject(m)) throw new fail("a route needs a match mapping", { path: at });
  only(m, MATCH_FIELDS, [...at, "match"], fail);
  const methods = parseMethods(m, [...at, "match"], fail);
  const pathAt: Loc = { path: m.path === undefined ? [...at, "match"] : [...at, "match", "path"] };
  if (typeof m.path !== "string") throw new fail("match needs a path", pathAt);
  const segments = parsePathTemplate(m.path);
  if (typeof segments === "string") throw new fail(segments, pathAt);
  if (typeof raw.scope !== "string" || !isScope(raw.scope))
    throw new fail("scope must be a concrete scope, domain:verb", { path: [...at, "scope"] });
  const r = raw.resource;
  if (!isObject(r)) throw new fail("a route needs a resource mapping with a kind", { path: at });
  only(r, RESOURCE_FIELDS, [...at, "resource"], fail);
  if (typeof r.kind !== "string" || !KIND.test(r.kind))
    throw new fail("resource.kind must be of [a-z0-9_.-]", { path: [...at, "resource"] });
  let id: string | undefined;
  if (r.id !== undefined) {
    if (typeof r.id !== "string" || utf8Bytes(r.id) > LIMITS.idBytes)
      throw new fail(`resource.id must be a string of at most ${LIMITS.idBytes} bytes`, {
        path: [...at, "resource", "id"],
      });
    const params = new Set(segments.flatMap((s) => ("param" in s ? [s.param] : [])));
    const parsed = parseIdTemplate(r.id, params);
    if (typeof parsed === "string") throw new fail(parsed, { path: [...at, "resource", "id"] });
    id = r.id;
  }
  const mint = parseMint(raw.mint, [...at, "mint"], fail);
  return { methods, path: m.path, scope: raw.scope, resource: { kind: r.kind, id }, mint };
}

function parseHosts(v: unknown, fail: Fail): string[] | undefined {
  if (v === undefined) return undefined;
  const at = { path: ["spec", "hosts"] };
  if (!Array.isArray(v) || v.length === 0 || v.length > LIMITS.routeHosts)
    throw new fail(`hosts must be a list of 1 to ${LIMITS.routeHosts} host names`, at);
  for (const [i, h] of v.entries()) {
    if (typeof h !== "string" || h.length > LIMITS.hostBytes || !HOST.test(h))
      throw new fail(
        `host "${String(h)}" must be a lowercase host name, or *. and one (no port, no other wildcard)`,
        { path: ["spec", "hosts", i] },
      );
  }
  if (new Set(v).size !== v.length) throw new fail("a host is listed twice", at);
  return v as string[];
}

/** Validates a RouteMap's spec; `fail` is document.ts's Invalid (passed in: the two modules import each other). */
export function parseRouteMapSpec(spec: Record<string, unknown>, fail: Fail): RouteMapSpec {
  only(spec, SPEC_FIELDS, ["spec"], fail);
  const hosts = parseHosts(spec.hosts, fail);
  const def = spec.default ?? "deny";
  if (def !== "allow" && def !== "deny")
    throw new fail("default must be allow or deny", { path: ["spec", "default"] });
  if (!Array.isArray(spec.routes)) throw new fail("spec.routes must be a list", { path: ["spec"] });
  if (spec.routes.length > LIMITS.routesPerDocument)
    throw new fail(`more than ${LIMITS.routesPerDocument} routes`, { path: ["spec", "routes"] });
  const routes = spec.routes.map((r, i) => parseRoute(r, ["spec", "routes", i], fail));
  const mint = parseMint(spec.mint, ["spec", "mint"], fail);
  return { hosts, routes, default: def, mint };
}
