import { readFileSync } from "node:fs";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { TokenPair } from "../../../gen/tessera/v1/auth_service_pb.js";
import { clientsFor } from "../common.js";
import { emit } from "../output.js";

function pairJson(p: TokenPair | undefined) {
  const at = (t: TokenPair["accessTokenExpiresAt"]) => (t ? timestampDate(t).toISOString() : undefined);
  return (
    p && {
      accessToken: p.accessToken,
      accessTokenExpiresAt: at(p.accessTokenExpiresAt),
      refreshToken: p.refreshToken,
      refreshTokenExpiresAt: at(p.refreshTokenExpiresAt),
    }
  );
}

/** `tessera login`, `tessera token refresh|revoke|introspect`, `tessera agents keys add|remove`. */
export function registerSession(program: Command): void {
  program
    .command("login")
    .description(
      "log in as a user (password from a file or standard input); prints an access and a refresh token",
    )
    .requiredOption("--org <orgId>", "the user's org")
    .requiredOption("--username <name>", "username")
    .requiredOption("--password-file <path>", "file holding the password; - reads standard input")
    .action(async (o: { org: string; username: string; passwordFile: string }, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const password = readFileSync(o.passwordFile === "-" ? 0 : o.passwordFile, "utf8").replace(
        /\r?\n$/,
        "",
      );
      const res = await clients.auth.authenticate({
        credential: { case: "password", value: { orgId: o.org, username: o.username, password } },
        issueTokens: true,
      });
      emit(
        json,
        pairJson(res.tokens),
        () => `${res.tokens?.accessToken}\nrefresh: ${res.tokens?.refreshToken}`,
      );
    });
  const token = program.commands.find((c) => c.name() === "token") ?? program.command("token");
  token.command("refresh <refreshToken>").action(async (refreshToken: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const res = await clients.auth.refreshToken({ refreshToken });
    emit(
      json,
      pairJson(res.tokens),
      () => `${res.tokens?.accessToken}\nrefresh: ${res.tokens?.refreshToken}`,
    );
  });
  token.command("revoke <token>").action(async (t: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    await clients.auth.revokeToken({ token: t }, { headers: clients.orgHeaders() });
    emit(json, { revoked: true }, () => "revoked (or it was not a live token of this org)");
  });
  token.command("introspect <token>").action(async (t: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const r = await clients.auth.introspectToken({ token: t }, { headers: clients.orgHeaders() });
    const out = r.active
      ? {
          active: true,
          tokenType: r.tokenType,
          sub: r.sub,
          org: r.org,
          scopes: r.scopes,
          roles: r.roles,
          exp: r.exp ? timestampDate(r.exp).toISOString() : undefined,
        }
      : { active: false };
    emit(json, out, () => JSON.stringify(out, null, 2));
  });
  const agents = program.commands.find((c) => c.name() === "agents") ?? program.command("agents");
  const keys = agents.command("keys").description("public keys an agent signs client assertions with");
  keys
    .command("add <agentId> <publicKeyFile>")
    .description("register an Ed25519 or RSA (2048+) public key, PEM or JWK")
    .action(async (agentId: string, file: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.registerAgentKey(
        { agentId, publicKey: readFileSync(file, "utf8") },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { keyId: res.keyId, alg: res.alg },
        () => `${res.keyId}  ${res.alg}  (use it as the assertion's kid)`,
      );
    });
  keys
    .command("remove <agentId> <keyId>")
    .action(async (agentId: string, keyId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      await clients.admin.removeAgentKey({ agentId, keyId }, { headers: clients.adminHeaders() });
      emit(json, { removed: keyId }, () => `removed ${keyId}`);
    });
}
