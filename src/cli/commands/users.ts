import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { User } from "../../../gen/tessera/v1/types_pb.js";
import { clientsFor } from "../common.js";
import { isoTime } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

function userJson(u: User | undefined) {
  return (
    u && {
      id: u.id,
      username: u.username,
      role: u.role,
      createdAt: isoTime(u.createdAt),
    }
  );
}

/** A password from a file (or "-" for standard input), never from argv where `ps` would show it. */
function readPassword(path: string): string {
  const text = readFileSync(path === "-" ? 0 : path, "utf8").replace(/\r?\n$/, "");
  if (!text) throw new UsageError("the password file is empty");
  return text;
}

/** `tessera users create|list|passwd|delete`. */
export function registerUsers(program: Command): void {
  const users = topLevel(program, "users");
  users
    .command("create")
    .description("create a user who logs in with a password (tessera login --org … --username …)")
    .requiredOption("--username <name>", "1-64 of [A-Za-z0-9._@-]")
    .requiredOption(
      "--password-file <path>",
      "file holding the password (12+ characters); - reads standard input",
    )
    .option("--role <role>", "viewer | operator | admin", "viewer")
    .action(async (o: { username: string; passwordFile: string; role: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const password = readPassword(o.passwordFile);
      const res = await clients.admin.createUser(
        { username: o.username, password, role: o.role },
        { headers: clients.adminHeaders() },
      );
      emit(json, userJson(res.user), () => `${res.user?.id}  ${res.user?.username}  role=${res.user?.role}`);
    });
  users
    .command("list")
    .description("list the org's users")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listUsers({}, { headers: clients.adminHeaders() });
      emit(
        json,
        { users: res.users.map(userJson) },
        () => res.users.map((u) => `${u.id}  ${u.username}  role=${u.role}`).join("\n") || "(no users)",
      );
    });
  users
    .command("passwd <userId>")
    .description("set a user's password; the user's sessions end")
    .requiredOption("--password-file <path>", "file holding the new password; - reads standard input")
    .action(async (userId: string, o: { passwordFile: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.setUserPassword(
        { userId, password: readPassword(o.passwordFile) },
        { headers: clients.adminHeaders() },
      );
      emit(json, { userId }, () => `password changed for ${userId}`);
    });
  users
    .command("delete <userId>")
    .description("delete a user; the user's sessions end")
    .action(async (userId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.deleteUser({ userId }, { headers: clients.adminHeaders() });
      emit(json, { deleted: userId }, () => `deleted ${userId}; its sessions are ended`);
    });
}
