/**
 * The PostgreSQL database named by TESSERA_DATABASE_URL, for the CLI commands that take it
 * when not given on the command line (`migrate-store --to`); undefined when unset or blank.
 */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = env.TESSERA_DATABASE_URL?.trim();
  return url ? url : undefined;
}

/** True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** `url` with its password (in the userinfo or a `password` parameter) masked, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    if (u.searchParams.has("password")) u.searchParams.set("password", "***");
    return u.toString();
  } catch {
    return "(the PostgreSQL URL, unparsable)";
  }
}
