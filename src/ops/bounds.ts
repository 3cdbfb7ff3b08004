/**
 * The safe bounds production mode holds the token settings to: the one place they are set
 * (the README's production checklist quotes them).
 */
export const PRODUCTION_BOUNDS = {
  /** Longest access-token lifetime MintToken may grant (and so the default's, too). */
  maxTokenTtlSeconds: 3600,
  /** Largest clock skew tolerated on exp, nbf and iat. */
  clockToleranceSeconds: 60,
  /** Longest refresh-token lifetime (an idle session). */
  refreshTokenTtlSeconds: 30 * 86400,
  /** Longest absolute session lifetime. */
  sessionMaxLifetimeSeconds: 30 * 86400,
} as const;
