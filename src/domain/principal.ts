import type { IdentitySource } from "./identity.js";
import type { Tier } from "./tiers.js";

export type PrincipalKind = "agent" | "user" | "service" | "api_key";
export type AuthMethod =
  | "api_key"
  | "admin_token"
  | "token"
  | "mtls"
  | "agent_secret"
  | "client_assertion"
  | "password";

/** Whoever is calling, once authenticated. */
export interface Principal {
  readonly id: string;
  readonly kind: PrincipalKind;
  readonly orgId: string;
  readonly name: string;
  readonly tier: Tier;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly tags: readonly string[];
  readonly authMethod: AuthMethod;
  /** Seconds since the epoch when the credential lapses; undefined when it does not. */
  readonly expiresAt?: number | undefined;
}

/**
 * The identity an mTLS client certificate proves. The source is part of the identity: a CN
 * that reads like a SPIFFE ID is still a CN, and is looked up and bound as one.
 */
export interface PeerIdentity {
  /** The SPIFFE ID from the URI SAN, else the subject CN. */
  readonly id: string;
  readonly source: IdentitySource;
}
