import type { Db } from "./db.js";

export interface SigningKeyRow {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: string;
  readonly privateJwk: string;
  readonly state: "active" | "retired";
  readonly createdAt: number;
}

/** Token signing keys. */
export class SigningKeyRepository {
  constructor(private readonly db: Db) {}

  insert(k: SigningKeyRow): void {
    this.db
      .prepare(
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(k.kid, k.alg, k.publicJwk, k.privateJwk, k.state, k.createdAt);
  }

  all(): SigningKeyRow[] {
    return this.db
      .prepare<
        [],
        {
          kid: string;
          alg: string;
          public_jwk: string;
          private_jwk: string;
          state: "active" | "retired";
          created_at: number;
        }
      >("SELECT * FROM signing_keys ORDER BY created_at, kid")
      .all()
      .map((r) => ({
        kid: r.kid,
        alg: r.alg,
        publicJwk: r.public_jwk,
        privateJwk: r.private_jwk,
        state: r.state,
        createdAt: r.created_at,
      }));
  }
}
