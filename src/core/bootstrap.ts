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
  return (await createOrgIf(store, name, now, "always")) as NewOrg;
}

/**
 * The store's first org, or undefined when it has one already: of replicas starting at once
 * on an empty database exactly one creates it (the check and the insert are one transaction).
 */
export function createFirstOrg(store: TesseraStore, name: string, now: Date): Promise<NewOrg | undefined> {
  return createOrgIf(store, name, now, "first");
}

async function createOrgIf(
  store: TesseraStore,
  name: string,
  now: Date,
  when: "always" | "first",
): Promise<NewOrg | undefined> {
  const orgId = newId("org");
  const apiKey = generateSecret("apiKey");
  const adminToken = generateSecret("adminToken");
  const org = { id: orgId, name, now: epochSeconds(now) };
  const creds = [
    { id: newId("key"), kind: "api_key" as const, digest: secretDigest(apiKey) },
    { id: newId("key"), kind: "admin_token" as const, digest: secretDigest(adminToken) },
  ];
  if (when === "always") await store.orgs.create(org, creds);
  else if (!(await store.orgs.createFirst(org, creds))) return undefined;
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
