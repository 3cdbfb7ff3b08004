import { TesseraError } from "../domain/errors.js";
import type { AgentRecord } from "../store/agents.js";
import type { Db } from "../store/db.js";

export interface AgentCredentialDeps {
  readonly db: Db;
  /** Tessera's audience: the `aud` a client assertion must carry. */
  readonly audience: string;
  readonly clockToleranceSeconds: number;
  readonly now: () => Date;
}

/**
 * Agent secrets (tas_…, stored as digests) and registered public keys for signed client
 * assertions (RFC 7523 style: iss = sub = agent id, aud = Tessera, exp ≤ 5 minutes, a jti
 * never seen before).
 */
export class AgentCredentialService {
  constructor(private readonly d: AgentCredentialDeps) {}

  /** A new secret for the agent, shown once; the previous one stops working. */
  createSecret(_orgId: string, _agentId: string): string {
    throw notYet();
  }

  /** The agent whose id and secret these are; throws AGENT_SECRET_INVALID (or AGENT_SUSPENDED). */
  authenticateSecret(_agentId: string, _secret: string): AgentRecord {
    throw notYet();
  }

  /** Registers a public key (PEM SPKI or JWK JSON): Ed25519, or RSA ≥ 2048. */
  registerKey(
    _orgId: string,
    _agentId: string,
    _publicKey: string,
  ): { keyId: string; alg: "EdDSA" | "RS256" } {
    throw notYet();
  }

  removeKey(_orgId: string, _agentId: string, _keyId: string): void {
    throw notYet();
  }

  /** The agent a client assertion proves; throws ASSERTION_INVALID / ASSERTION_REPLAYED / AGENT_SUSPENDED. */
  async authenticateAssertion(_assertion: string): Promise<AgentRecord> {
    throw notYet();
  }
}

function notYet(): TesseraError {
  return new TesseraError("NOT_IMPLEMENTED", "agent credentials are not implemented yet");
}
