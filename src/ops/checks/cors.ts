import { corsAllowsAnyOrigin } from "../../config/cors-origins.js";
import { type Check, finding } from "../check.js";

/** Browsers may call the HTTP port only from listed origins: `*` would let any page ask. */
export const corsNoWildcard: Check = {
  id: "cors-no-wildcard",
  codes: ["PROD_CORS_WILDCARD"],
  title: "CORS allows only listed origins, never *",
  severity: "fatal",
  run: (config) =>
    corsAllowsAnyOrigin(config)
      ? [
          finding(
            "PROD_CORS_WILDCARD",
            "--cors-origins is *: any web page could call the HTTP port from a visitor's browser; list the origins of your own apps (https://app.example.com,…)",
          ),
        ]
      : [],
};
