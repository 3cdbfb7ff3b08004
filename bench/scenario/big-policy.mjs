// 10,000 rules over 2,000 scopes (5 each), a mix of kinds, tiers, roles and conditions (6,000
// distinct): the large policy of both `npm run bench` and `npm run bench:engine`.
export function bigPolicy() {
  const lines = [
    "apiVersion: tessera.dev/v1",
    "kind: Policy",
    "metadata: { name: big }",
    "spec:",
    "  rules:",
  ];
  const tiers = ["unverified", "verified", "trusted", "privileged"];
  const roles = ["viewer", "operator", "admin"];
  for (let s = 0; s < 2000; s++) {
    for (let r = 0; r < 5; r++) {
      const cond = r % 2 === 0 ? `, condition: 'resource.attr.env != "e${s}-${r}"'` : ""; // 6,000 distinct conditions
      const effect = r === 4 ? "deny" : "allow";
      lines.push(
        `    - { name: s${s}-r${r}, scopes: ["domain${s}:verb${r}"], resources: [kind${r}], effect: ${effect}, minTier: ${tiers[r % 4]}, roles: [${roles[r % 3]}]${cond} }`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
