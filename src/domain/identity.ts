import { TesseraError } from "./errors.js";

/**
 * Where an mTLS identity comes from: the certificate's SPIFFE ID (its URI SAN) or its subject
 * common name. Identities are keyed by (source, id) everywhere, so a certificate whose CN reads
 * `spiffe://…` is a CN, never that SPIFFE ID.
 */
export type IdentitySource = "spiffe" | "cn";

/** A service identity as bindings and lookups key it. */
export interface ServiceIdentity {
  readonly source: IdentitySource;
  readonly id: string;
}

/**
 * A slice of identities the operator assigns to one org: a SPIFFE trust domain or path prefix
 * (`pattern` ends in `/`, `match: "prefix"`), one SPIFFE ID, or one certificate CN (exact).
 */
export interface IdentityNamespace {
  readonly source: IdentitySource;
  readonly pattern: string;
  readonly match: "prefix" | "exact";
}

const SPIFFE = "spiffe://";
const MAX_SPIFFE_LENGTH = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// The SPIFFE ID grammar: no percent-encoding, query, fragment, empty, "." or ".." segment.
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const COMMON_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$/;
const CN_PREFIX = "cn:";

/** True when `text` is a SPIFFE ID in the spec's canonical form (`spiffe://td` or `spiffe://td/a/b`). */
export function isSpiffeId(text: string): boolean {
  if (!text.startsWith(SPIFFE) || text.length > MAX_SPIFFE_LENGTH) return false;
  const [domain, ...path] = text.slice(SPIFFE.length).split("/");
  if (!domain || !TRUST_DOMAIN.test(domain)) return false;
  return path.every((s) => SEGMENT.test(s) && s !== "." && s !== "..");
}

/**
 * A service identity from its text: `spiffe://…` is a SPIFFE ID, anything else a certificate
 * CN. `source` when given must agree. Throws IDENTITY_INVALID.
 */
export function parseServiceIdentity(text: string, source?: IdentitySource): ServiceIdentity {
  const inferred: IdentitySource = text.startsWith(SPIFFE) ? "spiffe" : "cn";
  const valid = inferred === "spiffe" ? isSpiffeId(text) : COMMON_NAME.test(text);
  if (!valid || (source !== undefined && source !== inferred)) {
    throw new TesseraError(
      "IDENTITY_INVALID",
      "identity must be a SPIFFE ID (spiffe://trust-domain/path) or a certificate CN of [A-Za-z0-9 ._-]",
    );
  }
  return { source: inferred, id: text };
}

/**
 * A namespace from its text: `spiffe://td/` or `spiffe://td` (the whole trust domain),
 * `spiffe://td/a/b/` (every ID under that path, whole segments only), `spiffe://td/a/b`
 * (exactly that ID) or `cn:NAME` (exactly that CN). Throws NAMESPACE_INVALID.
 */
export function parseNamespace(text: string): IdentityNamespace {
  if (text.startsWith(CN_PREFIX)) {
    const name = text.slice(CN_PREFIX.length);
    if (COMMON_NAME.test(name)) return { source: "cn", pattern: name, match: "exact" };
  } else if (text.startsWith(SPIFFE)) {
    const root = text.endsWith("/") ? text.slice(0, -1) : text;
    if (isSpiffeId(root)) {
      const wholeDomain = !root.slice(SPIFFE.length).includes("/");
      return wholeDomain || text.endsWith("/")
        ? { source: "spiffe", pattern: `${root}/`, match: "prefix" }
        : { source: "spiffe", pattern: root, match: "exact" };
    }
  }
  throw new TesseraError(
    "NAMESPACE_INVALID",
    "a namespace is spiffe://trust-domain/, spiffe://trust-domain/path/, spiffe://trust-domain/path or cn:NAME",
  );
}

/** The text form of a namespace, as parseNamespace reads it. */
export function formatNamespace(ns: IdentityNamespace): string {
  return ns.source === "cn" ? `${CN_PREFIX}${ns.pattern}` : ns.pattern;
}

/** The text form of an identity: a SPIFFE ID as is, a CN as `cn:NAME` (never mistaken for one). */
export function formatIdentity(identity: ServiceIdentity): string {
  return identity.source === "cn" ? `${CN_PREFIX}${identity.id}` : identity.id;
}

/** True when `ns` contains `identity`: same source, and the exact ID or one under the prefix. */
export function namespaceCovers(ns: IdentityNamespace, identity: ServiceIdentity): boolean {
  if (ns.source !== identity.source) return false;
  if (ns.match === "exact") return ns.pattern === identity.id;
  // The pattern ends in "/", so a prefix match always ends on a segment boundary.
  return identity.id === ns.pattern.slice(0, -1) || identity.id.startsWith(ns.pattern);
}

/** True when some identity could lie in both namespaces. */
export function namespacesOverlap(a: IdentityNamespace, b: IdentityNamespace): boolean {
  if (a.source !== b.source) return false;
  const root = (ns: IdentityNamespace) => (ns.match === "prefix" ? ns.pattern.slice(0, -1) : ns.pattern);
  return (
    namespaceCovers(a, { source: b.source, id: root(b) }) ||
    namespaceCovers(b, { source: a.source, id: root(a) })
  );
}
