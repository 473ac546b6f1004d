import fc from "fast-check";

// Property tests are deterministic: a fixed seed (override with FC_SEED to explore further).
fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20_261_127) });
