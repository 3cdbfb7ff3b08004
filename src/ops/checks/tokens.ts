import { formatDuration } from "../../config/duration.js";
import { PRODUCTION_BOUNDS as B } from "../bounds.js";
import { type Check, type Finding, finding } from "../check.js";

const over = (code: string, what: string, flag: string, value: number, bound: number): Finding[] =>
  value > bound
    ? [
        finding(
          code,
          `${what} (${flag}) is ${formatDuration(value)}; production allows at most ${formatDuration(bound)}`,
        ),
      ]
    : [];

/** Token and session lifetimes within PRODUCTION_BOUNDS. */
export const tokenLifetimes: Check = {
  id: "token-lifetimes",
  codes: ["PROD_TOKEN_TTL", "PROD_REFRESH_TOKEN_TTL", "PROD_SESSION_LIFETIME"],
  title: `token lifetimes within bounds (access ≤ ${formatDuration(B.maxTokenTtlSeconds)}, refresh and session ≤ ${formatDuration(B.refreshTokenTtlSeconds)})`,
  severity: "fatal",
  run: (c) => [
    ...over(
      "PROD_TOKEN_TTL",
      "the longest token lifetime",
      "--max-token-ttl",
      c.maxTokenTtlSeconds,
      B.maxTokenTtlSeconds,
    ),
    ...over(
      "PROD_REFRESH_TOKEN_TTL",
      "the refresh-token lifetime",
      "--refresh-token-ttl",
      c.refreshTokenTtlSeconds,
      B.refreshTokenTtlSeconds,
    ),
    ...over(
      "PROD_SESSION_LIFETIME",
      "the session lifetime",
      "--session-max-lifetime",
      c.sessionMaxLifetimeSeconds,
      B.sessionMaxLifetimeSeconds,
    ),
  ],
};

/** Clock tolerance within PRODUCTION_BOUNDS. */
export const clockTolerance: Check = {
  id: "clock-tolerance",
  codes: ["PROD_CLOCK_TOLERANCE"],
  title: `clock tolerance ≤ ${formatDuration(B.clockToleranceSeconds)}`,
  severity: "fatal",
  run: (c) =>
    over(
      "PROD_CLOCK_TOLERANCE",
      "the clock tolerance",
      "--clock-tolerance",
      c.clockToleranceSeconds,
      B.clockToleranceSeconds,
    ),
};
