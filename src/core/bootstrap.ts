import { generateSecret, newId, secretDigest } from "../auth/secrets.js";
import { epochSeconds } from "../domain/time.js";
import type { TesseraStore } from "../store/contract/store.js";

/** The credentials of a new org; shown once, never stored in clear. */
export interface NewOrg {
  readonly orgId: string;
  readonly apiKey: string;
  readonly adminToken: string;
}

/** Creates an org with a fresh API key and admin token. */
export async function createOrg(store: TesseraStore, name: string, now: Date): Promise<NewOrg> {
  const orgId = newId("org");
  const apiKey = generateSecret("apiKey");
  const adminToken = generateSecret("adminToken");
  await store.orgs.create({ id: orgId, name, now: epochSeconds(now) }, [
    { id: newId("key"), kind: "api_key", digest: secretDigest(apiKey) },
    { id: newId("key"), kind: "admin_token", digest: secretDigest(adminToken) },
  ]);
  return { orgId, apiKey, adminToken };
}

/** The example policy every development org starts with (the README walks through it). */
export const EXAMPLE_POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata:
  name: example
spec:
  rules:
    - name: propose
      scopes: ["governance:propose"]
      resources: ["tool"]
      effect: allow
      minTier: verified
      roles: [operator]
    - name: read
      scopes: ["governance:read"]
      effect: allow
      roles: [viewer]
    - name: audit
      scopes: ["audit:read"]
      effect: allow
      roles: [admin]
    - name: secrets
      scopes: ["secrets:*"]
      effect: allow
      minTier: privileged
      roles: [admin]
`;
