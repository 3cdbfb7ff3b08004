import { request } from "node:http";
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { ConnectError } from "@connectrpc/connect";
import type { ClientConfig } from "../config/client-config.js";
import { CliError, EXIT } from "./output.js";

const SESSION = "or a session token from `tessera login`: --token / TESSERA_TOKEN";

/** What to set when the server says a credential is missing: the flag and the variable, not the header. */
export const CREDENTIAL_ADVICE: Readonly<Record<string, string>> = {
  CREDENTIAL_MISSING: `give the org's API key and admin token (--api-key / TESSERA_API_KEY, --admin-token / TESSERA_ADMIN_TOKEN), ${SESSION}`,
  API_KEY_MISSING: `give the org's API key (--api-key / TESSERA_API_KEY), ${SESSION}`,
  CALLER_UNIDENTIFIED: `give the org's API key (--api-key / TESSERA_API_KEY), ${SESSION}, or a client certificate bound to the org (--client-cert / TESSERA_CLIENT_CERT)`,
  ADMIN_TOKEN_MISSING: `this command needs the org's admin token with its API key (--admin-token / TESSERA_ADMIN_TOKEN), a scoped API key, ${SESSION}`,
  OPERATOR_TOKEN_MISSING: "this command needs the operator token: --operator-token / TESSERA_OPERATOR_TOKEN",
};

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
]);
const CLIENT_CERT_REFUSED =
  /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR|ACCESS_DENIED)/;
const CLIENT_CERT_MISSING = /ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE)/;

/** The `code`s of an error and its causes (Node puts ECONNREFUSED, ERR_SSL_… there). */
function codesOf(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") out.push(code);
  }
  return out;
}

/** The host to connect to: a URL's hostname without the brackets of an IPv6 address. */
const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, "");

/** Answers true when `host:port` speaks HTTP/1.1 (Tessera's HTTP port does; its gRPC port does not). */
function speaksHttp1(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: hostOf(url), port: url.port, path: "/healthz", timeout: 1500 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Answers true when `host:port` completes a TLS handshake (certificate not checked: only the protocol). */
function speaksTls(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const host = hostOf(url);
    const socket = tlsConnect({
      host,
      port: Number(url.port) || 443,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
      // SNI takes a host name, never an address.
      ...(isIP(host) ? {} : { servername: host }),
    });
    socket.setTimeout(1500, () => socket.destroy());
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

const fail = (reason: string, message: string, exit: number = EXIT.usage) =>
  new CliError({ code: "Unavailable", reason, message }, exit);

/**
 * Why a call never reached the server, said as what to change: the HTTP port given as the gRPC
 * server, TLS against plaintext and back, a CA or client certificate missing. Undefined when
 * the failure is none of these (a server's own refusal is handled by the caller).
 */
export async function diagnoseConnection(e: ConnectError, c: ClientConfig): Promise<CliError | undefined> {
  const url = new URL(c.server);
  const at = `${url.hostname}:${url.port}`;
  const codes = codesOf(e);
  const has = (test: (code: string) => boolean) => codes.some(test);
  if (has((x) => x === "ECONNREFUSED"))
    return fail(
      "CONNECTION_REFUSED",
      `nothing listens at ${at}: is the server running? (--server / TESSERA_SERVER is ${c.server})`,
      EXIT.failed,
    );
  if (has((x) => x === "ENOTFOUND" || x === "EAI_AGAIN"))
    return fail(
      "HOST_UNKNOWN",
      `no such host ${url.hostname}: check --server / TESSERA_SERVER (${c.server})`,
    );
  if (has((x) => x === "ERR_SSL_WRONG_VERSION_NUMBER"))
    return fail(
      "TLS_UNEXPECTED",
      `${at} does not speak TLS: use http://${at} in --server / TESSERA_SERVER (and no --tls-ca or --client-cert)`,
    );
  if (has((x) => UNTRUSTED.has(x)))
    return fail(
      "TLS_UNTRUSTED",
      c.tlsCa
        ? `the certificate of ${at} is not signed by the CA in --tls-ca (${c.tlsCa}): give the CA that signed it`
        : `the certificate of ${at} is not signed by a CA this machine trusts: give its CA with --tls-ca / TESSERA_CA`,
    );
  if (has((x) => x === "ERR_TLS_CERT_ALTNAME_INVALID"))
    return fail(
      "TLS_HOSTNAME_MISMATCH",
      `the certificate of ${at} is not issued for ${url.hostname}: use the host name it names (e.g. localhost) in --server`,
    );
  if (has((x) => CLIENT_CERT_MISSING.test(x)) && !c.tlsCert)
    return fail(
      "CLIENT_CERT_REQUIRED",
      `${at} requires a client certificate (mTLS): give --client-cert and --client-key (TESSERA_CLIENT_CERT, TESSERA_CLIENT_KEY)`,
    );
  if (has((x) => CLIENT_CERT_REFUSED.test(x) || CLIENT_CERT_MISSING.test(x)))
    return fail(
      "CLIENT_CERT_REJECTED",
      `${at} refused the client certificate in --client-cert (${c.tlsCert ?? ""}): it must be signed by the CA the server trusts (its --tls-client-ca)`,
    );
  if (url.protocol === "http:") {
    if (has((x) => x === "ERR_HTTP2_ERROR") && (await speaksHttp1(url)))
      return fail(
        "NOT_GRPC_PORT",
        `${at} answers HTTP/1.1, not gRPC: is it Tessera's HTTP port? --server takes the gRPC port (TESSERA_GRPC_PORT, default 50051)`,
      );
    if (await speaksTls(url))
      return fail(
        "TLS_REQUIRED",
        `${at} speaks TLS: use https://${at} in --server / TESSERA_SERVER, with --tls-ca / TESSERA_CA when its CA is not publicly trusted`,
      );
  }
  return undefined;
}
