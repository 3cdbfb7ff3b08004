import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The development org's credentials as the first start wrote them, so that a banner nobody saw
 * (output piped, a terminal closed) does not mean starting over with a new org.
 */
export interface DevCredentials {
  readonly orgId: string;
  readonly apiKey: string;
  readonly adminToken: string;
  /** The gRPC port's URL the CLI should call (`TESSERA_SERVER`). */
  readonly server: string;
  /** The HTTP port's URL (Connect, JWKS, health). */
  readonly http: string;
}

/** The file inside a data directory: readable by its owner only. */
export function devCredentialsPath(dataDir: string): string {
  return join(dataDir, "dev-credentials.json");
}

/** Writes the file (mode 0600); returns its path. */
export function writeDevCredentials(dataDir: string, c: DevCredentials): string {
  const path = devCredentialsPath(dataDir);
  writeFileSync(path, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** The credentials a data directory holds, if its first start wrote them. */
export function readDevCredentials(dataDir: string): DevCredentials | undefined {
  const path = devCredentialsPath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    const c = JSON.parse(readFileSync(path, "utf8")) as Partial<DevCredentials>;
    return typeof c.apiKey === "string" && typeof c.adminToken === "string" && typeof c.server === "string"
      ? (c as DevCredentials)
      : undefined;
  } catch {
    return undefined;
  }
}
