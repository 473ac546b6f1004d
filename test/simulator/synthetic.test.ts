import { describe, expect, it } from "vitest";
import {
  contactIdentity,
  foldForEmail,
  linkedinHandle,
  recordCost,
  type SimEnrichContact,
  synthesizeEnrichRecord,
  synthesizeReverseRecord,
} from "../../src/simulator/index.js";

const ALL_FIELDS = ["contact.work_emails", "contact.personal_emails", "contact.phones"];

function population(count: number, fields: string[] = ALL_FIELDS): SimEnrichContact[] {
  return Array.from({ length: count }, (_, index) => ({
    first_name: `Person${index}`,
    last_name: `Family${index % 37}`,
    domain: `company${index % 11}.com`,
    enrich_fields: fields,
  }));
}

describe("synthesizeEnrichRecord", () => {
  it("is a pure function of seed and identity", () => {
    const contact: SimEnrichContact = { first_name: "Ada", last_name: "Lovelace", domain: "analytical.io" };
    expect(synthesizeEnrichRecord(contact, 5)).toEqual(synthesizeEnrichRecord({ ...contact }, 5));
    // Different seeds change at least some outcomes over a population.
    const a = population(50).map((c) => JSON.stringify(synthesizeEnrichRecord(c, 1)));
    const b = population(50).map((c) => JSON.stringify(synthesizeEnrichRecord(c, 2)));
    expect(a).not.toEqual(b);
  });

  it("keys decisions on the normalised identity (case and accents do not matter)", () => {
    expect(
      contactIdentity({ first_name: "José", last_name: "GARCÍA", domain: "https://www.Example.com/x" }),
    ).toBe(contactIdentity({ first_name: "jose", last_name: "garcia", domain: "example.com" }));
    const first = synthesizeEnrichRecord(
      { first_name: "José", last_name: "García", domain: "Example.com", enrich_fields: ALL_FIELDS },
      9,
    );
    const second = synthesizeEnrichRecord(
      { first_name: "JOSE", last_name: "garcia", domain: "example.com", enrich_fields: ALL_FIELDS },
      9,
    );
    expect(first.contact_info).toEqual(second.contact_info);
  });

  it("finds work emails ~70%, personal emails ~40% and phones ~50% of the time", () => {
    const records = population(3000).map((c) => synthesizeEnrichRecord(c, 42));
    const share = (pick: (r: (typeof records)[number]) => boolean): number =>
      records.filter(pick).length / records.length;
    expect(share((r) => r.contact_info?.most_probable_work_email !== undefined)).toBeCloseTo(0.7, 1);
    expect(share((r) => r.contact_info?.most_probable_personal_email !== undefined)).toBeCloseTo(0.4, 1);
    expect(share((r) => r.contact_info?.most_probable_phone !== undefined)).toBeCloseTo(0.5, 1);
  });

  it("only finds what was asked for; the default is work emails", () => {
    for (const record of population(300, []).map((c) => {
      const { enrich_fields: _ignored, ...rest } = c;
      return synthesizeEnrichRecord(rest, 3);
    })) {
      expect(record.contact_info?.personal_emails ?? []).toEqual([]);
      expect(record.contact_info?.phones ?? []).toEqual([]);
    }
    for (const record of population(300, ["contact.phones"]).map((c) => synthesizeEnrichRecord(c, 3))) {
      expect(record.contact_info?.work_emails ?? []).toEqual([]);
    }
  });

  it("builds first.last@domain emails, ascii-folded, lowercase, without spaces", () => {
    expect(foldForEmail("José María")).toBe("josemaria");
    expect(foldForEmail("Bjørn Østergård")).toBe("bjornostergard");
    const contact = { first_name: "José María", last_name: "García López", domain: "Example.COM" };
    const record = population(200)
      .map((_, index) => synthesizeEnrichRecord({ ...contact, custom: { n: String(index) } }, index))
      .find((r) => r.contact_info?.most_probable_work_email !== undefined);
    expect(record?.contact_info?.most_probable_work_email?.email).toBe("josemaria.garcialopez@example.com");
    expect(["DELIVERABLE", "HIGH_PROBABILITY", "CATCH_ALL"]).toContain(
      record?.contact_info?.most_probable_work_email?.status,
    );
    expect(record?.contact_info?.work_emails).toEqual([record?.contact_info?.most_probable_work_email]);
  });

  it("echoes the input renamed, keeps custom unchanged and omits contact_info when nothing is found", () => {
    const custom = { crm_id: "42", note: "ünïcödé" };
    const records = population(100).map((c) =>
      synthesizeEnrichRecord({ ...c, company_name: "Acme", linkedin_url: undefined, custom }, 8),
    );
    const first = records[0];
    expect(first?.input).toEqual({
      first_name: "Person0",
      last_name: "Family0",
      full_name: "Person0 Family0",
      company_domain: "company0.com",
      company_name: "Acme",
    });
    expect(first?.custom).toBe(custom);
    expect(first?.profile).toBeUndefined();
    const empty = records.find((r) => r.contact_info === undefined);
    expect(empty).toBeDefined();
    expect(Object.keys(empty ?? {})).toEqual(["input", "custom"]);
    expect(synthesizeEnrichRecord({ first_name: "A", last_name: "B", domain: "c.com" }, 1).custom).toEqual(
      {},
    );
  });

  it("adds a profile, with names from the handle and a non-ISO date, when a linkedin_url is given", () => {
    expect(linkedinHandle("https://www.linkedin.com/in/john-snow-8a7b/?trk=x")).toBe("john-snow-8a7b");
    const url = "https://www.linkedin.com/in/john-snow-8a7b/";
    const record = synthesizeEnrichRecord({ linkedin_url: url }, 4);
    expect(record.input).toEqual({ professional_network_url: url });
    expect(record.profile).toMatchObject({
      first_name: "John",
      last_name: "Snow",
      full_name: "John Snow",
      social_profiles: { professional_network: { url, handle: "john-snow-8a7b" } },
      employment: { current: { start_at: "2024-1-0T00:00:00Z" } },
    });
    expect(record.profile?.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(record.profile?.location.country_code).toMatch(/^[A-Z]{2}$/);
    const withEmail = Array.from({ length: 40 }, (_, i) =>
      synthesizeEnrichRecord({ linkedin_url: `https://linkedin.com/in/mary-major-${i}` }, 1),
    ).find((r) => r.contact_info !== undefined);
    expect(withEmail?.contact_info?.most_probable_work_email?.email).toMatch(/^mary\.major@/);
  });
});

describe("synthesizeReverseRecord", () => {
  it("finds a profile ~60% of the time, with names from the local part", () => {
    const records = Array.from({ length: 2000 }, (_, i) =>
      synthesizeReverseRecord({ email: `jane.doe${i}@acme.io`, custom: { i: String(i) } }, 11),
    );
    const found = records.filter((r) => r.profile !== undefined);
    expect(found.length / records.length).toBeCloseTo(0.6, 1);
    const one = synthesizeReverseRecord({ email: "jane.doe@acme.io" }, 11);
    expect(one.input).toEqual({ email: "jane.doe@acme.io" });
    expect(one.contact_info).toBeUndefined();
    const withProfile = records.find((r) => r.profile !== undefined);
    expect(withProfile?.profile).toMatchObject({ first_name: "Jane", last_name: "Doe" });
    expect(records.find((r) => r.profile === undefined)).toEqual({
      input: { email: expect.stringMatching(/@acme\.io$/) },
      custom: { i: expect.any(String) },
    });
  });
});

describe("recordCost", () => {
  it("charges 1 per work email, 3 per personal email, 10 per phone, 0 for nothing", () => {
    const records = population(400).map((c) => synthesizeEnrichRecord(c, 2));
    for (const record of records) {
      const info = record.contact_info;
      const expected =
        info === undefined
          ? 0
          : (info.most_probable_work_email ? 1 : 0) +
            (info.most_probable_personal_email ? 3 : 0) +
            (info.most_probable_phone ? 10 : 0);
      expect(recordCost(record, "enrich")).toBe(expected);
    }
    expect(new Set(records.map((r) => recordCost(r, "enrich")))).toEqual(
      new Set([0, 1, 3, 4, 10, 11, 13, 14]),
    );
    const reverse = synthesizeReverseRecord({ email: "a.b@c.com" }, 1);
    expect(recordCost(reverse, "reverse")).toBe(reverse.profile === undefined ? 0 : 1);
  });
});
