/** The settings the core needs, taken from the validated Config by main. */
export interface CoreSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly defaultTokenTtlSeconds: number;
  readonly maxTokenTtlSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  readonly maxDelegationDepth: number;
  readonly signingAlg: "EdDSA" | "ES256";
  readonly keyRotationIntervalSeconds: number;
  readonly masterKey?: Buffer | undefined;
  /** Record decisions; default true. */
  readonly decisionLog?: boolean | undefined;
}
