import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { CallContext } from "./context.js";

/** Where a login comes from, as the transport saw it. */
export interface LoginOrigin {
  /** The caller's network address. */
  readonly address?: string | undefined;
  /** The verified mTLS identity, when the caller presented a certificate. */
  readonly peer?: string | undefined;
}

/** The origin of the call a login arrives in. */
export function loginOrigin(ctx: CallContext): LoginOrigin {
  return { address: ctx.remote(), peer: ctx.peer()?.id };
}

/**
 * The key a source is counted under: its mTLS identity when it has one, else its address,
 * IPv6 by /64 (one host usually holds a whole /64), IPv4-mapped IPv6 as IPv4. Undefined when
 * the transport could not tell (such calls are limited per username and org only).
 */
export function sourceKey(o: LoginOrigin): string | undefined {
  if (o.peer) return o.peer.length <= 200 ? `mtls:${o.peer}` : `mtls#${sha256(o.peer)}`;
  const a = o.address?.startsWith("::ffff:") && isIPv4(o.address.slice(7)) ? o.address.slice(7) : o.address;
  if (a && isIPv4(a)) return `ip:${a}`;
  if (a && isIPv6(a)) return `ip6:${ipv6Prefix64(a)}`;
  return undefined;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0::/64`). */
function ipv6Prefix64(address: string): string {
  const [head = "", tail] = address.split("%")[0]?.split("::") ?? [""];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
