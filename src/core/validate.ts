import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { isRoleName } from "../domain/roles.js";
import { isScope, isScopePattern } from "../domain/scopes.js";

const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,127}$/;
const MAX_LIST = LIMITS.listItems;

/** Checks the scope asked about in Authorize: present and concrete. */
export function requireScope(scope: string): void {
  if (!scope) throw new TesseraError("SCOPE_MISSING", "scope is required");
  if (!isScope(scope)) throw new TesseraError("SCOPE_INVALID", "scope must look like domain:verb");
}

/** Checks scope patterns a token or key will carry. */
export function requireScopePatterns(scopes: readonly string[]): void {
  if (scopes.length > MAX_LIST) throw new TesseraError("SCOPE_INVALID", `at most ${MAX_LIST} scopes`);
  for (const s of scopes) {
    if (!isScopePattern(s)) throw new TesseraError("SCOPE_INVALID", "each scope must look like domain:verb");
  }
}

export function requireRoles(roles: readonly string[]): void {
  if (roles.length > MAX_LIST) throw new TesseraError("ROLE_INVALID", `at most ${MAX_LIST} roles`);
  for (const r of roles)
    if (!isRoleName(r)) throw new TesseraError("ROLE_INVALID", "role names are [a-z0-9_-]");
}

export function requireTags(tags: readonly string[]): void {
  if (tags.length > MAX_LIST) throw new TesseraError("TAG_INVALID", `at most ${MAX_LIST} tags`);
  for (const t of tags)
    if (!TAG.test(t)) throw new TesseraError("TAG_INVALID", "tags are 1-128 of [A-Za-z0-9_.:=/-]");
}
