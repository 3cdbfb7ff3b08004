import type { Caller } from "../core/access.js";
import type { CallContext } from "../core/context.js";
import type { RateLimits } from "../core/rate-limits.js";
import type { PlainAdmission } from "./authzen.js";
import type { ServiceBinding } from "./handlers.js";

/**
 * Who a call is charged to: its caller's credential, resolved at once when it can be (null when
 * the call carries none, or a bad one: the handler refuses that itself), or a promise when a
 * bearer token still needs verifying.
 */
export type ChargeTo = (ctx: CallContext) => Caller | null | undefined | Promise<Caller | null>;

/** Resolution errors are the handler's to report (with its own reason): here they mean "no charge". */
function resolve(chargeTo: ChargeTo, ctx: CallContext): Caller | null | Promise<Caller | null> {
  try {
    const c = chargeTo(ctx);
    if (c instanceof Promise) return c.catch(() => null);
    return c ?? null;
  } catch {
    return null;
  }
}

/**
 * Runs `run` once the call's credential has a token, or refuses it with RATE_LIMITED. With no
 * limit set anywhere this is one property read; a synchronous handler stays synchronous while
 * the caller's credential is known at once and its tokens are at hand.
 */
function limited<R>(
  limits: RateLimits,
  chargeTo: ChargeTo,
  ctx: CallContext,
  run: () => R | Promise<R>,
): R | Promise<R> {
  if (!limits.active) return run();
  const caller = resolve(chargeTo, ctx);
  if (caller instanceof Promise)
    return caller.then((c) => {
      const wait = c ? limits.check(c) : undefined;
      return wait ? wait.then(run) : run();
    });
  const wait = caller ? limits.check(caller) : undefined;
  return wait ? wait.then(run) : run();
}

/** The binding with every handler charged to its caller's credential first. */
export function rateLimitBinding(
  binding: ServiceBinding,
  limits: RateLimits,
  chargeTo: ChargeTo,
): ServiceBinding {
  const handlers: ServiceBinding["handlers"] = {};
  for (const [name, handler] of Object.entries(binding.handlers))
    handlers[name] = (req, ctx) => limited(limits, chargeTo, ctx, () => handler(req, ctx));
  return { ...binding, handlers };
}

/** A plain endpoint's admission, with the rate limit checked before it (AuthZEN, forward auth). */
export function rateLimitPlain(
  admission: PlainAdmission,
  limits: RateLimits,
  chargeTo: ChargeTo,
): PlainAdmission {
  return {
    guard: (ctx, run) => {
      if (!limits.active) return admission.guard(ctx, run);
      return Promise.resolve(limited(limits, chargeTo, ctx, () => admission.guard(ctx, run)));
    },
  };
}
