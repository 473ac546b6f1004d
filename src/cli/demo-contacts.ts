import type { EnrichContact } from "../api/request-schemas.js";

const FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "John"];
const LAST = [
  "Lovelace",
  "Turing",
  "Hopper",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Allen",
  "Thompson",
  "Perlman",
  "Backus",
];
const COMPANIES = [
  { domain: "analytical-engines.example", company_name: "Analytical Engines" },
  { domain: "bletchley.example", company_name: "Bletchley Park Labs" },
  { domain: "cobol.example", company_name: "Common Business Systems" },
  { domain: "shortest-path.example", company_name: "Shortest Path" },
  { domain: "substitution.example", company_name: "Substitution Inc" },
];

/** The demo's built-in sample: `count` made-up contacts (some with a LinkedIn URL, each with a CRM id). */
export function demoContacts(count = 50): EnrichContact[] {
  return Array.from({ length: count }, (_, index) => {
    const first = FIRST[index % FIRST.length] as string;
    const last = LAST[Math.floor(index / FIRST.length) % LAST.length] as string;
    const company = COMPANIES[index % COMPANIES.length] as (typeof COMPANIES)[number];
    const contact: EnrichContact = {
      first_name: first,
      last_name: last,
      ...company,
      custom: { crm_id: `crm-${String(index + 1).padStart(3, "0")}` },
    };
    if (index % 4 === 0)
      contact.linkedin_url = `https://www.linkedin.com/in/${first}-${last}-${index}`.toLowerCase();
    return contact;
  });
}
