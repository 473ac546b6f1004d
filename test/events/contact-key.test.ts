import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { contactKeyOf, fingerprint, keyBatch, stripCorrelation } from "../../src/events/contact-key.js";

const word = fc.stringMatching(/^[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ' -]{0,14}[A-Za-zÀ-ÿ]$/);
const domain = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{1,12}$/), fc.constantFrom("com", "io", "fr", "co.uk"))
  .map(([name, tld]) => `${name}.${tld}`);

/** The same text as a person might type it: other case, extra spaces. */
const noisy = (text: string, seed: number): string => {
  const cased = seed % 2 === 0 ? text.toUpperCase() : text.toLowerCase();
  return `${" ".repeat(seed % 3)}${cased.replace(/ /g, seed % 5 === 0 ? "   " : " ")}${seed % 4 === 0 ? "\t" : ""}`;
};

const person = fc.record({ first_name: word, last_name: word, domain, company_name: word });
const keying = { correlationKey: "_fxr", idField: null };

describe("contact keys (property)", () => {
  it("a request and the provider's echo of it give the same key, despite renamings and case/space noise", () => {
    fc.assert(
      fc.property(
        person,
        fc.nat(),
        fc.boolean(),
        fc.constantFrom("", "https://", "http://www."),
        (p, seed, withLinkedin, scheme) => {
          const handle = `${p.first_name}-${p.last_name}`.replace(/[^A-Za-z-]/g, "").toLowerCase() || "x";
          const request = {
            ...p,
            ...(withLinkedin ? { linkedin_url: `https://www.linkedin.com/in/${handle}` } : {}),
          };
          const echo = {
            input: {
              first_name: noisy(p.first_name, seed),
              last_name: noisy(p.last_name, seed + 1),
              full_name: `${p.first_name} ${p.last_name}`,
              company_domain: `${scheme}${noisy(p.domain, seed)}`,
              company_name: noisy(p.company_name, seed + 2),
              ...(withLinkedin
                ? { professional_network_url: `${noisy(`linkedin.com/in/${handle}`, seed)}/` }
                : {}),
            },
          };
          expect(contactKeyOf(keying, echo, "record")).toBe(contactKeyOf(keying, request, "request"));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("keys of distinct contacts in a batch are distinct, and identical contacts are numbered", () => {
    fc.assert(
      fc.property(
        fc.array(person, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (people, repeats) => {
          const batch = [
            ...people,
            ...repeats.map((r) => people[r % people.length] as (typeof people)[number]),
          ];
          const keys = keyBatch(keying, batch, "request");
          expect(new Set(keys).size).toBe(batch.length);
        },
      ),
    );
  });

  it("a correlation id wins over every other key, and a user id field over the fingerprint", () => {
    fc.assert(
      fc.property(person, fc.stringMatching(/^[a-z0-9]{1,20}$/), (p, id) => {
        const withBoth = { ...p, custom: { _fxr: `b.${id}`, crm_id: id } };
        expect(contactKeyOf(keying, withBoth, "request")).toBe(`c:b.${id}`);
        expect(contactKeyOf({ correlationKey: null, idField: "crm_id" }, withBoth, "request")).toBe(
          `id:${id}`,
        );
        expect(contactKeyOf({ correlationKey: null, idField: null }, withBoth, "request")).toBe(
          fingerprint(p),
        );
      }),
    );
  });

  it("the reserved key is stripped from custom, and only it", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 9 }),
        fc.string({ maxLength: 20 }),
        (custom, id) => {
          const stripped = stripCorrelation({ ...custom, _fxr: id }, "_fxr");
          const expected = { ...custom };
          delete expected._fxr;
          expect(stripped).toEqual(expected);
        },
      ),
    );
  });

  it("reverse lookups are keyed by the email, normalised", () => {
    expect(contactKeyOf(keying, { email: " Ada@Example.COM " }, "request")).toBe(
      contactKeyOf(keying, { input: { email: "ada@example.com" } }, "record"),
    );
  });
});
