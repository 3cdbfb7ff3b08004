import { existsSync } from "node:fs";
import type { Config } from "../../config/config.js";
import { devCredentialsPath } from "../../config/dev-credentials.js";
import { EXAMPLE_POLICY } from "../../core/bootstrap.js";
import { type DevTraces, readDevTraces } from "../../store/dev-traces.js";
import { type Check, finding } from "../check.js";

/** The name the first development start gives its org (src/main.ts bootstrapDevOrg). */
export const DEV_ORG_NAME = "development";
/** The name of the example policy every development org starts with. */
const EXAMPLE_POLICY_NAME = "example";

function traces(config: Config): DevTraces | undefined {
  return readDevTraces(config.dataDir, {
    orgName: DEV_ORG_NAME,
    policyName: EXAMPLE_POLICY_NAME,
    policyDocument: EXAMPLE_POLICY,
  });
}

/** No development org, and no file of its credentials. */
export const noDevOrg: Check = {
  id: "no-dev-org",
  codes: ["PROD_DEV_ORG", "PROD_DEV_CREDENTIALS"],
  title: "no development org (nor its credentials file) in the data directory",
  severity: "fatal",
  run: (config) => {
    const orgs = traces(config)?.orgs ?? [];
    const found = orgs.map((o) =>
      finding(
        "PROD_DEV_ORG",
        `the store holds the development org ${o.id} (named "${DEV_ORG_NAME}"), which a development start creates with credentials printed in clear: start production on a data directory no development start has used (tessera init --name <org> creates an org)`,
      ),
    );
    const file = devCredentialsPath(config.dataDir);
    if (existsSync(file))
      found.push(
        finding(
          "PROD_DEV_CREDENTIALS",
          `${file} holds a development org's API key and admin token: delete it, and that org with the data directory`,
        ),
      );
    return found;
  },
};

/** No org runs on the example policy. */
export const noExamplePolicy: Check = {
  id: "no-example-policy",
  codes: ["PROD_EXAMPLE_POLICY"],
  title: "no org holds the development example policy",
  severity: "fatal",
  run: (config) => {
    const t = traces(config);
    if (!t) return [];
    const devOrgs = new Set(t.orgs.map((o) => o.id));
    const example = EXAMPLE_POLICY.trim();
    return t.policies
      .filter((p) => devOrgs.has(p.orgId) || p.document.trim() === example)
      .map((p) =>
        finding(
          "PROD_EXAMPLE_POLICY",
          `org ${p.orgId} holds the development example policy "${p.name}": delete it (tessera policy delete ${p.name}) and apply your own`,
        ),
      );
  },
};
