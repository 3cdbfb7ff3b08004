import type { Check } from "../check.js";
import { corsNoWildcard } from "./cors.js";
import { noDevCerts } from "./dev-certs.js";
import { noDevOrg, noExamplePolicy } from "./dev-org.js";
import { dataDirPrivate, keyFilesPrivate } from "./file-modes.js";
import { grpcClientCa, tlsOffLoopback } from "./listeners.js";
import { masterKeyNotOnCommandLine, masterKeySet } from "./master-key.js";
import { clockTolerance, tokenLifetimes } from "./tokens.js";

/**
 * The production checklist, in the order doctor prints it (and the README lists it). A new
 * check is one more entry here.
 */
export const CHECKS: readonly Check[] = [
  tlsOffLoopback,
  grpcClientCa,
  noDevCerts,
  masterKeySet,
  masterKeyNotOnCommandLine,
  noDevOrg,
  noExamplePolicy,
  dataDirPrivate,
  keyFilesPrivate,
  tokenLifetimes,
  clockTolerance,
  corsNoWildcard,
];
