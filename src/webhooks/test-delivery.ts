/**
 * The enrichment id of `fullenrich-rx test-webhook`'s sample deliveries. The provider's ids are
 * random UUIDs and never this one: a receiver verifies such a delivery's signature, answers it,
 * and stores nothing, so a check of a deployment leaves the real event log as it was.
 */
export const TEST_ENRICHMENT_ID = "00000000-0000-4000-8000-00000000test";

/** Whether a delivery is `test-webhook`'s sample (see {@link TEST_ENRICHMENT_ID}). */
export function isTestDelivery(enrichmentId: string | null): boolean {
  return enrichmentId === TEST_ENRICHMENT_ID;
}
