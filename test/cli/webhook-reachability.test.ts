import { describe, expect, it } from "vitest";
import { isLocalHost, webhookReachabilityWarning } from "../../src/cli/webhook-reachability.js";

const PUBLIC_API = "https://app.fullenrich.com/api/v2";

describe("webhook URLs the provider cannot reach", () => {
  it.each([
    ["http://localhost:8080/hook", true],
    ["http://api.localhost/hook", true],
    ["http://127.0.0.1:8080/", true],
    ["http://127.10.0.1/", true],
    ["http://0.0.0.0:8080/", true],
    ["http://10.1.2.3/", true],
    ["http://172.16.0.9/", true],
    ["http://172.31.255.255/", true],
    ["http://192.168.1.20:3000/", true],
    ["http://169.254.169.254/", true],
    ["http://100.64.0.1/", true],
    ["http://[::1]:8080/", true],
    ["http://[fd12:3456::1]/", true],
    ["http://[fe80::1]/", true],
    ["http://my-laptop:8080/", true],
    ["http://printer.local/", true],
    ["http://svc.internal/", true],
    ["https://hooks.example.com/fullenrich", false],
    ["http://203.0.113.7/", false],
    ["http://172.32.0.1/", false],
    ["http://[2001:db8::1]/", false],
  ])("%s is local: %s", (url, local) => {
    expect(isLocalHost(new URL(url))).toBe(local);
  });

  it("warns for a local webhook URL while the API is the public one, and says what to do", () => {
    const warning = webhookReachabilityWarning("http://localhost:8080/hook", PUBLIC_API);
    expect(warning).toMatch(/--webhook-url http:\/\/localhost:8080 is not a public address/);
    expect(warning).toMatch(/drop --webhook-url and --listen to poll from the start/);
  });

  it("stays quiet for a public URL, for a local API (the simulator), and for URLs parsed elsewhere", () => {
    expect(webhookReachabilityWarning("https://hooks.example.com/fullenrich", PUBLIC_API)).toBeNull();
    expect(webhookReachabilityWarning("http://127.0.0.1:8080/", "http://127.0.0.1:4010/api/v2")).toBeNull();
    expect(webhookReachabilityWarning("not a url", PUBLIC_API)).toBeNull();
  });
});
