import type { KeyObject } from "node:crypto";
import { errors, jwtVerify } from "jose";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { epochSeconds } from "../domain/time.js";
import type { AgentKeyAlg } from "./public-keys.js";
import { hasDuplicateKeys } from "./strict-json.js";

/** Assertions larger than this are refused before any parsing. */
export const MAX_ASSERTION_BYTES = LIMITS.assertionBytes;
/** The longest an assertion may live: a short life bounds replay and the used-jti table. */
export const MAX_ASSERTION_SECONDS = 300;
const MAX_JTI_LENGTH = 128;
// Keys come only from the agent's registered set: jku/x5u/jwk/x5c/crit/b64 are refused outright.
const ALLOWED_HEADER = new Set(["alg", "kid", "typ"]);
const ALGORITHMS = new Set<unknown>(["EdDSA", "RS256"]);
const B64URL = /^[A-Za-z0-9_-]*$/;

/** What an assertion claims about itself, before anything is trusted. */
export interface UnverifiedAssertion {
  readonly alg: AgentKeyAlg;
  readonly kid: string | undefined;
  /** iss = sub: the agent the assertion speaks for. */
  readonly agentId: string;
}

/** A registered key to try, pinned to its one algorithm. */
export interface AssertionKey {
  readonly key: KeyObject;
  readonly alg: AgentKeyAlg;
}

export interface AssertionCheck {
  readonly audience: string;
  readonly clockToleranceSeconds: number;
  readonly now: () => Date;
}

const invalid = (message: string) => new TesseraError("ASSERTION_INVALID", message);

function parseSegment(part: string): Record<string, unknown> {
  const json = Buffer.from(part, "base64url").toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalid("the assertion's header or claims are not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("the assertion's header and claims must be JSON objects");
  }
  // JSON.parse keeps the last of two equal keys; a signed text that says two things is refused.
  if (hasDuplicateKeys(json)) throw invalid("the assertion's header or claims repeat a key");
  return value as Record<string, unknown>;
}

/**
 * Checks an assertion's size, encoding and header, and reads the agent it names. Nothing
 * returned is trusted until {@link verifyAssertion} has checked the signature.
 */
export function readAssertion(jwt: string): UnverifiedAssertion {
  // Characters never outnumber UTF-8 bytes, so the cheap test goes first.
  if (jwt.length > MAX_ASSERTION_BYTES || Buffer.byteLength(jwt, "utf8") > MAX_ASSERTION_BYTES) {
    throw invalid("the assertion exceeds 8 KiB");
  }
  const parts = jwt.split(".");
  if (parts.length !== 3) throw invalid("an assertion has three dot-separated segments");
  for (const part of parts) {
    // Canonical only (no padding, no spare bits): one assertion has exactly one spelling.
    if (!B64URL.test(part) || Buffer.from(part, "base64url").toString("base64url") !== part) {
      throw invalid("the assertion is not canonical base64url");
    }
  }
  const header = parseSegment(parts[0] as string);
  const claims = parseSegment(parts[1] as string);
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name)) throw invalid(`header parameter "${name}" is not accepted`);
  }
  if (!ALGORITHMS.has(header.alg)) throw invalid("the assertion's alg must be EdDSA or RS256");
  if (header.kid !== undefined && typeof header.kid !== "string") throw invalid("kid must be a string");
  if (header.typ !== undefined && typeof header.typ !== "string") throw invalid("typ must be a string");
  const { iss, sub } = claims;
  if (typeof iss !== "string" || iss === "" || iss !== sub) {
    throw invalid("the assertion's iss and sub must both name the agent");
  }
  return { alg: header.alg as AgentKeyAlg, kid: header.kid, agentId: iss };
}

/**
 * Verifies the assertion with the first of `keys` whose signature matches, and checks its
 * claims. Returns its jti and exp. Every failure, including jose's TypeErrors, is
 * ASSERTION_INVALID.
 */
export async function verifyAssertion(
  jwt: string,
  agentId: string,
  keys: readonly AssertionKey[],
  check: AssertionCheck,
): Promise<{ jti: string; exp: number }> {
  const now = check.now();
  for (const { key, alg } of keys) {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(jwt, key, {
        algorithms: [alg],
        issuer: agentId,
        subject: agentId,
        audience: check.audience,
        currentDate: now,
        clockTolerance: check.clockToleranceSeconds,
        requiredClaims: ["exp", "jti"],
      }));
    } catch (err) {
      // Without a kid the agent's keys are tried in turn; any other failure is final.
      if (err instanceof errors.JWSSignatureVerificationFailed) continue;
      throw invalid("the assertion failed verification");
    }
    return checkClaims(payload, epochSeconds(now), check.clockToleranceSeconds);
  }
  throw invalid("no registered key of the agent verifies the assertion");
}

/** The rules jose does not know: a short life, no future iat, a usable jti. */
function checkClaims(payload: Record<string, unknown>, nowSec: number, tolerance: number) {
  const { exp, iat, jti } = payload;
  if (typeof exp !== "number" || exp > nowSec + MAX_ASSERTION_SECONDS) {
    throw invalid("an assertion may live at most 5 minutes");
  }
  if (typeof iat === "number" && iat > nowSec + tolerance)
    throw invalid("the assertion was issued in the future");
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalid("the assertion needs a jti of 1 to 128 characters");
  }
  return { jti, exp };
}
