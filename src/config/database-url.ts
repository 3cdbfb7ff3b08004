/**
 * The PostgreSQL database named by TESSERA_DATABASE_URL, for the CLI commands that take it
 * when not given on the command line (`migrate-store --to`); undefined when unset or blank.
 */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = env.TESSERA_DATABASE_URL?.trim();
  return url ? url : undefined;
}
