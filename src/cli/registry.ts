import type { Command } from "commander";

/** Adds a module's commands to the program. */
export type Registrar = (program: Command) => void;

/** A top-level command: its one-line summary, and how to load the modules that define it. */
export interface Entry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<readonly Registrar[]>;
}

/**
 * Every top-level command, in help order. Modules are imported only for the command being run
 * (or all of them, for `completion`), so `--help` and `version` load none of them, and only
 * commands that call a server load gen/ and the gRPC stack.
 */
export const COMMANDS: readonly Entry[] = [
  {
    name: "serve",
    summary: "run the Tessera server (gRPC and HTTP ports)",
    load: async () => [(await import("./commands/serve.js")).registerServe],
  },
  {
    name: "doctor",
    summary:
      "check a server configuration against the production checklist without starting it; exits 1 when a check fails",
    load: async () => [(await import("./commands/doctor.js")).registerDoctor],
  },
  {
    name: "init",
    summary: "create the database (if needed) and a new org; prints its API key and admin token once",
    load: async () => [(await import("./commands/init.js")).registerInit],
  },
  {
    name: "status",
    summary:
      "show the server's health, version, workers and uptime, and the org's policy revision; exits 1 when not serving",
    load: async () => [(await import("./commands/status.js")).registerStatus],
  },
  {
    name: "whoami",
    summary: "who the configured credential is: org, kind, roles, scopes",
    load: async () => [(await import("./commands/whoami.js")).registerWhoami],
  },
  {
    name: "agents",
    summary: "manage the org's agents",
    load: async () => {
      const [a, s] = await Promise.all([import("./commands/agents.js"), import("./commands/session.js")]);
      return [a.registerAgents, s.registerAgentKeys];
    },
  },
  {
    name: "token",
    summary: "mint, refresh, revoke and introspect tokens",
    load: async () => {
      const [t, s] = await Promise.all([import("./commands/token.js"), import("./commands/session.js")]);
      return [t.registerToken, s.registerTokenSession];
    },
  },
  {
    name: "login",
    summary:
      "log in as a user (password) or an agent (secret or signed key); prints an access and a refresh token",
    load: async () => [(await import("./commands/session.js")).registerLogin],
  },
  {
    name: "check",
    summary: "ask Authorize from the shell; exits 0 on ALLOW and 3 on DENY",
    load: async () => [(await import("./commands/check.js")).registerCheck],
  },
  {
    name: "policy",
    summary: "write, check, test, diff and apply policies",
    load: async () => [(await import("./commands/policy.js")).registerPolicy],
  },
  {
    name: "services",
    summary: "mTLS identities that speak for the org",
    load: async () => [(await import("./commands/services.js")).registerServices],
  },
  {
    name: "certs",
    summary: "certificates for mTLS",
    load: async () => [(await import("./commands/certs.js")).registerCerts],
  },
  {
    name: "keys",
    summary: "the server's token signing keys",
    load: async () => [(await import("./commands/keys.js")).registerKeys],
  },
  {
    name: "org",
    summary: "the org's own credentials, and the other orgs whose tokens it trusts",
    load: async () => [(await import("./commands/org.js")).registerOrg],
  },
  {
    name: "api-keys",
    summary: "scoped API keys for automation",
    load: async () => [(await import("./commands/org.js")).registerApiKeys],
  },
  {
    name: "users",
    summary: "human operators of the org (username + password)",
    load: async () => [(await import("./commands/users.js")).registerUsers],
  },
  {
    name: "audit",
    summary: "the org's admin audit trail: who changed what, when (JSON lines with --json)",
    load: async () => [(await import("./commands/audit.js")).registerAudit],
  },
  {
    name: "decisions",
    summary: "query the org's logged decisions, or follow them live (tail)",
    load: async () => [(await import("./commands/decisions.js")).registerDecisions],
  },
  {
    name: "operator",
    summary: "server-wide administration with the operator token (TESSERA_OPERATOR_TOKEN)",
    load: async () => [(await import("./commands/operator.js")).registerOperator],
  },
  {
    name: "backup",
    summary: "copy the store to a file while the server runs (the master key is not in it)",
    load: async () => [(await import("./commands/backup.js")).registerBackup],
  },
  {
    name: "restore",
    summary: "restore a backup into a new, empty data directory",
    load: async () => [(await import("./commands/backup.js")).registerRestore],
  },
  {
    name: "migrate-store",
    summary: "copy a SQLite store into an empty PostgreSQL database (the SQLite store is not changed)",
    load: async () => [(await import("./commands/migrate-store.js")).registerMigrateStore],
  },
  {
    name: "completion",
    summary: "print a shell completion script: bash, zsh or fish",
    load: async () => [(await import("./commands/completion.js")).registerCompletion],
  },
  {
    name: "version",
    summary: "print the CLI's version",
    load: async () => [(await import("./commands/version.js")).registerVersion],
  },
];

/** The top-level command `name`: the one already registered, or a new one with its summary. */
export function topLevel(program: Command, name: string): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (found) return found;
  const entry = COMMANDS.find((e) => e.name === name);
  return program.command(name).description(entry?.summary ?? "");
}

const registered = new WeakMap<Command, Set<Registrar>>();

/** Runs the entries' registrars on the program, each at most once. */
export async function register(program: Command, entries: readonly Entry[]): Promise<void> {
  const done = registered.get(program) ?? new Set<Registrar>();
  registered.set(program, done);
  const lists = await Promise.all(entries.map((e) => e.load()));
  for (const registrar of lists.flat()) {
    if (done.has(registrar)) continue;
    done.add(registrar);
    registrar(program);
  }
}

/** Every command, fully defined (for `completion` and the tests that walk the tree). */
export function registerAll(program: Command): Promise<void> {
  return register(program, COMMANDS);
}
