import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Config } from "../../config/config.js";
import { type Check, type Finding, finding } from "../check.js";

/** The CA `tessera certs dev` makes (src/auth/dev-certs.ts createDevCa's default name). */
const DEV_CA = "CN=Tessera Development CA";

/** The first certificate of a PEM file, or undefined when it cannot be read (serve says why). */
function certificate(path: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(path));
  } catch {
    return undefined;
  }
}

const fromDevCa = (cert: X509Certificate | undefined, field: "issuer" | "subject") =>
  cert?.[field].split("\n").includes(DEV_CA) ?? false;

/**
 * Certificates from `tessera certs dev` are for trying mTLS on one machine: their CA key sits
 * next to them. Only a warning: a test of production mode may well use them.
 */
export const noDevCerts: Check = {
  id: "no-dev-certs",
  title: "the TLS certificates are not the development ones of tessera certs dev",
  severity: "warn",
  codes: ["PROD_DEV_CERT"],
  run: (config: Config) => {
    const tls = config.tls;
    if (!tls) return [];
    const found: Finding[] = [];
    if (fromDevCa(certificate(tls.certFile), "issuer"))
      found.push(
        finding(
          "PROD_DEV_CERT",
          `the server certificate ${tls.certFile} was issued by the development CA of tessera certs dev: use one from your own CA`,
        ),
      );
    if (tls.clientCaFile && fromDevCa(certificate(tls.clientCaFile), "subject"))
      found.push(
        finding(
          "PROD_DEV_CERT",
          `the client CA ${tls.clientCaFile} is the development CA of tessera certs dev: trust your own workload CA`,
        ),
      );
    return found;
  },
};
