import { isObject } from "./json.js";
/**
 * Attenuation: what a delegated token may hold relative to its minter's. Pure functions, so
 * property tests can check that a minted token never holds more than its minter.
 */

/** True when scope pattern `parent` covers every scope `child` covers. */
export function patternCovers(parent: string, child: string): boolean {
  if (parent === "*" || parent === "*:*") return true;
  if (child === "*") return false;
  const [pd = "", pv = ""] = parent.split(":");
  const [cd = "", cv = ""] = child.split(":");
  const seg = (p: string, c: string) => p === "*" || (c !== "*" && p === c);
  return seg(pd, cd) && seg(pv, cv);
}

/** The requested scopes no held pattern covers (empty when the request is within). */
export function scopesBeyond(held: readonly string[], requested: readonly string[]): string[] {
  return requested.filter((r) => !held.some((h) => patternCovers(h, r)));
}

/** Comma-separated ports as a set; undefined when malformed. */
export function parsePorts(text: string): Set<number> | undefined {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const p = part.trim();
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return undefined;
    out.add(Number(p));
  }
  return out;
}

/** True when `child` asks for nothing `parent` does not have: keys ⊆, lists ⊆, scalars equal. */
export function valueWithin(parent: unknown, child: unknown): boolean {
  if (isObject(child)) {
    return (
      isObject(parent) && Object.entries(child).every(([k, v]) => k in parent && valueWithin(parent[k], v))
    );
  }
  if (Array.isArray(child)) {
    return (
      Array.isArray(parent) && child.every((c) => parent.some((p) => valueWithin(p, c) && valueWithin(c, p)))
    );
  }
  return parent === child;
}

export interface GrantSet {
  readonly room?: string | undefined;
  readonly role?: string | undefined;
  readonly tunnel_ports?: string | undefined;
  readonly api?: Readonly<Record<string, unknown>> | undefined;
}

/** The grant fields of `child` that exceed `parent` (absent in the parent means not held). */
export function grantsBeyond(parent: GrantSet | undefined, child: GrantSet | undefined): string[] {
  const p = parent ?? {};
  const c = child ?? {};
  const out: string[] = [];
  if (c.room !== undefined && c.room !== p.room) out.push("room");
  if (c.role !== undefined && c.role !== p.role) out.push("role");
  if (c.tunnel_ports !== undefined) {
    const held = p.tunnel_ports === undefined ? undefined : parsePorts(p.tunnel_ports);
    const asked = parsePorts(c.tunnel_ports);
    if (!held || !asked || [...asked].some((port) => !held.has(port))) out.push("tunnel_ports");
  }
  if (c.api !== undefined && !valueWithin(p.api, c.api)) out.push("api");
  return out;
}

/** Links in an RFC 8693 `act` chain. */
export function actDepth(act: { act?: unknown } | undefined): number {
  let depth = 0;
  for (let a: unknown = act; a && typeof a === "object"; a = (a as { act?: unknown }).act) depth++;
  return depth;
}
