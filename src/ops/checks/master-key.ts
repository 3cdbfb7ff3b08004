import { type Check, finding } from "../check.js";

/**
 * Fewer distinct bytes than this in a 32-byte key means it was typed, not drawn: a random key
 * has about 30 (fewer than 16 happens with odds far below 2^-100).
 */
const MIN_DISTINCT_BYTES = 16;

/** A master key that is set and looks random (not all zeros, not a short pattern repeated). */
export const masterKeySet: Check = {
  id: "master-key",
  codes: ["PROD_NO_MASTER_KEY", "PROD_DEV_MASTER_KEY"],
  title: "a random master key encrypts the signing keys at rest",
  severity: "fatal",
  run: (config) => {
    const key = config.masterKey;
    if (!key)
      return [
        finding(
          "PROD_NO_MASTER_KEY",
          "no master key: signing private keys would be stored in clear, as in development. Set TESSERA_MASTER_KEY (openssl rand -base64 32)",
        ),
      ];
    if (new Set(key).size < MIN_DISTINCT_BYTES)
      return [
        finding(
          "PROD_DEV_MASTER_KEY",
          "the master key is a placeholder (too few distinct bytes to be random): replace it with one from openssl rand -base64 32",
        ),
      ];
    return [];
  },
};

/** The master key is not given on the command line, where other local users can read it. */
export const masterKeyNotOnCommandLine: Check = {
  id: "master-key-not-in-argv",
  codes: ["PROD_MASTER_KEY_IN_ARGV"],
  title: "the master key is not on the command line",
  severity: "warn",
  run: (_config, env) =>
    env.masterKeyOrigin?.kind === "flag"
      ? [
          finding(
            "PROD_MASTER_KEY_IN_ARGV",
            "the master key was given as --master-key, which other local users can read (ps): give it as TESSERA_MASTER_KEY or in a config file readable by the server only",
          ),
        ]
      : [],
};
