import { afterEach, describe, expect, it, vi } from "vitest";

import { configuredApi, loadConfiguredApi } from "../src/config";

describe("configuredApi", () => {
  it("reads the deployed API's URL, and null as the page's own origin", () => {
    expect(configuredApi({ api: "https://d111111abcdef8.cloudfront.net/v1/" })).toBe("https://d111111abcdef8.cloudfront.net/v1/");
    expect(configuredApi({ api: null })).toBeNull();
  });

  it("refuses what is not a config, saying what it expected", () => {
    expect(() => configuredApi([])).toThrow('expected {"api"');
    expect(() => configuredApi({})).toThrow('expected {"api"');
    expect(() => configuredApi({ api: 3 })).toThrow("not 3");
    expect(() => configuredApi({ api: "example.com" })).toThrow('not "example.com"');
    expect(() => configuredApi({ api: "javascript:alert(1)" })).toThrow("http(s) URL");
  });
});

describe("loadConfiguredApi", () => {
  afterEach(() => vi.unstubAllGlobals());

  function serve(response: Response | Error) {
    const fetched = vi.fn(async () => {
      if (response instanceof Error) throw response;
      return response;
    });
    vi.stubGlobal("fetch", fetched);
    return fetched;
  }

  it("fetches config.json beside the page, revalidated", async () => {
    const fetched = serve(new Response('{"api": "https://api.example/v1/"}'));
    expect(await loadConfiguredApi()).toBe("https://api.example/v1/");
    expect(fetched).toHaveBeenCalledWith("./config.json", { cache: "no-cache" });
  });

  it("falls back to the page's origin with a warning when the file is missing, broken or unreachable", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    for (const [response, said] of [
      [new Response("not found", { status: 404 }), "config.json: HTTP 404"],
      [new Response('{"api": 3}'), '"api" must be an http(s) URL'],
      [new Response("<!doctype html>"), "JSON"],
      [new TypeError("Failed to fetch"), "Failed to fetch"],
    ] as const) {
      serve(response);
      expect(await loadConfiguredApi()).toBeNull();
      expect(warn.mock.calls.at(-1)?.[0]).toContain(said);
    }
    warn.mockRestore();
  });
});
