/** The settings the core needs, taken from the validated Config by main. */
export interface CoreSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly defaultTokenTtlSeconds: number;
  readonly maxTokenTtlSeconds: number;
  readonly clockToleranceSeconds: number;
}
